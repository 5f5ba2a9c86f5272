"""One cell of a study definition's field: parse it, warn on its soft limits, write it back.

The rules of a number, a date, a yes/no and a choice are the store's one set
(:func:`xerotrial.store.forms.parse_cell`: plain decimals only, finite, SQL INTEGER range, no
future date); this module maps a definition's field onto them and adds what only a
definition has: a decimal's precision, a checkbox's several codes, a date-time, a text's
content rule (REDCap's validation types, :mod:`xerotrial.study.validation`). Values are
written back as REDCap's raw export writes them (:func:`format_value`): a yes/no as ``1``/``0``,
a decimal with its precision's decimals, a checkbox as its codes joined by commas.

Example
-------
>>> from xerotrial.study.model import Field
>>> parse_value(Field("sbp", "integer", lo=40, hi=300), "120")
(120, None)
>>> parse_value(Field("wt", "decimal", precision=1), "70.25")
(None, 'must have at most 1 decimal place')
>>> format_value(Field("wt", "decimal", precision=2), 70.5)
'70.50'
>>> parse_value(Field("sx", "checkbox", choices={"1": "Dry", "2": "Pain"}), "2,1")
('1,2', None)
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import numpy as np

from xerotrial.study.model import Field

from .forms import Field as CellRule
from .forms import latest_date, parse_cell

__all__ = ["checkbox_codes", "format_value", "parse_value", "soft_problem"]

_DATETIME = re.compile(r"^(\d{4}-\d{2}-\d{2})[ T](\d{2}):(\d{2})(?::(\d{2}))?$")


_RULES: dict[int, tuple[Field, CellRule]] = {}


def _rule(f: Field) -> CellRule:
    hit = _RULES.get(id(f))
    if hit is not None and hit[0] is f:
        return hit[1]
    if len(_RULES) > 100_000:
        _RULES.clear()
    rule = _make_rule(f)
    _RULES[id(f)] = (f, rule)
    return rule


def _make_rule(f: Field) -> CellRule:
    kind = {
        "integer": "int",
        "decimal": "float",
        "calculated": "float",
        "yesno": "bool",
        "date": "date",
    }.get(f.type, "text")
    choices = tuple(f.choices) if f.type == "choice" else None
    return CellRule(
        f.name,
        kind,  # type: ignore[arg-type]
        lo=f.lo,
        hi=f.hi,
        choices=choices,
        unit=f.unit,
        max_length=f.max_length,
    )


def _decimals(text: str) -> int:
    mantissa = text.strip().lower().split("e")[0]
    return len(mantissa.split(".", 1)[1]) if "." in mantissa else 0


def checkbox_codes(f: Field, raw: Any) -> tuple[list[str] | None, str | None]:
    """The ticked codes of a checkbox cell (codes joined by commas, or a list), in the
    order of the field's choices."""
    items = raw if isinstance(raw, list | tuple) else str(raw).split(",")
    codes = [str(c).strip() for c in items if str(c).strip()]
    unknown = [c for c in codes if c not in f.choices]
    if unknown:
        return None, f"unknown code {unknown[0]!r}; codes: {', '.join(f.choices)}"
    if len(set(codes)) != len(codes):
        return None, "a code is given twice"
    return [c for c in f.choices if c in codes], None


def _datetime(text: str) -> tuple[str | None, str | None]:
    m = _DATETIME.match(text.strip())
    if m is None:
        return None, "must be a date and time YYYY-MM-DD HH:MM"
    day, hh, mm, ss = m.groups()
    try:
        when = dt.datetime.fromisoformat(f"{day}T{hh}:{mm}:{ss or '00'}")
    except ValueError:
        return None, "must be a real date and time YYYY-MM-DD HH:MM"
    if when.date() > latest_date():
        return None, f"must not be in the future (today is {latest_date()} at the latest)"
    return text.strip().replace("T", " "), None


def _comma_decimal(f: Field) -> bool:
    """Whether the field's REDCap validation writes a decimal comma (``number_comma_decimal``)."""
    name = f.redcap.get("validation")
    if not name:
        return False
    from xerotrial.study.validation import VALIDATIONS

    v = VALIDATIONS.get(name)
    return bool(v is not None and v.comma_decimal)


def parse_value(f: Field, raw: Any) -> tuple[Any, str | None]:
    """``(value, None)`` or ``(None, rule broken)``; a blank cell is ``(None, None)`` (whether
    a blank is allowed is the row's rule: required, status)."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None, None
    if isinstance(raw, list | tuple) and not raw:
        return None, None
    if f.type == "checkbox":
        codes, rule = checkbox_codes(f, raw)
        return (None, rule) if rule else ((",".join(codes) or None), None)
    if f.type == "datetime":
        return _datetime(str(raw))
    comma = _comma_decimal(f)
    if comma and isinstance(raw, str):
        raw = raw.replace(",", ".", 1) if raw.count(",") == 1 and "." not in raw else raw + "?"
    value, rule = parse_cell(_rule(f), raw)
    if rule is not None:
        return None, rule
    limited = f.type in ("decimal", "calculated") and f.precision is not None
    if limited and isinstance(raw, str) and _decimals(raw) > f.precision:
        s = "" if f.precision == 1 else "s"
        return None, f"must have at most {f.precision} decimal place{s}"
    validation = f.validation
    if f.type == "text" and validation:
        from xerotrial.study.validation import text_problem

        rule = text_problem(validation, value)
        if rule is not None:
            return None, rule
    return value, None


def soft_problem(f: Field, value: Any) -> str | None:
    """Why a parsed value is outside the field's soft limits (a warning), or None."""
    if value is None or not f.numeric:
        return None
    unit = f" {f.unit}" if f.unit else ""
    if f.soft_lo is not None and value < f.soft_lo:
        return f"{value:g}{unit} is below the expected {f.soft_lo:g}{unit} (soft limit)"
    if f.soft_hi is not None and value > f.soft_hi:
        return f"{value:g}{unit} is above the expected {f.soft_hi:g}{unit} (soft limit)"
    return None


def format_value(f: Field, value: Any) -> str:
    """A stored value as text (blank for None), as REDCap's raw export writes it.

    >>> format_value(Field("ok", "yesno"), True), format_value(Field("x", "decimal"), 1e-05)
    ('1', '0.00001')
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        if f.precision is not None:
            text = f"{value:.{f.precision}f}"
        else:
            text = np.format_float_positional(value, unique=True, trim="-")
        return text.replace(".", ",") if _comma_decimal(f) else text
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)
