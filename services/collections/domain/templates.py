"""Notice templates are data users edit, so they render in Jinja2's sandbox: no attribute of Python
internals, no import, no file; an undefined name is an error, not an empty string."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from jinja2 import StrictUndefined, TemplateError
from jinja2 import Template as JinjaTemplate
from jinja2.sandbox import ImmutableSandboxedEnvironment

from contracts.collections import Language, Template


class TemplateInvalid(ValueError):
    """A template that does not parse or does not render; the message says where."""


def grouped(amount: Decimal | str) -> str:
    """1234567.8 -> 1,234,567.80: the amount as printed, to the places it has (at least the minor unit)."""
    value = Decimal(amount)
    exponent = value.as_tuple().exponent
    places = max(-exponent, 0) if isinstance(exponent, int) else 2
    return f"{value:,.{places}f}"


_ENVIRONMENT = ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)
_ENVIRONMENT.filters["amount"] = grouped


@functools.lru_cache(maxsize=256)
def _compiled(text: str) -> JinjaTemplate:
    return _ENVIRONMENT.from_string(text)


def render(text: str, context: Mapping[str, Any], where: str) -> str:
    try:
        return _compiled(text).render(**context)
    except TemplateError as error:
        raise TemplateInvalid(f"{where}: {error}") from None


def render_notice(template: Template, language: Language, context: Mapping[str, Any], key: str) -> tuple[str, str]:
    """The subject and body of a notice in ``language`` (else the template's other language)."""
    chosen = language if language in template.body else next(iter(template.body))
    subject = template.subject.get(chosen) or next(iter(template.subject.values()))
    return (
        render(subject, context, f"templates.{key}.subject.{chosen}").strip(),
        render(template.body[chosen], context, f"templates.{key}.body.{chosen}"),
    )
