"""Number formatting for the report: the paper's rounding, half away from zero; p-values as
a study report prints them.

Values are first rounded to 9 decimals (to drop binary noise such as ``0.125000000001``),
then rounded half away from zero (``Decimal`` ``ROUND_HALF_UP``). Negative numbers use the
minus sign U+2212. Missing values (None, NaN) print as an empty string.

Example
-------
>>> format_number(0.125, 2), format_number(-2.675, 2), format_number(0.0123456)
('0.13', '−2.68', '0.0123')
>>> format_p(0.00094), format_p(0.0099), format_p(0.34), format_p(0.7), format_p(3e-5)
('<.001', '.010', '.340', '.700', '<.001')
"""

from __future__ import annotations

import math
import re
from decimal import ROUND_HALF_UP, Decimal
from numbers import Integral, Real
from typing import Any

__all__ = [
    "COLUMN_WORDS",
    "MINUS",
    "column_header",
    "format_ci",
    "format_number",
    "format_p",
    "is_missing",
    "round_half_up",
]

#: The minus sign used in the HTML (U+2212).
MINUS = "\u2212"


def is_missing(x: Any) -> bool:
    """True for None, NaN and pandas' NA/NaT.

    >>> is_missing(None), is_missing(float("nan")), is_missing(0.0), is_missing("")
    (True, True, False, False)
    """
    if x is None:
        return True
    try:
        return bool(x != x)  # NaN, NaT and pd.NA (whose != raises / is ambiguous)
    except (TypeError, ValueError):
        return True


def round_half_up(x: float, decimals: int) -> Decimal:
    """``x`` rounded to ``decimals`` places, half away from zero (after rounding to 9 places).

    >>> round_half_up(2.675, 2), round_half_up(-0.5, 0), round_half_up(1234.5, -1)
    (Decimal('2.68'), Decimal('-1'), Decimal('1.23E+3'))
    """
    d = Decimal(repr(round(float(x), 9)))
    return d.quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP)


def _text(d: Decimal) -> str:
    if d == 0:
        d = abs(d)  # no "−0.00"
    s = format(d, "f")
    return MINUS + s[1:] if s.startswith("-") else s


def _sig_decimals(x: float, digits: int) -> int:
    """Decimals that show ``digits`` significant digits of ``x`` (never negative)."""
    if x == 0:
        return 0
    return max(0, digits - 1 - math.floor(math.log10(abs(x))))


#: Column names (as the analysis data frames have them) and the words a table heads them with;
#: other snake_case names read as words, with the abbreviations of ``ABBREVIATIONS``
#: (``mfi_day_30`` -> "MFI day 30", ``STUDY_DAY`` -> "Study day").
COLUMN_WORDS = {
    "lsmean": "LS mean",
    "p_value": "p",
    "ci_lower": "95% CI lower",
    "ci_upper": "95% CI upper",
    "lower": "CI lower",
    "upper": "CI upper",
    "num_df": "Numerator df",
    "den_df": "Denominator df",
    "cutoff": "Cut-off",
    "onset_day": "Onset (study day)",
    "N_PATIENTS": "Patients (n)",
    "N_AE_LATE": "Late AEs (n)",
    "N_SAE_LATE": "Late SAEs (n)",
    "N_SAE_RELATED": "Related SAEs (n)",
    "HLA_DR": "HLA-DR",
    "USUBJID": "Subject",
    "SUBJID": "Subject",
    "LASTDY": "Last study day",
}
#: Words written in capitals (or as statisticians write them) inside a column's name.
ABBREVIATIONS = {
    "mfi": "MFI", "dsa": "DSA", "ae": "AE", "sae": "SAE", "hla": "HLA", "ci": "CI",
    "se": "SE", "df": "df", "n": "n", "p": "p", "t": "t", "id": "id",
}  # fmt: skip


def column_header(name: Any) -> str:
    """The words that head a table's column ``name`` (a name already in words is kept).

    >>> column_header("lsmean"), column_header("num_df"), column_header("mfi_day_30")
    ('LS mean', 'Numerator df', 'MFI day 30')
    >>> column_header("STUDY_DAY"), column_header("se"), column_header("Mean change")
    ('Study day', 'SE', 'Mean change')
    """
    text = str(name)
    if text in COLUMN_WORDS:
        return COLUMN_WORDS[text]
    if " " in text or not text.replace("_", "").isalnum():
        return text
    if text != text.lower() and text != text.upper():
        return text  # mixed case: written by a person
    words = [
        w.upper() if re.fullmatch(r"cd\d+", w) else ABBREVIATIONS.get(w, w)  # CD90, CD105
        for w in text.lower().split("_")
        if w
    ]
    first = words[0]
    if first == first.lower() and first not in ABBREVIATIONS.values():
        words[0] = first[:1].upper() + first[1:]
    return " ".join(words)


def format_number(x: Any, decimals: int | None = None) -> str:
    """``x`` with ``decimals`` places; without, 3 significant digits (integral values and
    integers as integers). Non-numbers are returned as ``str(x)``.

    >>> format_number(53.46, 1), format_number(10.0), format_number(7), format_number(1234.56)
    ('53.5', '10', '7', '1235')
    >>> format_number(-0.0001, 2), format_number(float("nan")), format_number("CS5")
    ('0.00', '', 'CS5')
    """
    if is_missing(x):
        return ""
    if isinstance(x, bool) or not isinstance(x, Real):
        return str(x)
    if isinstance(x, Integral):
        return _text(Decimal(int(x))) if decimals is None else _text(round_half_up(x, decimals))
    x = float(x)
    if math.isinf(x):
        return MINUS + "∞" if x < 0 else "∞"
    if decimals is None:
        if x == round(x) and abs(x) < 1e15:
            return _text(Decimal(int(round(x))))
        # the number of decimals comes from the value rounded to 3 significant digits
        first = round_half_up(x, _sig_decimals(x, 3))
        decimals = _sig_decimals(float(first), 3)
    return _text(round_half_up(x, decimals))


def format_ci(lower: Any, upper: Any, decimals: int | None = None) -> str:
    """A confidence interval as the paper prints it: ``"a to b"``.

    >>> format_ci(-33.567, -11.684, 2)
    '−33.57 to −11.68'
    """
    if is_missing(lower) and is_missing(upper):
        return ""
    return f"{format_number(lower, decimals)} to {format_number(upper, decimals)}"


def format_p(p: Any) -> str:
    """A p-value as a study report prints it: three decimals without the leading zero,
    ``"<.001"`` below 0.001 and ``">.999"`` when it rounds to 1 (ICH E3 reports, the
    journals' style).

    >>> [format_p(p) for p in (0.00094, 0.0005, 0.017, 0.0995, 0.52, 0.9996, None)]
    ['<.001', '<.001', '.017', '.100', '.520', '>.999', '']
    """
    if is_missing(p):
        return ""
    if float(p) < 0.001:
        return "<.001"
    d = round_half_up(float(p), 3)
    if d >= 1:
        return ">.999"
    return format(d, "f")[1:]
