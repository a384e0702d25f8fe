"""The ERP's documents over HTTP: the same handler as its topics."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from contracts import erp
from libs.events import dead_letters
from libs.events.envelope import Envelope, to_kafka
from libs.events.store import EventContext
from libs.service.auth import Principal
from libs.service.idempotency import idempotent
from libs.service.kit import Kit, KitDep
from libs.service.views import answer
from services.receivables import handlers
from services.receivables.api.base import (
    Erp,
    parts_of,
)
from services.receivables.queries import views as v
from services.receivables.reactions import ERP_CONSUMER

router = APIRouter()

# What posting a document answers besides 201 (applied).
DOCUMENT_ANSWERS: dict[int | str, dict[str, Any]] = {
    200: {"model": v.DocumentAnswer, "description": "this revision was applied before: nothing changed"},
    202: {"model": v.DocumentAnswer, "description": "the customer is not registered yet: parked, applied once it is"},
}

# -- the ERP over HTTP ----------------------------------------------------------------------------------


class Posted(BaseModel):
    document_id: str = Field(min_length=1, max_length=128, description="the ERP's id of the document")
    revision: int = Field(
        ge=1, le=2**31 - 1, description="1 for the first issue; a correction carries a higher revision"
    )


# Over HTTP a misspelt field is an error, where the topics' tolerant readers would skip it.
STRICT = ConfigDict(frozen=True, extra="forbid")


class PostedInvoice(erp.ErpInvoice, Posted):
    model_config = STRICT


class PostedPayment(erp.ErpPayment, Posted):
    model_config = STRICT


class PostedCreditNote(erp.ErpCreditNote, Posted):
    model_config = STRICT


async def _post(
    request: Request, kit: Kit, caller: Principal, posted: PostedInvoice | PostedPayment | PostedCreditNote
) -> Response:
    """One ERP document through the same handler as the ERP's topics. A document whose customer is not
    registered yet is parked (202) and applied by itself once profiles registers the customer."""
    async with idempotent(request, caller) as scope:
        if scope.replay:
            return scope.replay
        received = handlers.ErpDocumentReceived(posted, posted.document_id, posted.revision, EventContext.current())
        try:
            (applied,) = await handlers.receive_erp_documents(parts_of(kit), scope.conn, [received])
        except handlers.UnknownCustomer as unknown:
            letter = await _park(kit, scope.conn, posted, str(unknown))
            parked = v.DocumentAnswer(
                document_id=posted.document_id,
                revision=posted.revision,
                status="parked",
                reason=str(unknown),
                dead_letter_id=letter,
            )
            return scope.keep(answer(parked, 202))
        done = v.DocumentAnswer(
            document_id=posted.document_id,
            revision=posted.revision,
            status="applied" if applied.events else "already applied",
            customer_id=applied.customer_id,
            applied=[type(e).__name__ for e in applied.events],
            account_version=applied.account_version,
        )
        return scope.keep(answer(done, 201 if applied.events else 200))


async def _park(kit: Kit, conn: Any, posted: PostedInvoice | PostedPayment | PostedCreditNote, reason: str) -> int:
    data = posted.model_dump(mode="json", exclude={"document_id", "revision"})
    context = EventContext.current()
    envelope = Envelope(
        id=uuid.uuid4(),
        source="erp",
        type=posted.event_type,
        time=kit.clock.now(),
        subject=posted.document_id,
        stream_version=posted.revision,
        schema_version=posted.schema_version,
        customer_id=posted.customer_erp_id,
        data=data,
        correlation_id=context.correlation_id,
    )
    return await dead_letters.park(
        conn,
        consumer=ERP_CONSUMER,
        topic=kit.settings.topic_name(erp.topic_of(posted)),
        record=to_kafka(envelope),
        event=(posted.event_type, posted.document_id, posted.revision),
        reason=reason,
    )


@router.post(
    "/erp/invoices",
    response_model=v.DocumentAnswer,
    summary="An ERP invoice (applied once per revision; send an Idempotency-Key)",
    status_code=201,
    responses=DOCUMENT_ANSWERS,
)
async def post_invoice(body: PostedInvoice, request: Request, kit: KitDep, caller: Erp) -> Response:
    """The ERP's invoice, as on the `erp.invoices` topic, with its document id and revision. A revision
    already applied changes nothing (200); a higher one corrects the invoice."""
    return await _post(request, kit, caller, body)


@router.post(
    "/erp/payments",
    response_model=v.DocumentAnswer,
    summary="An ERP payment, applied to invoices by cash application",
    status_code=201,
    responses=DOCUMENT_ANSWERS,
)
async def post_payment(body: PostedPayment, request: Request, kit: KitDep, caller: Erp) -> Response:
    """The ERP's payment, as on the `erp.payments` topic. A later revision with `reversed` set reverses it."""
    return await _post(request, kit, caller, body)


@router.post(
    "/erp/credit-notes",
    response_model=v.DocumentAnswer,
    summary="An ERP credit note",
    status_code=201,
    responses=DOCUMENT_ANSWERS,
)
async def post_credit_note(body: PostedCreditNote, request: Request, kit: KitDep, caller: Erp) -> Response:
    """The ERP's credit note, as on the `erp.credit_notes` topic: against one of the customer's invoices
    (its ERP document id), or on account."""
    return await _post(request, kit, caller, body)
