"""profiles' use cases on the in-memory event store: what each records, and what each refuses."""

from __future__ import annotations

from datetime import date

import pytest

from contracts.erp import CustomerMaster
from contracts.profiles import Registration
from libs.events.refusals import Duplicate, NotFound, StaleVersion
from libs.events.store import EventContext
from services.profiles import domain, handlers
from services.profiles.adapters import BureauUnavailable
from tests.support.memory import profiles_parts

USCC = "91350100M000100Y43"


def opening(customer_id: str, number: str = USCC, name: str = "福州闽江贸易有限公司") -> domain.RegisterCustomer:
    registration = Registration(scheme="CN-USCC", number=number, country="CN")
    return domain.RegisterCustomer(customer_id, domain.Profile(name), registration)


async def test_a_registration_already_on_file_is_a_duplicate_naming_its_holder() -> None:
    parts = profiles_parts()
    async with parts.store.transaction() as tx:
        ran = await handlers.register_customer(parts, tx, opening("C-1"))
    assert [type(e).__name__ for e in ran.events] == ["CustomerRegistered"]
    assert ran.after.state.profile.legal_name == "福州闽江贸易有限公司"
    with pytest.raises(Duplicate, match="already registered to customer C-1") as duplicate:
        async with parts.store.transaction() as tx:
            await handlers.register_customer(parts, tx, opening("C-2", number=USCC.lower()))
    assert duplicate.value.extra == {"customer_id": "C-1"}
    assert await parts.store.current_version(domain.stream_id("C-2")) == 0


async def test_a_change_names_the_version_it_expects_and_a_missing_file_is_missing() -> None:
    parts = profiles_parts()
    async with parts.store.transaction() as tx:
        await handlers.register_customer(parts, tx, opening("C-1"))
    with pytest.raises(StaleVersion, match="at version 1, not 7"):
        async with parts.store.transaction() as tx:
            await handlers.change_profile(parts, tx, handlers.ChangeProfile("C-1", {"industry": "钢材"}, 7))
    with pytest.raises(NotFound, match="no customer C-9"):
        async with parts.store.transaction() as tx:
            await handlers.change_profile(parts, tx, handlers.ChangeProfile("C-9", {"industry": "钢材"}, 1))
    async with parts.store.transaction() as tx:
        ran = await handlers.change_profile(parts, tx, handlers.ChangeProfile("C-1", {"industry": "钢材"}, 1))
    assert (ran.after.version, ran.after.state.profile.industry) == (2, "钢材")
    assert ran.after.state.profile.legal_name == "福州闽江贸易有限公司"  # what the patch leaves out is kept


async def test_the_erp_customer_master_opens_links_and_updates_files() -> None:
    parts = profiles_parts()
    context = EventContext(actor="erp")
    async with parts.store.transaction() as tx:  # a file opened by hand, before the ERP knew the customer
        await handlers.register_customer(parts, tx, opening("C-HAND"))

    def master(erp_id: str, name: str, number: str = USCC) -> handlers.ApplyCustomerMaster:
        registration = Registration(scheme="CN-USCC", number=number, country="CN")
        return handlers.ApplyCustomerMaster(
            CustomerMaster(erp_id=erp_id, legal_name=name, registration=registration), context
        )

    async with parts.store.transaction() as tx:
        linked = await handlers.apply_customer_master(parts, tx, master("K-1", "闽江贸易"))
        fresh = await handlers.apply_customer_master(parts, tx, master("K-2", "新客户", number="91350100M00020001J"))
    assert (linked.after.state.customer_id, linked.after.state.profile.erp_id) == ("C-HAND", "K-1")
    assert fresh.after.state.customer_id == domain.customer_id_for("K-2")
    assert [type(e).__name__ for e in fresh.events] == ["CustomerRegistered"]
    assert fresh.recorded[0].actor == "erp"
    with pytest.raises(domain.Refused, match="belongs to customer C-HAND, which is ERP customer K-1, not K-3"):
        async with parts.store.transaction() as tx:
            await handlers.apply_customer_master(parts, tx, master("K-3", "冒名"))
    async with parts.store.transaction() as tx:
        again = await handlers.apply_customer_master(parts, tx, master("K-1", "闽江贸易"))
    assert again.events == []  # the same record again changes nothing


async def test_a_review_falls_due_once_its_date_has_passed() -> None:
    parts = profiles_parts(today=date(2026, 11, 23))
    async with parts.store.transaction() as tx:
        await handlers.register_customer(parts, tx, opening("C-1"))
        await handlers.set_review_date(parts, tx, handlers.SetReviewDate("C-1", date(2026, 11, 30), None))
    for day, raised in ((date(2026, 11, 30), 0), (date(2026, 12, 1), 1), (date(2026, 12, 2), 0)):
        async with parts.store.transaction() as tx:
            ran = await handlers.raise_review_due(parts, tx, "C-1", day)
        assert len(ran.events) == raised, day


async def test_a_pull_without_a_configured_bureau_says_so() -> None:
    parts = profiles_parts()
    async with parts.store.transaction() as tx:
        await handlers.register_customer(parts, tx, opening("C-1"))
    with pytest.raises(BureauUnavailable, match="no bureau is configured"):
        async with parts.store.transaction() as tx:
            await handlers.pull_bureau_report(parts, tx, handlers.PullBureauReport("C-1", "B-1"))
    with pytest.raises(NotFound, match="no customer C-2"):
        async with parts.store.transaction() as tx:
            await handlers.pull_bureau_report(parts, tx, handlers.PullBureauReport("C-2", "B-2"))
