"""An ERP simulator: a seeded, reproducible book of customers and their documents.

Customers behave differently: prompt payers (some taking cash discounts), slow payers,
deteriorating ones (prompt, then late and partial), defaulting ones (who stop paying) and
disputing ones (who get credit notes). Invoices have mixed terms (net days, 2/10 net 30,
instalments) and currencies; payments come with remittance advice or as lump sums, now and
then a correction or a bounced payment. The same seed gives the same book.

    python -m tools.erp_simulator --bootstrap-servers localhost:9092 --customers 50 --invoices 2000
    python -m tools.erp_simulator --summary --customers 5000 --invoices 500000   (generate, print totals)

Customers go to ``erp.customers`` (for profiles) unless ``--directly-to-receivables`` puts
them straight onto ``profiles.events``, as profiles would; documents go to ``erp.invoices``,
``erp.payments`` and ``erp.credit_notes``. ``expected`` holds what every customer's net
position must add up to per currency, computed here from the documents alone.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Literal

from aiokafka import AIOKafkaProducer

from libs.events.envelope import Envelope, to_kafka

Behaviour = Literal["prompt", "slow", "deteriorating", "defaulting", "disputing"]
BEHAVIOURS: list[tuple[Behaviour, int]] = [
    ("prompt", 40),
    ("slow", 25),
    ("deteriorating", 15),
    ("defaulting", 10),
    ("disputing", 10),
]
CENT = Decimal("0.01")
TAX = {"CNY": Decimal("0.13"), "USD": Decimal(0), "EUR": Decimal(0)}
INVOICES, PAYMENTS, CREDIT_NOTES = "erp.invoices", "erp.payments", "erp.credit_notes"


PLACES = [
    ("福州", "鼓楼区", "五四路"),
    ("厦门", "思明区", "湖滨南路"),
    ("泉州", "丰泽区", "刺桐路"),
    ("上海", "浦东新区", "世纪大道"),
    ("杭州", "西湖区", "文三路"),
    ("深圳", "南山区", "科技园路"),
    ("广州", "天河区", "体育西路"),
    ("宁波", "鄞州区", "天童南路"),
    ("苏州", "工业园区", "星湖街"),
    ("南京", "建邺区", "江东中路"),
]
WORDS = ["华信", "东方", "金源", "宏达", "恒通", "远航", "鑫盛", "海润", "天诚", "博远", "瑞丰", "中联"]
TRADES = ["贸易", "供应链", "电子", "机械", "建材", "食品"]


@dataclass(frozen=True)
class Customer:
    erp_id: str
    name: str
    behaviour: Behaviour
    remittance: bool  # sends remittance advice; otherwise pays lump sums
    currencies: tuple[str, ...]
    address: str = ""

    @property
    def customer_id(self) -> str:
        """The id the simulator gives the customer when it stands in for profiles
        (``--directly-to-receivables``); through erp.customers, profiles gives its own."""
        return f"C-{self.erp_id}"


@dataclass(frozen=True)
class Document:
    topic: str
    document_id: str
    revision: int
    customer: str  # the ERP customer id: the Kafka key
    day: date
    data: dict[str, Any]


@dataclass
class Book:
    customers: list[Customer]
    documents: list[Document]
    invoiced: defaultdict[str, Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    credited: defaultdict[str, Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    paid: defaultdict[str, Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    discounts: defaultdict[str, Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    owed: defaultdict[tuple[str, str], Decimal] = field(default_factory=lambda: defaultdict(Decimal))

    @property
    def expected(self) -> dict[str, Decimal]:
        """Per currency: invoices less credit notes, payments that stood and discounts taken."""
        currencies = set(self.invoiced) | set(self.paid) | set(self.credited)
        return {c: self.invoiced[c] - self.credited[c] - self.paid[c] - self.discounts[c] for c in sorted(currencies)}

    def expected_of(self, erp_id: str) -> dict[str, Decimal]:
        """One customer's net position per currency, as ``expected`` is for the book."""
        return {c: v for (customer, c), v in sorted(self.owed.items()) if customer == erp_id}

    def counts(self) -> dict[str, int]:
        return dict(Counter(d.topic for d in self.documents))


def _money(amount: Decimal, currency: str) -> dict[str, str]:
    return {"amount": format(amount, "f"), "currency": currency}


def _amount(rng: random.Random, low: int, high: int) -> Decimal:
    return Decimal(rng.randrange(low * 100, high * 100)) / 100


