"""Who may do what: every route of every service, with every role, the ERP's key and no credentials,
against the matrix below. A route that is not in the matrix fails the test: a new route gets its
roles decided when it is written."""

from __future__ import annotations

import contextlib
import time
from typing import Any

import httpx
import jwt
import pytest

from libs.infra.provision import BrokerHandle
from libs.service.kit import create_app
from services.alerts.app import spec as alerts
from services.collections.app import spec as collections
from services.profiles.app import spec as profiles
from services.receivables.app import spec as receivables
from services.scoring.app import spec as scoring
from tests.conftest import NewDatabase
from tests.support.routes import declared_routes
from tests.support.serving import ERP_KEY, SECRET, bearer, serve_asgi, settings_for

PEOPLE = ("viewer", "credit_analyst", "collector", "credit_manager", "finance_director")
CALLERS = (*PEOPLE, "erp", "admin")
OPEN = ()  # no credentials needed
EVERYONE = CALLERS
READERS = (*PEOPLE, "admin")
TEAM = ("credit_analyst", "collector", "credit_manager", "finance_director", "admin")
ANALYSTS = ("credit_analyst", "credit_manager", "admin")
DECIDERS = ("credit_analyst", "credit_manager", "finance_director", "admin")
MANAGERS = ("credit_manager", "finance_director", "admin")
COLLECTORS = ("collector", "credit_manager", "admin")
FINANCE = ("finance_director", "admin")
ERP = ("erp", "admin")

