"""The dunning policy: its first version, what makes a version valid, and the strategy a grade gets."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from contracts.collections import (
    EscalationRule,
    GradeOrUnrated,
    Level,
    Policy,
    Step,
    Strategy,
    Template,
)
from libs.events.contracts import in_minor_units, is_invoicing_currency
from libs.events.refusals import Refused
from services.collections.domain.templates import TemplateInvalid, render_notice

GRADES: tuple[GradeOrUnrated, ...] = ("A", "B", "C", "D", "E", "unrated")


class PolicyInvalid(Refused):
    """A policy version that cannot be released; ``field`` names where it is wrong."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


_ITEMS_ZH = (
    "{% for item in items %}  {{ item.number }}  到期日 {{ item.due_date }}  逾期 {{ item.days_past_due }} 天"
    "  未付 {{ item.open | amount }} {{ item.currency }}\n{% endfor %}"
)
_ITEMS_EN = (
    "{% for item in items %}  {{ item.number }}  due {{ item.due_date }}  {{ item.days_past_due }} days overdue"
    "  open {{ item.open | amount }} {{ item.currency }}\n{% endfor %}"
)
_TOTALS_ZH = "{% for total in totals %}合计未付 {{ total.amount | amount }} {{ total.currency }}\n{% endfor %}"
_TOTALS_EN = "{% for total in totals %}Total open {{ total.amount | amount }} {{ total.currency }}\n{% endfor %}"
_CHARGES_ZH = (
    "{% if charges %}\n本次通知另计入贵司账户：\n{% for charge in charges %}"
    "  {% if charge.kind == 'fee' %}催收费用{% else %}逾期利息{% endif %}"
    "  {{ charge.amount | amount }} {{ charge.currency }}\n{% endfor %}{% endif %}"
)
_CHARGES_EN = (
    "{% if charges %}\nAdded to your account with this notice:\n{% for charge in charges %}"
    "  {% if charge.kind == 'fee' %}Dunning fee{% else %}Late-payment interest{% endif %} ({{ charge.description }})"
    "  {{ charge.amount | amount }} {{ charge.currency }}\n{% endfor %}{% endif %}"
)
_SIGN_ZH = (
    "{% if company_bank_account %}\n请汇款至：{{ company_bank_name }}  账号 {{ company_bank_account }}\n{% endif %}"
    "\n{{ company }} 信用管理部\n{% if company_phone %}电话 {{ company_phone }}\n{% endif %}"
)
_SIGN_EN = (
    "{% if company_bank_account %}\nPlease pay to: {{ company_bank_name }}, account {{ company_bank_account }}\n"
    "{% endif %}\n{{ company }}, Credit Control\n{% if company_phone %}Phone {{ company_phone }}\n{% endif %}"
)


def _template(subject_zh: str, opening_zh: str, subject_en: str, opening_en: str) -> Template:
    return Template(
        subject={"zh": subject_zh, "en": subject_en},
        body={
            "zh": f"{{{{ customer_name }}}}：\n\n{opening_zh}\n\n{_ITEMS_ZH}\n{_TOTALS_ZH}{_CHARGES_ZH}{_SIGN_ZH}",
            "en": f"Dear {{{{ customer_name }}}},\n\n{opening_en}\n\n{_ITEMS_EN}\n{_TOTALS_EN}{_CHARGES_EN}{_SIGN_EN}",
        },
    )


FIRST_POLICY = Policy(
    levels=(
        Level(level=0, name="reminder", channels=("email",), template="reminder", gentle=True),
        Level(level=1, name="first notice", channels=("email",), template="first", gentle=True),
        Level(level=2, name="second notice", channels=("email", "sms"), template="second"),
        Level(level=3, name="final notice", channels=("email", "letter", "phone"), template="final"),
        Level(level=4, name="pre-legal notice", channels=("letter", "phone"), template="pre_legal"),
    ),
    strategies=(
        Strategy(
            name="gentle",
            grades=("A", "B", "C"),
            steps=(
                Step(level=0, days=-3),
                Step(level=1, days=7),
                Step(level=2, days=30),
                Step(level=3, days=60),
                Step(level=4, days=90),
            ),
        ),
        Strategy(
            name="tight",
            grades=("D", "E", "unrated"),
            steps=(
                Step(level=0, days=-5),
                Step(level=1, days=1),
                Step(level=2, days=15),
                Step(level=3, days=30),
                Step(level=4, days=60),
            ),
        ),
    ),
    templates={
        "reminder": _template(
            "付款提醒：{{ company }} 的发票即将到期",
            "您好！以下发票即将到期，请按时安排付款。如已付款，请忽略本提醒。",
            "Payment reminder: invoices from {{ company }} fall due soon",
            "This is a friendly reminder that the invoices below fall due soon. If you have paid, please ignore it.",
        ),
        "first": _template(
            "逾期付款通知：{{ company }}",
            "经核对，以下发票已逾期未付，请尽快安排付款。如已付款或有疑问，请与我们联系。",
            "Overdue invoices: {{ company }}",
            "Our records show the invoices below are overdue. Please arrange payment, or tell us if anything is wrong.",
        ),
        "second": _template(
            "第二次催款通知：{{ company }}",
            "以下发票逾期已久，我们尚未收到您的付款。请于七日内付清，或与我们商定付款安排。",
            "Second notice of overdue invoices: {{ company }}",
            "We have not received payment of the invoices below. Please pay within seven days or agree a plan with us.",
        ),
        "final": _template(
            "最后催款通知：{{ company }}",
            "这是最后一次催款通知。如十日内仍未付款，我们将暂停供货并考虑采取进一步措施。",
            "Final notice: {{ company }}",
            "This is our final notice. Unless paid within ten days, we will stop deliveries and consider further "
            "steps.",
        ),
        "pre_legal": _template(
            "律师函前通知：{{ company }}",
            "由于下列款项长期逾期，我们拟将本案移交律师或催收机构处理。请立即付款，以免进入法律程序。",
            "Notice before legal action: {{ company }}",
            "As the amounts below remain unpaid, we intend to hand the matter to our lawyers. Please pay at once.",
        ),
    },
    minimum_amount={"CNY": Decimal("100.00"), "USD": Decimal("20.00"), "EUR": Decimal("20.00")},
    minimum_days_between_contacts=7,
    escalation=EscalationRule(to="legal", days_overdue=120, minimum={"CNY": Decimal("10000.00")}),
)


