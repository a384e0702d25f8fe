"""Schemathesis over every service's OpenAPI document, against the service running on a real
PostgreSQL and broker: generated requests, valid and invalid, NUL bytes included, with the
admin's token and with the ERP's key. No answer may be a server error, and every answer must
have a status, a content type and a body its operation declares.

A fixed seed and a bound on examples per operation keep it reproducible and within the CI budget;
``CREDO_FUZZ_EXAMPLES`` raises the bound.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import pytest

from libs.infra.provision import BrokerHandle
from tests.conftest import NewDatabase
from tests.integration.test_authorization import SPECS, running
from tests.support.serving import ERP_KEY, token

SEED = 20261201
CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"
# Live streams answer for as long as they are read: no request to them ends, so none is generated.
# (Their bad input is tested where they are: test_alert_delivery.)
ENDLESS = ("/alerts/stream",)


async def schemathesis(schema: Path, url: str, header: str, examples: int, report: Path) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).with_name("st")), "run", str(schema), "--url", url,
        "--header", header, "--checks", CHECKS, "--seed", str(SEED), "--max-examples", str(examples),
        "--phases", "examples,coverage,fuzzing", "--generation-allow-x00", "true",
        "--generation-database", "none", "--workers", "1", "--request-timeout", "30",
        "--report", "junit", "--report-junit-path", str(report), "--no-color", "--output-truncate", "true",
        *(arg for path in ENDLESS for arg in ("--exclude-path", path)),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        cwd=report.parent,  # where it keeps its cache of crashes: not the repository
    )  # fmt: skip
    output, _ = await process.communicate()
    assert process.returncode is not None
    return process.returncode, output.decode(errors="replace")


@pytest.mark.parametrize("service", sorted(SPECS))
async def test_no_generated_request_breaks_a_service_or_its_document(
    service: str, new_database: NewDatabase, broker: BrokerHandle, tmp_path: Path
) -> None:
    examples = int(os.environ.get("CREDO_FUZZ_EXAMPLES", "12"))
    async with running(service, new_database, broker) as (http, app):
        schema = tmp_path / "openapi.json"
        schema.write_text(json.dumps(app.openapi()))
        url = str(http.base_url).rstrip("/")
        found = []
        for caller, header, bound in (
            ("admin", f"Authorization: Bearer {token('admin', subject='fuzzer')}", examples),
            ("erp", f"X-API-Key: {ERP_KEY}", max(2, examples // 4)),
        ):
            code, output = await schemathesis(schema, url, header, bound, tmp_path / f"{caller}.xml")
            if code != 0:
                found.append(f"--- as {caller}: exit {code}\n{output[-6000:]}")
        assert found == [], "\n".join(found)
