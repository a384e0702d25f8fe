"""docker-compose.yml and the Dockerfile, checked offline."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from ruamel.yaml import YAML

from libs.events import catalogue
from libs.infra.dev import SERVICES

ROOT = Path(__file__).resolve().parents[2]
CHECK_JSONSCHEMA = Path(sys.executable).parent / "check-jsonschema"


def _validate(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CHECK_JSONSCHEMA), "--builtin-schema", "vendor.compose-spec", str(path)], capture_output=True, text=True
    )


def test_compose_file_follows_the_compose_specification(tmp_path: Path) -> None:
    assert _validate(ROOT / "docker-compose.yml").returncode == 0
    broken = tmp_path / "docker-compose.yml"
    broken.write_text("services:\n  profiles:\n    image: [credo]\n    ports: 8101\n")
    assert _validate(broken).returncode != 0


def test_compose_runs_every_service_with_its_own_database_and_topics() -> None:
    compose = YAML(typ="safe").load((ROOT / "docker-compose.yml").read_text())
    init_sql = (ROOT / "deploy" / "postgres" / "init.sql").read_text()
    topics_job = " ".join(compose["services"]["kafka-topics"]["command"])
    for name in SERVICES:
        service = compose["services"][name]
        assert service["build"] == "."
        assert service["command"] == [f"services.{name}"]
        assert service["environment"]["CREDO_DATABASE_URL"].endswith(f"/credo_{name}")
        assert service["depends_on"]["kafka-topics"]["condition"] == "service_completed_successfully"
        assert f"CREATE DATABASE credo_{name};" in init_sql
        assert f"{name}.events" in topics_job
        assert f"{name}.dlq" in topics_job
    for contract in catalogue.topics():  # every published topic, the ERP's included
        assert contract.topic in topics_job
    assert "retention.ms=-1" in topics_job
    assert compose["services"]["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"


def test_the_image_is_small_runs_as_a_user_and_checks_its_health() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim\b", dockerfile, re.MULTILINE)
    users = re.findall(r"^USER (\S+)", dockerfile, re.MULTILINE)
    assert users, "the image must name a user"
    assert users[-1] not in ("root", "0")
    assert "HEALTHCHECK" in dockerfile
    assert "fonts-wqy-microhei" in dockerfile  # statements' PDFs embed it
    assert "/health/live" in dockerfile
    assert "--no-dev" in dockerfile, "the image must not carry the test and embedded-server dependencies"
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".venv", ".git", "tests", ".dev"} <= set(ignored)
