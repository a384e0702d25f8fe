"""Chaos with a data check: ``make dev`` loads the ERP simulator's book through the ERP's topics
while service processes are killed with SIGKILL at random moments, and PostgreSQL once. Its
supervisor brings each back; when the stack settles, every customer's account is what the
simulator expects, no ERP document was applied twice and nothing went to a dead letter.

``CREDO_CHAOS_BOOK`` (customers,invoices; default 40,2500) and ``CREDO_CHAOS_KILLS`` (default
5) size it; ``make chaos`` runs a large one.
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import signal
from datetime import date
from decimal import Decimal
from pathlib import Path

import asyncpg
import pytest

from tests.support.backbone import eventually
from tests.support.devstack import DevStack, free_base_port, with_password
from tools import erp_simulator

pytestmark = pytest.mark.system

VICTIMS = ("receivables", "receivables", "profiles", "scoring")


def _size() -> tuple[int, int, int]:
    customers, invoices = (int(n) for n in os.environ.get("CREDO_CHAOS_BOOK", "40,2500").split(","))
    return customers, invoices, int(os.environ.get("CREDO_CHAOS_KILLS", "5"))


def _child_pid(stack: DevStack, marker: str) -> int | None:
    """The supervisor's child whose command line holds ``marker``."""
    for task in Path(f"/proc/{stack.process.pid}/task").glob("*"):
        for child in (task / "children").read_text().split():
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            if marker in cmdline:
                return int(child)
    return None


async def _accounts(url: str) -> dict[str, dict[str, Decimal]]:
    """Every customer's net position per currency, by ERP id, from the ledger's read model."""
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            "SELECT c.erp_id, m.currency, sum(m.amount) AS net FROM read_model.customers c"
            " JOIN read_model.movements m ON m.customer_id = c.customer_id GROUP BY 1, 2"
        )
    finally:
        await conn.close()
    found: dict[str, dict[str, Decimal]] = {}
    for row in rows:
        if row["net"] != 0:
            found.setdefault(row["erp_id"], {})[row["currency"]] = row["net"]
    return found


def _expected(book: erp_simulator.Book) -> dict[str, dict[str, Decimal]]:
    """Every customer's net position per currency as the simulator has it, zeros left out."""
    positions = {c.erp_id: {k: v for k, v in book.expected_of(c.erp_id).items() if v} for c in book.customers}
    return {erp_id: position for erp_id, position in positions.items() if position}


async def _count(url: str, query: str) -> int:
    conn = await asyncpg.connect(url)
    try:
        return int(await conn.fetchval(query))
    finally:
        await conn.close()


async def test_a_book_loaded_through_kills_of_services_and_postgresql_comes_out_exact(tmp_path: Path) -> None:
    customers, invoices, kills = _size()
    rng = random.Random(20261201)
    stack = DevStack(tmp_path, free_base_port(), demo=f"{customers},{invoices}")
    try:
        server = with_password(stack.wait_for(r"PostgreSQL (\S+) ", within=120).group(1), tmp_path)
        stack.wait_for(r"ready in", within=300)
        sending = stack.wait_for(r"demo: sending ([\d,]+) ERP documents", within=180)
        documents = int(sending.group(1).replace(",", ""))
        killed: list[str] = []
        postgres_at = rng.randrange(kills)
        for n in range(kills):
            await asyncio.sleep(rng.uniform(0.5, 2.5))
            if n == postgres_at:
                postmaster = int((tmp_path / "postgres" / "postmaster.pid").read_text().split()[0])
                os.kill(postmaster, signal.SIGKILL)
                killed.append("postgresql")
                stack.wait_for(r"PostgreSQL is back", within=120)
                continue
            victim = rng.choice(VICTIMS)
            pid = _child_pid(stack, f"-m services.{victim}")
            while pid is None:  # still being restarted after its last kill
                await asyncio.sleep(0.2)
                pid = _child_pid(stack, f"-m services.{victim}")
            os.kill(pid, signal.SIGKILL)
            killed.append(victim)
        book = erp_simulator.generate(
            7, customers, invoices, start=date.fromisoformat((tmp_path / "demo_start").read_text())
        )
        ledger = server.rsplit("/", 1)[0] + "/credo_receivables"
        expected = _expected(book)

        async def settled() -> bool:
            return await _accounts(ledger) == expected

        await eventually(settled, within=600, what="every account as the simulator expects")
        accounts = await _accounts(ledger)
        mismatched = sorted(erp_id for erp_id in expected if accounts.get(erp_id) != expected[erp_id])
        invoice_ids = {d.document_id for d in book.documents if d.topic == erp_simulator.INVOICES}
        issued = await _count(ledger, "SELECT count(*) FROM events WHERE event_type = 'receivables.InvoiceIssued'")
        twice = await _count(
            ledger,
            "SELECT count(*) FROM (SELECT data->>'invoice_id' FROM events"
            " WHERE event_type = 'receivables.InvoiceIssued' GROUP BY 1 HAVING count(*) > 1) AS doubled",
        )
        dead = 0
        for service in ("profiles", "receivables", "scoring"):
            dead += await _count(server.rsplit("/", 1)[0] + f"/credo_{service}", "SELECT count(*) FROM dead_letters")
        restarts = len(re.findall(r"exited with", stack.printed()))
        print(
            f"\nchaos: 1 trial, {documents:,} documents, kills {killed}, {restarts} restarts seen, "
            f"{len(mismatched)} accounts mismatched, {twice} invoices applied twice, {dead} dead letters"
        )
        assert mismatched == []
        assert (issued, twice, dead) == (len(invoice_ids), 0, 0)
        assert len(killed) == kills
        assert restarts >= sum(victim != "postgresql" for victim in killed)  # each killed service came back
        stack.stop()
    finally:
        if stack.process.poll() is None:
            stack.process.send_signal(signal.SIGINT)
            stack.process.wait(60)


async def test_a_broker_that_dies_comes_back_and_the_demo_book_is_sent_again(tmp_path: Path) -> None:
    stack = DevStack(tmp_path, free_base_port(), demo="5,60")
    try:
        server = with_password(stack.wait_for(r"PostgreSQL (\S+) ", within=120).group(1), tmp_path)
        stack.wait_for(r"demo: sent", within=300)
        ledger = server.rsplit("/", 1)[0] + "/credo_receivables"
        book = erp_simulator.generate(7, 5, 60, start=date.fromisoformat((tmp_path / "demo_start").read_text()))
        expected = _expected(book)

        async def settled() -> bool:
            return await _accounts(ledger) == expected

        await eventually(settled, within=120, what="the demo book in the ledger")
        broker = _child_pid(stack, "tansu")
        assert broker is not None
        os.kill(broker, signal.SIGKILL)
        stack.wait_for(r"restarting it empty", within=30)
        stack.wait_for(r"re-sent; each revision is applied once", within=300)
        await eventually(settled, within=120, what="the ledger unchanged after the book came again")
        issued = await _count(ledger, "SELECT count(*) FROM events WHERE event_type = 'receivables.InvoiceIssued'")
        assert issued == len({d.document_id for d in book.documents if d.topic == erp_simulator.INVOICES})
        stack.stop()
    finally:
        if stack.process.poll() is None:
            stack.process.send_signal(signal.SIGINT)
            stack.process.wait(60)