OPERATIONS = {
    ("GET", "/health/live"): OPEN,
    ("GET", "/health/ready"): OPEN,
    ("GET", "/metrics"): OPEN,
    ("GET", "/info"): EVERYONE,
}
MATRIX: dict[str, dict[tuple[str, str], tuple[str, ...]]] = {
    "profiles": {
        **OPERATIONS,
        ("POST", "/customers"): ANALYSTS,
        ("GET", "/customers"): READERS,
        ("GET", "/customers/{customer_id}"): READERS,
        ("PATCH", "/customers/{customer_id}"): ANALYSTS,
        ("POST", "/customers/{customer_id}/contacts"): ANALYSTS,
        ("PUT", "/customers/{customer_id}/contacts/{contact_id}"): ANALYSTS,
        ("POST", "/customers/{customer_id}/contacts/{contact_id}/retirement"): ANALYSTS,
        ("POST", "/customers/{customer_id}/status"): MANAGERS,
        ("POST", "/customers/{customer_id}/statements"): ANALYSTS,
        ("PUT", "/customers/{customer_id}/review-date"): ANALYSTS,
        ("POST", "/customers/{customer_id}/trade-references"): ANALYSTS,
        ("POST", "/customers/{customer_id}/insurance-covers"): ANALYSTS,
        ("POST", "/customers/{customer_id}/insurance-covers/{policy_number}/cancellation"): ANALYSTS,
        ("POST", "/customers/{customer_id}/bureau-reports"): ANALYSTS,
        ("POST", "/customers/{customer_id}/bureau-reports/pull"): ANALYSTS,
        ("GET", "/customers/{customer_id}/bureau-reports/{report_id}/raw"): READERS,
        ("GET", "/customers/{customer_id}/timeline"): READERS,
    },
    "receivables": {
        **OPERATIONS,
        ("POST", "/erp/invoices"): ERP,
        ("POST", "/erp/payments"): ERP,
        ("POST", "/erp/credit-notes"): ERP,
        ("POST", "/customers/{customer_id}/allocations"): TEAM,
        ("POST", "/customers/{customer_id}/payments/{payment_id}/reversal"): MANAGERS,
        ("POST", "/customers/{customer_id}/refunds"): MANAGERS,
        ("POST", "/customers/{customer_id}/invoices/{invoice_id}/adjustments"): MANAGERS,
        ("POST", "/customers/{customer_id}/disputes"): TEAM,
        ("POST", "/customers/{customer_id}/disputes/{dispute_id}/resolution"): MANAGERS,
        ("POST", "/customers/{customer_id}/invoices/{invoice_id}/write-off"): MANAGERS,
        ("POST", "/customers/{customer_id}/invoices/{invoice_id}/recoveries"): MANAGERS,
        ("POST", "/fx-rates"): FINANCE,
        ("GET", "/fx-rates"): READERS,
        ("GET", "/fx-rates/proposals"): READERS,
        ("POST", "/fx-rates/proposals/{proposal_id}/confirmation"): FINANCE,
        ("POST", "/customers/{customer_id}/statements"): TEAM,
        ("GET", "/customers/{customer_id}/statements"): READERS,
        ("GET", "/customers/{customer_id}/statements/{statement_id}.pdf"): READERS,
        ("GET", "/customers/{customer_id}/statements/{statement_id}"): READERS,
        ("POST", "/customers/{customer_id}/statements/{statement_id}/confirmation"): TEAM,
        ("POST", "/customers/{customer_id}/statements/{statement_id}/dispute"): TEAM,
        ("GET", "/customers/{customer_id}/account"): (*READERS, "erp"),
        ("GET", "/invoices/{invoice_id}"): (*READERS, "erp"),
        ("GET", "/customers/{customer_id}/invoices"): (*READERS, "erp"),
        ("GET", "/customers/{customer_id}/payments"): READERS,
        ("GET", "/customers/{customer_id}/disputes"): READERS,
        ("GET", "/customers/{customer_id}/refunds"): READERS,
        ("GET", "/customers/{customer_id}/movements"): READERS,
        ("GET", "/kpis"): READERS,
        ("GET", "/kpis/invoices"): READERS,
        ("POST", "/provisions"): MANAGERS,
        ("GET", "/provisions"): READERS,
        ("GET", "/provisions/{matrix_id}"): READERS,
        ("GET", "/aging"): READERS,
        ("GET", "/customers/{customer_id}/aging"): READERS,
    },
    "scoring": {
        **OPERATIONS,
        ("GET", "/customers/{customer_id}/credit"): (*READERS, "erp"),
        ("GET", "/customers/{customer_id}/scores"): READERS,
        ("GET", "/customers/{customer_id}/requests"): READERS,
        ("GET", "/requests"): READERS,
        ("GET", "/portfolio"): READERS,
        ("POST", "/customers/{customer_id}/limit-requests"): DECIDERS,
        ("POST", "/customers/{customer_id}/terms-requests"): DECIDERS,
        ("POST", "/customers/{customer_id}/requests/{request_id}/approval"): DECIDERS,
        ("POST", "/customers/{customer_id}/requests/{request_id}/rejection"): DECIDERS,
        ("POST", "/customers/{customer_id}/holds"): DECIDERS,
        ("POST", "/customers/{customer_id}/holds/{hold_id}/release"): DECIDERS,
        ("POST", "/customers/{customer_id}/rescore"): DECIDERS,
        ("POST", "/credit-checks"): (*DECIDERS, "erp"),
        ("GET", "/credit-checks/{decision_id}"): (*READERS, "erp"),
        ("GET", "/policy"): READERS,
        ("POST", "/policy/what-if"): MANAGERS,
        ("GET", "/models/payment-date"): READERS,
        ("POST", "/models/payment-date/trainings"): MANAGERS,
        ("GET", "/customers/{customer_id}/payment-predictions"): READERS,
        ("GET", "/cash-forecast"): READERS,
    },
    "collections": {
        **OPERATIONS,
        ("GET", "/policy"): READERS,
        ("POST", "/policy"): MANAGERS,
        ("POST", "/policy/preview"): COLLECTORS,
        ("POST", "/policy/what-if"): MANAGERS,
        ("GET", "/cases/{customer_id}"): READERS,
        ("POST", "/cases/{customer_id}/contacts"): COLLECTORS,
        ("POST", "/cases/{customer_id}/promises"): COLLECTORS,
        ("POST", "/cases/{customer_id}/plans"): COLLECTORS,
        ("POST", "/cases/{customer_id}/blocks"): COLLECTORS,
        ("POST", "/cases/{customer_id}/blocks/{block_id}/lift"): COLLECTORS,
        ("POST", "/cases/{customer_id}/escalation"): MANAGERS,
        ("POST", "/cases/{customer_id}/escalation/report"): COLLECTORS,
        ("PUT", "/cases/{customer_id}/collector"): MANAGERS,
        ("POST", "/dunning-run"): COLLECTORS,
        ("GET", "/steps"): READERS,
        ("POST", "/steps/{step_id}/review"): COLLECTORS,
        ("GET", "/steps/{step_id}/replay"): READERS,
        ("GET", "/worklist"): READERS,
        ("GET", "/notices/{notice_id}/letter"): READERS,
    },
    "alerts": {
        **OPERATIONS,
        ("GET", "/rules"): READERS,
        ("POST", "/rules"): MANAGERS,
        ("POST", "/rules/what-if"): MANAGERS,
        ("GET", "/alerts"): READERS,
        ("GET", "/alerts/{alert_id}"): READERS,
        ("POST", "/alerts/{alert_id}/acknowledgement"): TEAM,
        ("POST", "/alerts/{alert_id}/assignment"): MANAGERS,
        ("POST", "/alerts/{alert_id}/resolution"): TEAM,
        ("POST", "/alerts/{alert_id}/suppression"): MANAGERS,
        ("GET", "/alerts/stream"): READERS,
        ("POST", "/subscriptions"): TEAM,
        ("GET", "/subscriptions"): MANAGERS,
        ("GET", "/subscriptions/{subscription_id}"): MANAGERS,
        ("GET", "/subscriptions/{subscription_id}/secret"): MANAGERS,
        ("POST", "/subscriptions/{subscription_id}/resumption"): MANAGERS,
        ("POST", "/subscriptions/{subscription_id}/cancellation"): MANAGERS,
    },
}
SPECS = {s.name: s for s in (profiles, receivables, scoring, collections, alerts)}


