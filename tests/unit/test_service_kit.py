"""Settings, tokens, preconditions, process roles and topics read in step of the service kit, without I/O."""

from __future__ import annotations

import asyncio
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response

from libs.events.consumer.in_step import held_back
from libs.events.refusals import StaleVersion, check_version
from libs.service.auth import Authenticator, mint_token
from libs.service.errors import Problem
from libs.service.etag import etag, if_match_version
from libs.service.hot import HotRoute
from libs.service.kit import Job, Serving, jobs_of
from libs.service.settings import ServiceSettings

SECRET = "a-development-secret-of-enough-length!"


def settings(**values: object) -> ServiceSettings:
    base: dict[str, object] = {"service": "profiles", "database_url": "postgresql://x/y", "jwt_secret": SECRET}
    return ServiceSettings(**{**base, **values})  # type: ignore[arg-type]


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CREDO_DATABASE_URL", "postgresql://db/credo_profiles")
    monkeypatch.setenv("CREDO_JWT_SECRET", SECRET)
    monkeypatch.setenv("CREDO_PORT", "9001")
    loaded = ServiceSettings(service="profiles")
    assert (loaded.database_url, loaded.port, loaded.topic) == (
        "postgresql://db/credo_profiles",
        9001,
        "profiles.events",
    )


def test_settings_refuse_a_weak_or_missing_signing_key() -> None:
    with pytest.raises(ValidationError, match="at least 32 characters"):
        settings(jwt_secret="short")
    with pytest.raises(ValidationError, match="CREDO_JWT_PUBLIC_KEY"):
        settings(jwt_algorithm="RS256")


def test_api_keys_name_their_client_and_roles() -> None:
    table = settings(api_keys="erp:k-123:credit_analyst,collector; bi:k-456:viewer").api_key_table()
    assert table == {"k-123": ("erp", ("credit_analyst", "collector")), "k-456": ("bi", ("viewer",))}
    with pytest.raises(ValueError, match="unknown roles cashier"):
        settings(api_keys="erp:k:cashier").api_key_table()
    with pytest.raises(ValueError, match="is not name:key:role"):
        settings(api_keys="erp:k").api_key_table()


def test_hs256_tokens() -> None:
    auth = Authenticator(settings())
    caller = auth.from_token(mint_token(SECRET, "li.wei", ["credit_analyst", "not-a-role"]))
    assert (caller.subject, caller.roles, caller.kind) == ("li.wei", frozenset({"credit_analyst"}), "user")
    assert caller.may("credit_analyst")
    assert not caller.may("finance_director")
    for bad, why in [
        (mint_token(SECRET, "x", ["admin"], hours=-1), "expired"),
        (mint_token("another-secret-of-enough-length-123", "x", ["admin"]), "Signature verification failed"),
        (mint_token(SECRET, "x", ["admin"], audience="someone-else"), "Audience"),
    ]:
        with pytest.raises(Problem, match=why) as refused:
            auth.from_token(bad)
        assert refused.value.status == 401


def test_rs256_tokens() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    auth = Authenticator(settings(jwt_algorithm="RS256", jwt_public_key=public, jwt_secret=None))
    now = int(time.time())
    claims = {"sub": "wang.fang", "roles": ["credit_manager"], "iss": "credo", "aud": "credo", "exp": now + 60}
    assert auth.from_token(jwt.encode(claims, key, algorithm="RS256")).roles == {"credit_manager"}
    with pytest.raises(Problem, match="not valid"):  # an HS256 token signed with the public key
        auth.from_token(jwt.encode(claims, "x" * 40, algorithm="HS256"))


def _request(if_match: str | None) -> Request:
    headers = [(b"if-match", if_match.encode())] if if_match is not None else []
    return Request({"type": "http", "method": "PATCH", "path": "/", "headers": headers})