def sample_context() -> dict[str, Any]:
    """What a template is rendered with, as in a real notice: used to check and preview templates."""
    return {
        "customer_name": "福建闽江贸易有限公司",
        "company": "福州闽江供应链有限公司",
        "company_phone": "+86 591 8888 0000",
        "company_bank_name": "中国工商银行福州五四支行",
        "company_bank_account": "1402 0211 0900 1234 567",
        "business_date": date(2026, 12, 1),
        "level": 1,
        "level_name": "first notice",
        "items": [
            {
                "number": "INV-1",
                "due_date": date(2026, 10, 31),
                "days_past_due": 31,
                "open": "12000.00",
                "currency": "CNY",
                "raised": True,
            },
        ],
        "upcoming": [],
        "totals": [{"amount": "12000.00", "currency": "CNY"}],
        "charges": [],
    }


def check(policy: Policy) -> Policy:
    """Refuse a policy a release would regret: levels named twice, steps to missing levels,
    strategies that leave a grade out or claim it twice, templates missing or not rendering,
    amounts not in their currency's minor unit."""
    numbers = [level.level for level in policy.levels]
    if len(set(numbers)) != len(numbers):
        raise PolicyInvalid("levels", "each level number appears once")
    known = set(numbers)
    for s, strategy in enumerate(policy.strategies):
        for n, step in enumerate(strategy.steps):
            if step.level not in known:
                raise PolicyInvalid(f"strategies[{s}].steps[{n}].level", f"level {step.level} is not defined")
        days = [step.days for step in strategy.steps]
        levels = [step.level for step in strategy.steps]
        if days != sorted(days) or levels != sorted(levels) or len(set(levels)) != len(levels):
            raise PolicyInvalid(f"strategies[{s}].steps", "steps rise: later days, higher levels, each level once")
    for grade in GRADES:
        claiming = [s.name for s in policy.strategies if grade in s.grades]
        if len(claiming) != 1:
            raise PolicyInvalid("strategies", f"grade {grade} must have exactly one strategy, has {len(claiming)}")
    for n, level in enumerate(policy.levels):
        if level.template not in policy.templates:
            raise PolicyInvalid(f"levels[{n}].template", f"no template {level.template!r}")
        _amounts(level.fee, f"levels[{n}].fee")
    _amounts(policy.minimum_amount, "minimum_amount")
    if policy.escalation is not None:
        _amounts(policy.escalation.minimum, "escalation.minimum")
    for n, rule in enumerate(policy.portfolios):
        _amounts(rule.minimum_overdue or {}, f"portfolios[{n}].minimum_overdue")
        _amounts(rule.minimum_open or {}, f"portfolios[{n}].minimum_open")
        wrong = [c for c in rule.countries or () if len(c) != 2 or not c.isupper()]
        if wrong:
            raise PolicyInvalid(f"portfolios[{n}].countries", f"{', '.join(wrong)}: ISO 3166-1 alpha-2 codes")
    for key, template in policy.templates.items():
        for language in template.body:
            try:
                render_notice(template, language, sample_context(), key)
            except TemplateInvalid as invalid:
                raise PolicyInvalid(f"templates.{key}", str(invalid)) from None
        if set(template.subject) != set(template.body):
            raise PolicyInvalid(f"templates.{key}", "a subject and a body in the same languages")
    return policy


def _amounts(amounts: dict[str, Decimal], field: str) -> None:
    for currency, amount in amounts.items():
        if not is_invoicing_currency(currency):
            raise PolicyInvalid(f"{field}.{currency}", "not an ISO 4217 currency that invoices are issued in")
        if amount < 0 or not in_minor_units(amount, currency):
            raise PolicyInvalid(f"{field}.{currency}", f"{amount} is not a positive amount in {currency}'s minor unit")


def strategy_for(policy: Policy, grade: GradeOrUnrated) -> Strategy:
    return next(s for s in policy.strategies if grade in s.grades)


def level_of(policy: Policy, number: int) -> Level:
    return next(level for level in policy.levels if level.level == number)