class _Generator:
    def __init__(self, seed: int, start: date, days: int, prefix: str) -> None:
        self.rng = random.Random(seed)
        self.prefix = prefix
        self.start, self.days, self.end = start, days, start + timedelta(days=days)
        self.docs: list[Document] = []
        self.book = Book([], self.docs)
        self.sequence = 0

    def next_id(self, prefix: str) -> str:
        self.sequence += 1
        return f"{prefix}{self.prefix}{self.sequence:08d}"

    def customer(self, index: int) -> Customer:
        rng = self.rng
        # One of each behaviour first, so that even a small book has them all.
        behaviour = (
            BEHAVIOURS[index - 1][0]
            if index <= len(BEHAVIOURS)
            else rng.choices([b for b, _ in BEHAVIOURS], [w for _, w in BEHAVIOURS])[0]
        )
        currencies: tuple[str, ...] = ("CNY",)
        roll = rng.random()
        if roll < 0.15:
            currencies = ("CNY", "USD")
        elif roll < 0.20:
            currencies = ("EUR", "CNY")
        city, district, street = rng.choice(PLACES)
        return Customer(
            erp_id=f"K{index:06d}",
            name=f"{city}{rng.choice(WORDS)}{rng.choice(TRADES)}有限公司（{index}）",
            address=f"{city}市{district}{street}{rng.randrange(1, 300)} 号",
            behaviour=behaviour,
            remittance=behaviour == "prompt" or rng.random() < 0.5,
            currencies=currencies,
        )

    def emit(self, topic: str, document_id: str, revision: int, customer: Customer, day: date, **data: Any) -> None:
        self.docs.append(
            Document(topic, document_id, revision, customer.erp_id, day, {"customer_erp_id": customer.erp_id, **data})
        )

    def invoices_of(self, customer: Customer, count: int) -> None:
        rng = self.rng
        lump: dict[tuple[str, date], Decimal] = {}
        default_day = self.start + timedelta(days=int(self.days * rng.uniform(0.5, 0.8)))
        for _ in range(count):
            issued = self.start + timedelta(days=rng.randrange(self.days))
            currency = customer.currencies[0] if rng.random() < 0.85 else customer.currencies[-1]
            net = _amount(rng, 1_000, 200_000)
            tax = (net * TAX[currency]).quantize(CENT, ROUND_HALF_UP)
            total = net + tax
            number = self.next_id("FP")
            document_id = f"INV-{number}"
            discount = customer.behaviour == "prompt" and customer.remittance and rng.random() < 0.3
            terms: dict[str, Any]
            if discount:
                terms, due = {"net_days": 30, "discount": {"percent": "2", "days": 10}}, issued + timedelta(days=30)
            elif rng.random() < 0.1:
                first = (total / 3).quantize(CENT)
                dues = [issued + timedelta(days=30 * k) for k in (1, 2, 3)]
                amounts = [first, first, total - 2 * first]
                terms = {
                    "instalments": [
                        {"due_date": d.isoformat(), "amount": _money(a, currency)}
                        for d, a in zip(dues, amounts, strict=True)
                    ]
                }
                due = dues[-1]
            else:
                net_days = rng.choice([30, 30, 60, 90])
                terms, due = {"net_days": net_days}, issued + timedelta(days=net_days)
            invoice = {
                "number": number,
                "net": _money(net, currency),
                "tax": _money(tax, currency),
                "issue_date": issued.isoformat(),
                "terms": terms,
                "order_ref": f"SO-{number[2:]}",
            }
            self.emit(INVOICES, document_id, 1, customer, issued, **invoice)
            if not discount and rng.random() < 0.02:  # the ERP corrects the tax a few days later
                tax = (tax + _amount(rng, 1, 50)).quantize(CENT)
                total = net + tax
                corrected = {**invoice, "tax": _money(tax, currency)}
                if "instalments" in terms:  # keep the schedule adding up
                    last = total - 2 * first
                    corrected["terms"] = {
                        "instalments": [
                            *terms["instalments"][:2],
                            {**terms["instalments"][2], "amount": _money(last, currency)},
                        ]
                    }
                self.emit(INVOICES, document_id, 2, customer, issued + timedelta(days=3), **corrected)
            self.book.invoiced[currency] += total
            self.book.owed[customer.erp_id, currency] += total
            owed = total
            if customer.behaviour == "disputing" and not discount and rng.random() < 0.3:
                credit = (total * Decimal(rng.uniform(0.05, 0.2))).quantize(CENT)
                self.emit(
                    CREDIT_NOTES,
                    f"CN-{number}",
                    1,
                    customer,
                    issued + timedelta(days=rng.randrange(2, 10)),
                    number=f"CN{number[2:]}",
                    amount=_money(credit, currency),
                    reason="price difference agreed",
                    issue_date=(issued + timedelta(days=5)).isoformat(),
                    invoice_document_id=document_id,
                )
                self.book.credited[currency] += credit
                self.book.owed[customer.erp_id, currency] -= credit
                owed -= credit
            self.pay(customer, number, currency, issued, due, owed, total, discount, default_day, lump)
        for (currency, day), amount in sorted(lump.items()):
            self.payment(customer, currency, day, amount, [], reference=f"{customer.name} {day:%Y-%m}")

    def pay(
        self,
        customer: Customer,
        number: str,
        currency: str,
        issued: date,
        due: date,
        owed: Decimal,
        total: Decimal,
        discount: bool,
        default_day: date,
        lump: dict[tuple[str, date], Decimal],
    ) -> None:
        rng, behaviour = self.rng, customer.behaviour
        late_in_period = issued > self.start + timedelta(days=self.days // 2)
        if behaviour == "defaulting" and due > default_day:
            return
        if discount:
            taken = (total * Decimal("0.02")).quantize(CENT, ROUND_HALF_UP)
            day = issued + timedelta(days=rng.randrange(3, 11))
            self.payment(customer, currency, day, total - taken, [(number, None)])
            self.book.discounts[currency] += taken
            self.book.owed[customer.erp_id, currency] -= taken
            return
        if behaviour == "prompt":
            parts = [(due - timedelta(days=rng.randrange(0, 6)), owed)]
        elif behaviour == "deteriorating" and late_in_period:
            share = Decimal(rng.uniform(0.5, 0.8)).quantize(CENT)
            parts = [(due + timedelta(days=rng.randrange(30, 90)), (owed * share).quantize(CENT))]
        elif behaviour in ("slow", "disputing") and rng.random() < 0.3:
            half = (owed / 2).quantize(CENT)
            parts = [
                (due + timedelta(days=rng.randrange(10, 30)), half),
                (due + timedelta(days=rng.randrange(30, 60)), owed - half),
            ]
        else:
            parts = [(due + timedelta(days=rng.randrange(0, 45)), owed)]
        for day, amount in parts:
            if day >= self.end:
                continue  # not paid yet when the book closes
            if customer.remittance:
                self.payment(customer, currency, day, amount, [(number, amount if len(parts) > 1 else None)])
            else:
                month_end = date(day.year, day.month, 28)
                lump[currency, month_end] = lump.get((currency, month_end), Decimal(0)) + amount

    def payment(
        self,
        customer: Customer,
        currency: str,
        day: date,
        amount: Decimal,
        lines: list[tuple[str, Decimal | None]],
        reference: str | None = None,
    ) -> None:
        payment_id = self.next_id("PAY-")
        remittance = [{"invoice_number": n, **({"amount": format(a, "f")} if a is not None else {})} for n, a in lines]
        payment = {
            "amount": _money(amount, currency),
            "value_date": day.isoformat(),
            "method": self.rng.choice(["bank_transfer", "bank_transfer", "bank_acceptance"]),
            "payer_reference": reference or (f"payment {lines[0][0]}" if lines else None),
            "remittance": remittance,
        }
        bounced = not (lines and lines[0][1] is None and customer.behaviour == "prompt") and self.rng.random() < 0.01
        self.emit(PAYMENTS, payment_id, 1, customer, day, **payment)
        if bounced:  # the bank returns it; the customer pays again a week later
            reversal = {**payment, "reversed": True, "reversal_reason": "returned by the bank"}
            self.emit(PAYMENTS, payment_id, 2, customer, day + timedelta(days=2), **reversal)
            self.payment(customer, currency, day + timedelta(days=7), amount, lines, reference)
            return
        self.book.paid[currency] += amount
        self.book.owed[customer.erp_id, currency] -= amount


def generate(
    seed: int, customers: int, invoices: int, start: date = date(2025, 1, 1), days: int = 365, prefix: str = ""
) -> Book:
    """The whole book, documents in the order the ERP would send them (by date). Document
    numbers carry ``prefix``, so that a second book for the same customers does not clash."""
    generator = _Generator(seed, start, days, prefix)
    people = [generator.customer(i) for i in range(1, customers + 1)]
    generator.book.customers = people
    weights = [generator.rng.uniform(0.2, 1.8) for _ in people]
    scale = invoices / sum(weights)
    counts = [int(w * scale) for w in weights]
    counts[0] += invoices - sum(counts)
    for customer, count in zip(people, counts, strict=True):
        generator.invoices_of(customer, count)
    generator.docs.sort(key=lambda d: (d.day, d.topic != INVOICES))
    return generator.book


# -- publishing ---------------------------------------------------------------------------------------


def customer_records(book: Book, directly_to_receivables: bool) -> Iterator[tuple[str, Any]]:
    for c in book.customers:
        registration = {"scheme": "OTHER", "number": f"SIM-{c.erp_id}", "country": "CN"}
        if directly_to_receivables:
            data = {
                "customer_id": c.customer_id,
                "legal_name": c.name,
                "registration": registration,
                "erp_id": c.erp_id,
                "address": c.address,
            }
            registered = envelope(
                "profiles", "profiles.CustomerRegistered", 2, f"customer-{c.customer_id}", 1, c.customer_id, data
            )
            yield "profiles.events", registered
        else:
            data = {
                "erp_id": c.erp_id,
                "legal_name": c.name,
                "registration": registration,
                "industry": "wholesale",
                "address": c.address,
                "billing_contact": {
                    "name": "财务部 应付账款",
                    "email": f"ap-{c.erp_id.lower()}@customers.example",
                    "phone": f"+86 591 {int(c.erp_id[1:]):08d}",
                },
            }
            yield (
                "erp.customers",
                envelope("erp", "erp.CustomerMaster", 1, f"erp-customer-{c.erp_id}", 1, c.erp_id, data),
            )


def document_records(book: Book) -> Iterator[tuple[str, Any]]:
    types = {INVOICES: "erp.Invoice", PAYMENTS: "erp.Payment", CREDIT_NOTES: "erp.CreditNote"}
    for d in book.documents:
        yield d.topic, envelope("erp", types[d.topic], 1, d.document_id, d.revision, d.customer, d.data)


def envelope(source: str, type_: str, schema: int, subject: str, version: int, key: str, data: dict[str, Any]) -> Any:
    """A record as the ERP (or profiles) would publish it: CloudEvents in Kafka binary mode."""
    return to_kafka(
        Envelope(
            id=uuid.uuid4(),
            source=source,
            type=type_,
            time=datetime.now(UTC),
            subject=subject,
            stream_version=version,
            schema_version=schema,
            customer_id=key,
            data=data,
        )
    )


async def publish(
    bootstrap_servers: str, records: Iterator[tuple[str, Any]], topic_prefix: str = "", progress: bool = False
) -> int:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap_servers, linger_ms=5, max_batch_size=256 * 1024)
    await producer.start()
    sent, started = 0, time.monotonic()
    try:
        pending = []
        for topic, record in records:
            pending.append(
                await producer.send(topic_prefix + topic, record.value, key=record.key, headers=record.headers)
            )
            sent += 1
            if len(pending) >= 5000:
                await asyncio.gather(*pending)
                pending.clear()
                if progress:
                    print(f"  sent {sent:,} ({sent / (time.monotonic() - started):,.0f}/s)", file=sys.stderr)
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return sent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.erp_simulator", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--bootstrap-servers", help="the broker; without it, only --summary makes sense")
    parser.add_argument("--topic-prefix", default="", help="as CREDO_TOPIC_PREFIX of the services")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--customers", type=int, default=50)
    parser.add_argument("--invoices", type=int, default=2000)
    parser.add_argument("--start", type=date.fromisoformat, default=date(2025, 1, 1), help="first invoice date")
    parser.add_argument("--days", type=int, default=365, help="how many days the book covers")
    parser.add_argument("--directly-to-receivables", action="store_true", help="customers onto profiles.events")
    parser.add_argument("--summary", action="store_true", help="print the book's totals as JSON and send nothing")
    args = parser.parse_args(argv)
    if args.customers < 1 or args.invoices < args.customers:
        parser.error("give at least one customer and at least one invoice per customer")
    book = generate(args.seed, args.customers, args.invoices, args.start, args.days)
    summary = {
        "customers": len(book.customers),
        "documents": book.counts(),
        "behaviours": dict(Counter(c.behaviour for c in book.customers)),
        "expected_net_position": {c: format(v, "f") for c, v in book.expected.items()},
    }
    if args.summary or not args.bootstrap_servers:
        print(json.dumps(summary, ensure_ascii=False, indent=2))
        return 0 if args.summary else 2
    print(f"sending {len(book.customers):,} customers and {len(book.documents):,} documents", file=sys.stderr)
    asyncio.run(
        publish(args.bootstrap_servers, customer_records(book, args.directly_to_receivables), args.topic_prefix)
    )
    asyncio.run(publish(args.bootstrap_servers, document_records(book), args.topic_prefix, progress=True))
    print(json.dumps(summary, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
