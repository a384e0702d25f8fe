"""The dev stack, started through the entry point `make dev` uses: every service ready,
then stopped and started again with the same data, and the read models agreeing with it."""

from __future__ import annotations

import re
import signal
import subprocess
from datetime import date
from pathlib import Path

import asyncpg
import httpx
import pytest

from tests.support.backbone import eventually
from tests.support.devstack import SERVICES, DevStack, free_base_port, with_password
from tools import erp_simulator

pytestmark = pytest.mark.system


async def _directory(server_url: str, service: str) -> list[tuple[str, str]]:
    conn = await asyncpg.connect(server_url.rsplit("/", 1)[0] + f"/credo_{service}")
    try:
        rows = await conn.fetch("SELECT customer_id, legal_name FROM read_model.customers ORDER BY 1")
    finally:
        await conn.close()
    return [(r["customer_id"], r["legal_name"]) for r in rows]


async def _customer_ids(server_url: str, erp_ids: list[str]) -> list[str]:
    """The credit files profiles opened for the ERP's customers, as the ledger's directory has them."""
    conn = await asyncpg.connect(server_url.rsplit("/", 1)[0] + "/credo_receivables")
    try:
        rows = await conn.fetch("SELECT customer_id FROM read_model.customers WHERE erp_id = ANY($1::text[])", erp_ids)
    finally:
        await conn.close()
    assert len(rows) == len(erp_ids)
    return [r["customer_id"] for r in rows]


async def _invoices(server_url: str, expected: int) -> bool:
    conn = await asyncpg.connect(server_url.rsplit("/", 1)[0] + "/credo_receivables")
    try:
        return bool(await conn.fetchval("SELECT count(*) = $1 FROM read_model.invoices", expected))
    finally:
        await conn.close()


async def _agree(server_url: str) -> bool:
    truth = await _directory(server_url, "profiles")
    return all([await _directory(server_url, s) == truth for s in SERVICES[1:]])


async def test_dev_stack_ready_within_a_minute_and_keeps_its_data(tmp_path: Path) -> None:
    stack = DevStack(tmp_path, free_base_port())
    try:
        ready = stack.wait_for(r"ready in ([\d.]+) s", within=60)
        assert float(ready.group(1)) < 60
        console = stack.wait_for(r"console +(http://\S+)/ ", within=5).group(1)  # the first address printed
        assert console == f"http://127.0.0.1:{stack.base_port}"
        async with httpx.AsyncClient(follow_redirects=True, timeout=10) as browser:
            sign_in = await browser.get(f"{console}/")  # to the development provider's page
            assert sign_in.status_code == 200
            assert "development sign-in" in sign_in.text, sign_in.text[:300]
        token = stack.wait_for(r"token \(admin, 8 h\): (\S+)", within=5).group(1)
        found = re.search(r"PostgreSQL (\S+) ", "".join(stack.output))
        assert found is not None
        server_url = with_password(found.group(1), tmp_path)
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(headers=headers, timeout=10) as http:
            for service in SERVICES:
                assert (await http.get(f"{stack.url(service)}/health/ready")).status_code == 200
            created = []
            for n, name in enumerate(("华东机械有限公司", "Nordic Pumps AB", "Atlas Freight Ltd")):
                response = await http.post(
                    f"{stack.url('profiles')}/customers",
                    json={"legal_name": name, "registration": {"scheme": "OTHER", "number": f"R-{n}", "country": "CN"}},
                )
                assert response.status_code == 201, response.text
                created.append(response.json())
            renamed = await http.patch(
                f"{stack.url('profiles')}/customers/{created[1]['customer_id']}",
                json={"legal_name": "Nordic Pumps Group AB"},
                headers={"If-Match": '"1"'},
            )
            assert renamed.status_code == 200
        await eventually(lambda: _agree(server_url), within=30, what="read models agree before the restart")
        before = await _directory(server_url, "profiles")
        stack.stop()

        stack = DevStack(tmp_path, stack.base_port, demo="5,60")  # and the ERP simulator's demo book
        server_url = with_password(stack.wait_for(r"PostgreSQL (\S+) ", within=60).group(1), tmp_path)
        stack.wait_for(r"ready in ([\d.]+) s", within=60)
        stack.wait_for(r"demo: sent", within=120)
        book = erp_simulator.generate(7, 5, 60, start=date.fromisoformat((tmp_path / "demo_start").read_text()))
        invoices = {d.document_id for d in book.documents if d.topic == erp_simulator.INVOICES}
        await eventually(lambda: _invoices(server_url, len(invoices)), within=60, what="the demo book in the ledger")

        ids = await _customer_ids(server_url, [c.erp_id for c in book.customers])

        async def graded() -> bool:  # the ERP's book, through receivables and scoring, into the credit files
            async with httpx.AsyncClient(headers=headers, timeout=10) as http:
                files = [await http.get(f"{stack.url('profiles')}/customers/{i}") for i in ids]
            return all(f.status_code == 200 and f.json()["credit"]["grade"] in set("ABCDE") for f in files)

        await eventually(graded, within=60, what="the demo customers graded in their credit files")
        async with httpx.AsyncClient(headers=headers, timeout=10) as http:
            for customer in created:
                again = await http.get(f"{stack.url('profiles')}/customers/{customer['customer_id']}")
                assert again.status_code == 200
            assert again.json()["legal_name"] == created[2]["legal_name"]
            assert (await http.get(f"{stack.url('profiles')}/customers/{created[1]['customer_id']}")).json()[
                "legal_name"
            ] == "Nordic Pumps Group AB"
            later = await http.post(
                f"{stack.url('profiles')}/customers",
                json={
                    "legal_name": "After Restart Oy",
                    "registration": {"scheme": "OTHER", "number": "R-9", "country": "FI"},
                },
            )
            assert later.status_code == 201
        await eventually(lambda: _agree(server_url), within=30, what="read models agree after the restart")
        demo_customers = set(ids)
        after = [c for c in await _directory(server_url, "receivables") if c[0] not in demo_customers]
        assert after == sorted([*before, (later.json()["customer_id"], "After Restart Oy")])
        stack.stop()
    finally:
        if stack.process.poll() is None:  # the test failed midway: stop it as Ctrl-C would
            stack.process.send_signal(signal.SIGINT)
            try:
                stack.process.wait(60)
            except subprocess.TimeoutExpired:
                stack.process.kill()
