"""Every topic Credo publishes, with the events on it: the source of contracts/.

Each service adds its topic here when it comes into being, with the event models it
publishes, so that `make asyncapi` documents it and the contract tests guard it.

    python -m contracts.catalogue            write contracts/ from the code
    python -m contracts.catalogue --check    fail if contracts/ differs from the code
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from contracts import alerts, collections, erp, profiles, receivables, scoring
from libs.events.contracts import EventRegistry
from libs.events.schema import TopicContract, generated_files, write
from libs.events.topics import dead_letter_topic

CONTRACTS_DIR = Path(__file__).resolve().parent
CONTRACTS_VERSION = "0.1.0"

SERVICES = ("profiles", "receivables", "scoring", "collections", "alerts")


def topics() -> list[TopicContract]:
    return [
        TopicContract(
            "profiles.events",
            "profiles",
            "Customer credit files: every change, in order per customer.",
            profiles.PUBLISHED,
            registry=profiles.registry,
        ),
        TopicContract(
            erp.CUSTOMERS,
            "erp",
            "The ERP's customer master: every revision of a customer record, the subject being the ERP's "
            "customer id and the stream version the revision. profiles applies each revision once.",
            [erp.CustomerMaster],
            registry=erp.customers,
        ),
        TopicContract(
            "receivables.events",
            "receivables",
            "The receivables ledger: every invoice, payment, allocation, credit note, dispute, write-off, overdue "
            "step and statement of each customer's account, in order per customer; and FX rates (key fx-rates).",
            receivables.PUBLISHED,
            registry=receivables.registry,
        ),
        TopicContract(
            "scoring.events",
            "scoring",
            "Credit decisions, in order per customer: scores and grades with their inputs, limit and terms "
            "requests through the approval chain, the limits and terms in force, holds placed and released, "
            "and every credit check's answer. The ERP subscribes here for limit changes and holds.",
            scoring.PUBLISHED,
            registry=scoring.registry,
        ),
        TopicContract(
            "collections.events",
            "collections",
            "Collections, in order per customer: the dunning policy's versions (key dunning-policy), and each "
            "collection case's dunning steps with the inputs they were decided on, notices and their delivery, "
            "contacts, promises to pay and their valuation (kept, partially kept, broken, reopened), payment plans "
            "and their course, escalations to legal or an agency and what they report, collector assignments.",
            collections.PUBLISHED,
            registry=collections.registry,
        ),
        TopicContract(
            "alerts.events",
            "alerts",
            "Early-warning alerts, in order per customer: each alert raised with the rule, its version and the "
            "facts that met it (with the ids of the events that carried them), repeated, acknowledged, assigned, "
            "resolved or suppressed; and the rule set's versions (key alert-rules). The ERP subscribes here.",
            alerts.PUBLISHED,
            registry=alerts.registry,
        ),
        *(
            TopicContract(
                topic,
                "erp",
                f"The ERP's {what}: the key is the ERP's customer id, the subject the document id, the stream "
                "version the document's revision. receivables applies each revision once; a higher revision "
                "corrects the document.",
                [model],
                registry=erp.documents,
            )
            for topic, what, model in (
                (erp.INVOICES, "invoices", erp.ErpInvoice),
                (erp.PAYMENTS, "payments (a revision with reversed set reverses one)", erp.ErpPayment),
                (erp.CREDIT_NOTES, "credit notes", erp.ErpCreditNote),
            )
        ),
        *_dead_letter_topics(),
    ]


def _dead_letter_topics() -> list[TopicContract]:
    return [
        TopicContract(
            dead_letter_topic(service),
            service,
            f"Messages {service} could not apply, with the reason; see `python -m libs.events.dead_letters`.",
            dead_letter=True,
        )
        for service in SERVICES
    ]


def registry() -> EventRegistry:
    """Every published event model, with its upcasters, across services."""
    return EventRegistry.combine(*(c.registry or EventRegistry(c.events) for c in topics()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m contracts.catalogue",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--check", action="store_true", help="only report files that differ")
    args = parser.parse_args(argv)
    files = generated_files(topics(), CONTRACTS_VERSION)
    if args.check:
        stale = [
            p
            for p, text in files.items()
            if not (CONTRACTS_DIR / p).exists() or (CONTRACTS_DIR / p).read_text() != text
        ]
        for path in stale:
            print(f"contracts/{path} differs from the code; run `make asyncapi`", file=sys.stderr)
        return 1 if stale else 0
    for path in write(CONTRACTS_DIR, files):
        print(f"wrote contracts/{path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
