"""HTTP API of profiles: parse, authorise, run the command, answer from the read model."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

import pycountry
from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator

from libs.events.contracts import DomainEvent
from libs.events.store import execute
from libs.service.auth import Principal, require
from libs.service.errors import Problem
from libs.service.etag import check_version, etag, if_match_version
from libs.service.idempotency import idempotent
from libs.service.kit import KitDep
from services.profiles import domain

router = APIRouter(tags=["customers"])


class NewCustomer(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    legal_name: str = Field(min_length=1, max_length=200)
    registration_number: str = Field(min_length=1, max_length=64)
    country: str = Field(min_length=2, max_length=2, description="ISO 3166-1 alpha-2")

    @field_validator("country")
    @classmethod
    def _iso_country(cls, value: str) -> str:
        if pycountry.countries.get(alpha_2=value.upper()) is None:
            raise ValueError(f"{value!r} is not an ISO 3166-1 alpha-2 country code")
        return value.upper()


class Customer(BaseModel):
    customer_id: str
    legal_name: str
    registration_number: str
    country: str
    version: int
    registered_at: datetime


@router.post(
    "/customers",
    status_code=201,
    response_model=Customer,
    summary="Open a customer's credit file (send an Idempotency-Key to retry safely)",
)
async def register_customer(
    body: NewCustomer,
    request: Request,
    kit: KitDep,
    caller: Annotated[Principal, Depends(require("credit_analyst", "credit_manager"))],
) -> Response:
    async with idempotent(request, caller) as scope:
        if scope.replay:
            return scope.replay
        customer_id = f"C-{uuid.uuid4().hex[:12].upper()}"
        command = domain.RegisterCustomer(customer_id, body.legal_name, body.registration_number, body.country)
        try:
            [recorded] = await execute(
                kit.store,
                domain.stream_id(customer_id),
                customer_id=customer_id,
                initial=domain.CreditFile(),
                evolve=domain.evolve,
                decide=lambda state: domain.register(state, command),
                conn=scope.conn,
            )
        except domain.Refused as refused:
            raise Problem(409, "Refused", str(refused), kind="refused") from None
        customer = Customer(
            customer_id=customer_id,
            legal_name=body.legal_name,
            registration_number=body.registration_number,
            country=body.country,
            version=recorded.version,
            registered_at=recorded.occurred_at,
        )
        return scope.keep(
            JSONResponse(
                customer.model_dump(mode="json"),
                status_code=201,
                headers={"ETag": etag(recorded.version), "Location": f"/customers/{customer_id}"},
            )
        )


@router.get("/customers/{customer_id}", response_model=Customer, summary="A customer's credit file")
async def get_customer(
    customer_id: str,
    kit: KitDep,
    response: Response,
    _: Annotated[
        Principal, Depends(require("viewer", "credit_analyst", "collector", "credit_manager", "finance_director"))
    ],
) -> Customer:
    row = await kit.pool.fetchrow("SELECT * FROM customers WHERE customer_id = $1", customer_id)
    if row is None:
        raise Problem(404, "Not found", f"no customer {customer_id}")
    response.headers["ETag"] = etag(row["version"])
    return Customer(**dict(row))


class ProfileChange(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    legal_name: str = Field(min_length=1, max_length=200)


@router.patch(
    "/customers/{customer_id}",
    response_model=Customer,
    summary='Change a customer\'s profile; send If-Match with the ETag you read, e.g. "1"',
)
async def update_customer(
    customer_id: str,
    body: ProfileChange,
    request: Request,
    kit: KitDep,
    _: Annotated[Principal, Depends(require("credit_analyst", "credit_manager"))],
) -> Response:
    expected = if_match_version(request, required=True)
    command = domain.UpdateProfile(customer_id, body.legal_name)

    def decide(state: domain.CreditFile) -> list[DomainEvent]:
        return domain.update(state, command)

    async with kit.store.transaction() as conn:
        current = await kit.store.current_version(domain.stream_id(customer_id), conn)
        if current == 0:
            raise Problem(404, "Not found", f"no customer {customer_id}")
        check_version(expected, current)
        history = await kit.store.load(domain.stream_id(customer_id), conn)
        state = domain.CreditFile()
        for recorded in history:
            state = domain.evolve(state, recorded.event)
        try:
            new_events = decide(state)
        except domain.Refused as refused:
            raise Problem(409, "Refused", str(refused), kind="refused") from None
        # The store's expected-version check answers 409 if someone changed it meanwhile.
        await kit.store.append(domain.stream_id(customer_id), current, new_events, customer_id=customer_id, conn=conn)
    row = await kit.pool.fetchrow("SELECT * FROM customers WHERE customer_id = $1", customer_id)
    assert row is not None
    return JSONResponse(Customer(**dict(row)).model_dump(mode="json"), headers={"ETag": etag(row["version"])})