def credentials(caller: str | None) -> dict[str, str]:
    if caller is None:
        return {}
    if caller == "erp":
        return {"X-API-Key": ERP_KEY}
    return bearer(caller, subject=f"someone-{caller}")


@contextlib.asynccontextmanager
async def running(name: str, new_database: NewDatabase, broker: BrokerHandle) -> Any:
    settings = settings_for(SPECS[name], await new_database(), broker.bootstrap_servers)
    app = create_app(SPECS[name], settings)
    async with serve_asgi(app, settings.port) as url, httpx.AsyncClient(base_url=url) as http:
        yield http, app


@pytest.mark.parametrize("service", sorted(MATRIX))
async def test_every_route_answers_only_the_roles_it_names(
    service: str, new_database: NewDatabase, broker: BrokerHandle
) -> None:
    async with running(service, new_database, broker) as (http, app):
        routes = declared_routes(app)
        matrix = MATRIX[service]
        assert sorted(set(routes) - set(matrix)) == [], "routes without an entry in the matrix"
        assert sorted(set(matrix) - set(routes)) == [], "entries of the matrix without a route"
        wrong = []
        for method, template in routes:
            path = template.replace("{", "").replace("}", "")  # every id names nothing that exists
            allowed = matrix[(method, template)]
            for caller in (None, *CALLERS):
                # Streamed: a live stream answers its status at once and its events for as long as asked.
                async with http.stream(method, path, headers=credentials(caller), json={}) as response:
                    pass
                if allowed == OPEN:
                    fine = response.status_code not in (401, 403)
                elif caller is None:
                    fine = response.status_code == 401
                elif caller in allowed:
                    fine = response.status_code not in (401, 403)
                else:
                    fine = response.status_code == 403
                if not fine:
                    wrong.append(f"{method} {template} as {caller or 'nobody'}: {response.status_code}")
        assert wrong == []


def _signed(claims: dict[str, Any], key: str = SECRET, algorithm: str = "HS256") -> str:
    return jwt.encode(claims, key, algorithm=algorithm)


def bad_credentials() -> dict[str, dict[str, str]]:
    """Thirteen ways to call without the right to: each must be refused with 401 on every route."""
    now = int(time.time())
    good = {"sub": "mallory", "roles": ["admin"], "iss": "credo", "aud": "credo", "iat": now, "exp": now + 600}
    unsigned = jwt.encode(good, key=None, algorithm="none")  # type: ignore[arg-type]
    return {
        "expired token": {"Authorization": f"Bearer {_signed({**good, 'exp': now - 60})}"},
        "token signed with another key": {"Authorization": f"Bearer {_signed(good, 'another-key-' * 4)}"},
        "unsigned token (alg none)": {"Authorization": f"Bearer {unsigned}"},
        "token of another issuer": {"Authorization": f"Bearer {_signed({**good, 'iss': 'someone-else'})}"},
        "token for another audience": {"Authorization": f"Bearer {_signed({**good, 'aud': 'another-app'})}"},
        "token without expiry": {"Authorization": f"Bearer {_signed({k: v for k, v in good.items() if k != 'exp'})}"},
        "token not valid yet": {"Authorization": f"Bearer {_signed({**good, 'nbf': now + 3600})}"},
        "roles that are not a list": {"Authorization": f"Bearer {_signed({**good, 'roles': 'admin'})}"},
        "a token that is not a JWT": {"Authorization": "Bearer not-a-token"},
        "a bearer without a token": {"Authorization": "Bearer"},
        "basic authentication": {"Authorization": "Basic YWRtaW46YWRtaW4="},
        "an unknown API key": {"X-API-Key": "erp-test-key-0123456780"},
        "an empty API key": {"X-API-Key": ""},
    }


@pytest.mark.parametrize("service", sorted(MATRIX))
async def test_no_bad_credential_opens_any_route(service: str, new_database: NewDatabase, broker: BrokerHandle) -> None:
    async with running(service, new_database, broker) as (http, app):
        wrong = []
        for method, template in declared_routes(app):
            if MATRIX[service][(method, template)] == OPEN:
                continue
            path = template.replace("{", "").replace("}", "")
            for kind, headers in bad_credentials().items():
                response = await http.request(method, path, headers=headers, json={})
                if response.status_code != 401 or response.headers["content-type"] != "application/problem+json":
                    wrong.append(f"{method} {template} with {kind}: {response.status_code}")
        assert wrong == []
