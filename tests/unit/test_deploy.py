"""docker-compose.yml and the Dockerfile, checked offline."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from ruamel.yaml import YAML

from contracts import catalogue
from tools.dev import SERVICES

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
        worker = compose["services"][f"{name}-worker"]  # the same database, the background work
        assert (service["environment"]["CREDO_ROLE"], worker["environment"]["CREDO_ROLE"]) == ("api", "worker")
        assert worker["environment"]["CREDO_DATABASE_URL"] == service["environment"]["CREDO_DATABASE_URL"]
        assert worker["command"] == service["command"]
        assert "ports" not in worker
    console = compose["services"]["console"]
    assert console["command"] == ["services.console"]
    assert console["environment"]["CREDO_CONSOLE_SCORING_URL"] == "http://scoring:8000"
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
    assert "npm ci --omit=dev" in dockerfile  # the console's front-end packages, from the lock file
    assert "/health/live" in dockerfile
    assert "--no-dev" in dockerfile, "the image must not carry the test and embedded-server dependencies"
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".venv", ".git", "tests", ".dev"} <= set(ignored)


K8S = ROOT / "deploy" / "k8s"
KUBERNETES_VALIDATE = Path(sys.executable).parent / "kubernetes-validate"


def _validate_k8s(*paths: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(KUBERNETES_VALIDATE), "--strict", "--quiet", *map(str, paths)], capture_output=True, text=True
    )


def test_kubernetes_manifests_are_valid_and_run_every_service(tmp_path: Path) -> None:
    kustomization = YAML(typ="safe").load((K8S / "kustomization.yaml").read_text())
    listed = [K8S / name for name in kustomization["resources"]]
    assert sorted(listed) == sorted(p for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")
    checked = _validate_k8s(*listed)
    assert checked.returncode == 0, checked.stdout + checked.stderr

    documents = [d for p in listed for d in YAML(typ="safe").load_all(p.read_text()) if d]
    kinds = {(d["kind"], d["metadata"]["name"]) for d in documents}
    for name in SERVICES:  # an API Deployment behind the Service, scaled; a worker Deployment beside it
        (service,) = [d for d in documents if d["kind"] == "Service" and d["metadata"]["name"] == name]
        assert service["spec"]["selector"] == {"app.kubernetes.io/name": name, "app.kubernetes.io/component": "api"}
        (scaler,) = [d for d in documents if d["kind"] == "HorizontalPodAutoscaler" and d["metadata"]["name"] == name]
        assert scaler["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": name}
        for deployed, role in ((name, "api"), (f"{name}-worker", "worker")):
            (deployment,) = [d for d in documents if d["kind"] == "Deployment" and d["metadata"]["name"] == deployed]
            pod = deployment["spec"]["template"]["spec"]
            labels = deployment["spec"]["template"]["metadata"]["labels"]
            assert labels["app.kubernetes.io/component"] == role
            (container,) = pod["containers"]
            assert container["args"] == [f"services.{name}"]
            assert {"name": "CREDO_ROLE", "value": role} in container["env"]
            assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready"
            assert container["livenessProbe"]["httpGet"]["path"] == "/health/live"
            assert container["resources"]["requests"]["cpu"]  # what the autoscaler measures against
            assert pod["securityContext"]["runAsNonRoot"] is True
            secrets = {e["valueFrom"]["secretKeyRef"]["key"] for e in container["env"] if "valueFrom" in e}
            assert f"database-url-{name}" in secrets
    (console,) = [d for d in documents if d["kind"] == "Deployment" and d["metadata"]["name"] == "console"]
    (container,) = console["spec"]["template"]["spec"]["containers"]
    assert container["args"] == ["services.console"]  # no database: its one secret is its client's
    assert {e["valueFrom"]["secretKeyRef"]["key"] for e in container["env"]} == {"console-client-secret"}
    assert ("Service", "console") in kinds

    broken = tmp_path / "broken.yaml"
    broken.write_text("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec: {replicas: two}\n")
    assert _validate_k8s(broken).returncode != 0


def test_compose_keeps_its_secrets_out_of_the_file_and_its_ports_on_the_loopback() -> None:
    compose = YAML(typ="safe").load((ROOT / "docker-compose.yml").read_text())
    password = compose["services"]["postgres"]["environment"]["POSTGRES_PASSWORD"]
    assert password.startswith("${POSTGRES_PASSWORD:?"), "the password comes from the environment, or nothing starts"
    for name in SERVICES:
        service = compose["services"][name]
        assert "${POSTGRES_PASSWORD}@" in service["environment"]["CREDO_DATABASE_URL"]
        assert all(port.startswith("${CREDO_BIND:-127.0.0.1}:") for port in service["ports"])
