"""REDCap's text validation types: what each one is in a study definition, and the rules of
the text ones.

A REDCap ``text`` field's "Text Validation Type" makes it a number, a date or a text with a
content rule. :data:`VALIDATIONS` gives, for each name REDCap uses, our field ``type``, the
``precision`` of a decimal, how REDCap *shows* a date (``order``: ``ymd``, ``mdy``, ``dmy``;
raw exports and imports write every date ``YYYY-MM-DD`` and every date-time
``YYYY-MM-DD HH:MM[:SS]`` whatever the display), whether a number is written with a decimal
comma (``comma_decimal``: also in raw exports) and, for a text rule, the ``rule`` in words and
its pattern (:func:`text_problem`). The names and the shown formats are those of REDCap's
"Text Validation Type" list (REDCap 13-14); the patterns follow the shapes REDCap documents.

>>> VALIDATIONS["number_2dp_comma_decimal"].type, VALIDATIONS["number_2dp_comma_decimal"].precision
('decimal', 2)
>>> VALIDATIONS["date_dmy"].order, VALIDATIONS["email"].type
('dmy', 'text')
>>> text_problem("email", "jane.doe@example.org") is None
True
>>> text_problem("time", "25:10")
'must be a time HH:MM (00:00 to 23:59)'
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["TEXT_RULES", "VALIDATIONS", "Validation", "text_problem"]


@dataclass(frozen=True)
class Validation:
    """One REDCap text validation type (see the module's docstring)."""

    name: str
    type: str
    precision: int | None = None
    order: str | None = None
    seconds: bool = False
    comma_decimal: bool = False
    rule: str = ""
    pattern: str = ""


def _table() -> dict[str, Validation]:
    out: list[Validation] = []
    for order in ("ymd", "mdy", "dmy"):
        out.append(Validation(f"date_{order}", "date", order=order))
        out.append(Validation(f"datetime_{order}", "datetime", order=order))
        out.append(Validation(f"datetime_seconds_{order}", "datetime", order=order, seconds=True))
    out.append(Validation("integer", "integer"))
    out.append(Validation("number", "decimal"))
    out.append(Validation("number_comma_decimal", "decimal", comma_decimal=True))
    for n in (1, 2, 3, 4):
        out.append(Validation(f"number_{n}dp", "decimal", precision=n))
        out.append(
            Validation(f"number_{n}dp_comma_decimal", "decimal", precision=n, comma_decimal=True)
        )
    text = [
        ("time", "must be a time HH:MM (00:00 to 23:59)", r"([01]\d|2[0-3]):[0-5]\d"),
        ("time_hh_mm_ss", "must be a time HH:MM:SS", r"([01]\d|2[0-3]):[0-5]\d:[0-5]\d"),
        ("time_mm_ss", "must be minutes and seconds MM:SS", r"[0-5]\d:[0-5]\d"),
        (
            "email",
            "must be an e-mail address",
            r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}",
        ),
        (
            "phone",
            "must be a North American phone number, e.g. 615-322-2222",
            r"\(?[2-9][0-8]\d\)?[-. ]?[2-9]\d{2}[-. ]?\d{4}(\s*(x|ext\.?)\s*\d+)?",
        ),
        (
            "phone_australia",
            "must be an Australian phone number, e.g. 03 9999 9999",
            r"(\(0[2-8]\)|0[2-8])\s*\d{4}\s*\d{4}",
        ),
        ("zipcode", "must be a U.S. ZIP code (99999 or 99999-9999)", r"\d{5}(-\d{4})?"),
        ("postalcode_australia", "must be an Australian postcode (4 digits)", r"\d{4}"),
        (
            "postalcode_canada",
            "must be a Canadian postal code, e.g. K1A 0B1",
            r"[ABCEGHJ-NPRSTVXY]\d[ABCEGHJ-NPRSTV-Z]\s?\d[ABCEGHJ-NPRSTV-Z]\d",
        ),
        ("postalcode_french", "must be a French postcode (5 digits)", r"\d{5}"),
        ("postalcode_germany", "must be a German postcode (5 digits)", r"\d{5}"),
        ("alpha_only", "must be letters only (no digits, spaces or other signs)", r"[A-Za-z]+"),
        ("ssn", "must be a U.S. social security number 999-99-9999", r"\d{3}-\d{2}-\d{4}"),
        ("mrn_10d", "must be a medical record number of 10 digits", r"\d{10}"),
        ("mrn_generic", "must be a medical record number (letters, digits, - and _)", r"[\w-]+"),
        ("vmrn", "must be a medical record number of 1 to 9 digits", r"\d{1,9}"),
    ]
    out += [Validation(n, "text", rule=r, pattern=p) for n, r, p in text]
    # a file upload field's signature pad (Field Type file, validation signature)
    out.append(Validation("signature", "file"))
    return {v.name: v for v in out}


#: Every REDCap text validation type, by name.
VALIDATIONS: dict[str, Validation] = _table()
#: The content rules a ``text`` field may have (``Field.validation``).
TEXT_RULES: tuple[str, ...] = tuple(n for n, v in VALIDATIONS.items() if v.type == "text")


def text_problem(validation: str, value: str) -> str | None:
    """None when ``value`` satisfies the text rule ``validation`` (a blank always does), else
    the rule broken; KeyError for a name that is not a text rule.

    >>> text_problem("zipcode", "3712"), text_problem("zipcode", "37212")
    ('must be a U.S. ZIP code (99999 or 99999-9999)', None)
    """
    v = VALIDATIONS[validation]
    if v.type != "text":
        raise KeyError(validation)
    if value == "" or re.fullmatch(v.pattern, value):
        return None
    return v.rule