def test_if_match_carries_the_stream_version() -> None:
    assert etag(7) == '"7"'
    assert if_match_version(_request('"7"')) == 7
    assert if_match_version(_request('W/"7"')) == 7
    assert if_match_version(_request("*")) is None
    assert if_match_version(_request(None)) is None
    with pytest.raises(Problem) as required:
        if_match_version(_request(None), required=True)
    assert required.value.status == 428
    with pytest.raises(Problem) as invalid:
        if_match_version(_request("seven"))
    assert invalid.value.status == 400
    check_version(7, 7)
    with pytest.raises(StaleVersion) as stale:  # answered 412 with the current version and its ETag
        check_version(6, 7)
    assert (stale.value.expected, stale.value.current) == (6, 7)


def test_answers_render_decimals_in_fixed_point_and_dates_in_iso() -> None:
    from datetime import UTC, date, datetime
    from decimal import Decimal

    from libs.service.rendering import jsonable

    assert jsonable(
        {"limit": Decimal("8.0E+5"), "on": date(2026, 11, 23), "at": [datetime(2026, 11, 23, 9, 0, tzinfo=UTC)], "n": 3}
    ) == {"limit": "800000", "on": "2026-11-23", "at": ["2026-11-23T09:00:00+00:00"], "n": 3}


async def _relay(stop: asyncio.Event) -> None:
    await stop.wait()


async def _deliverer(stop: asyncio.Event) -> None:
    await stop.wait()


async def _hub(stop: asyncio.Event) -> None:
    await stop.wait()


def test_each_process_role_runs_its_own_part() -> None:
    background: list[Job] = [_relay]
    reactors: list[Job | Serving] = [_deliverer, Serving(_hub)]
    assert jobs_of("api", background, reactors) == [_hub]  # only what the API's routes read from
    assert jobs_of("worker", background, reactors) == [_relay, _deliverer, _hub]
    assert jobs_of("all", background, reactors) == [_relay, _deliverer, _hub]
    with pytest.raises(ValidationError, match="role"):
        settings(role="relay")


async def _answer(request: Request) -> Response:
    return Response()


def test_a_hot_route_matches_its_template_and_leaves_queries_to_fastapi_when_plain() -> None:
    route = HotRoute("GET", "/customers/{customer_id}", _answer, plain=True)

    def scope(path: str, query: bytes = b"", method: str = "GET") -> dict[str, object]:
        return {"type": "http", "method": method, "path": path, "query_string": query}

    assert route.match(scope("/customers/C-1")) == {"customer_id": "C-1"}
    assert route.match(scope("/customers/C-1", b"as_of=2026-01-01")) is None  # FastAPI's route answers it
    assert route.match(scope("/customers/C-1/timeline")) is None
    assert route.match(scope("/customers/")) is None
    assert route.match(scope("/customers/C-1", method="PATCH")) is None
    assert HotRoute("POST", "/credit-checks", _answer).match(scope("/credit-checks", b"x=1", "POST")) == {}


def test_topics_read_in_step_hold_back_the_partitions_that_run_ahead_in_time() -> None:
    sent = {"invoices": 1_000, "payments": 1_500, "notes": 1_150}
    # Payments run 500 ms ahead of the invoices, which still have records waiting: they wait.
    assert held_back(sent, {"invoices": 40, "payments": 10, "notes": 0}, set()) == {"payments"}
    # Once waiting, a partition waits until the slowest reaches it, not only the window.
    sent["invoices"] = 1_400
    assert held_back(sent, {"invoices": 40, "payments": 10, "notes": 0}, {"payments"}) == {"payments"}
    sent["invoices"] = 1_500
    assert held_back(sent, {"invoices": 40, "payments": 10, "notes": 0}, {"payments"}) == set()
    # The floor is the slowest partition with records waiting: one read to its end does not hold others back.
    sent = {"invoices": 1_000, "payments": 1_500}
    assert held_back(sent, {"invoices": 0, "payments": 10}, set()) == set()
    # With nothing waiting anywhere, every partition reads.
    assert held_back(sent, {}, {"invoices", "payments"}) == set()
