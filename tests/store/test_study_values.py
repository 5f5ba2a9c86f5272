"""One cell of a definition's field: the store's rules, and what only a definition adds."""

from __future__ import annotations

import datetime as dt
from types import MappingProxyType

import pytest

from xerotrial.store.study_values import format_value, parse_value, soft_problem
from xerotrial.study.model import Field

COMMA = MappingProxyType({"validation": "number_1dp_comma_decimal"})
BOX = Field("sx", "checkbox", choices={"1": "a", "2": "b", "3": "c"})


@pytest.mark.parametrize(
    ("field", "raw", "value", "rule"),
    [
        (Field("n", "integer", lo=0, hi=10), "7", 7, None),
        (Field("n", "integer", lo=0, hi=10), "11", None, "must be <= 10"),
        (Field("n", "integer"), "1.5", None, "whole number"),
        (Field("n", "integer"), "1_0", None, "whole number"),
        (Field("x", "decimal", precision=2), "1.25", 1.25, None),
        (Field("x", "decimal", precision=2), "1.255", None, "at most 2 decimal places"),
        (Field("x", "decimal"), "inf", None, "finite"),
        (Field("x", "decimal", precision=1, redcap=COMMA), "70,5", 70.5, None),
        (Field("x", "decimal", precision=1, redcap=COMMA), "70.5", None, "number"),
        (Field("d", "date"), "2024-02-29", dt.date(2024, 2, 29), None),
        (Field("d", "date"), "2023-02-29", None, "date"),
        (Field("d", "date"), "2999-01-01", None, "future"),
        (Field("t", "datetime"), "2024-01-02 09:30", "2024-01-02 09:30", None),
        (Field("t", "datetime"), "2024-01-02 25:30", None, "real date and time"),
        (Field("y", "yesno"), "1", True, None),
        (Field("y", "yesno"), "2", None, "yes or no"),
        (Field("c", "choice", choices={"1": "a"}), "2", None, "one of"),
        (BOX, "3,1", "1,3", None),
        (BOX, ["2"], "2", None),
        (BOX, "4", None, "unknown code '4'"),
        (BOX, "1,1", None, "twice"),
        (Field("e", "text", validation="email"), "a@b.org", "a@b.org", None),
        (Field("e", "text", validation="email"), "not mail", None, "e-mail"),
        (Field("s", "text", max_length=3), "abcd", None, "at most 3"),
        (Field("n", "integer", required=True), "", None, None),  # the row's rule, not the cell's
    ],
)
def test_a_cell(field: Field, raw, value, rule: str | None) -> None:  # noqa: ANN001
    got, problem = parse_value(field, raw)
    if rule is None:
        assert (got, problem) == (value, None)
    else:
        assert got is None and problem is not None and rule in problem


def test_values_are_written_as_redcap_writes_them() -> None:
    assert format_value(Field("x", "decimal", precision=2), 70.5) == "70.50"
    assert format_value(Field("x", "decimal"), 1e-05) == "0.00001"
    assert format_value(Field("x", "decimal", precision=1, redcap=COMMA), 70.5) == "70,5"
    assert format_value(Field("y", "yesno"), False) == "0"
    assert format_value(Field("d", "date"), dt.date(2024, 1, 2)) == "2024-01-02"
    assert format_value(Field("n", "integer"), None) == ""


def test_soft_limits_warn() -> None:
    f = Field("age", "integer", soft_lo=18, soft_hi=80, unit="years")
    assert soft_problem(f, 85) == "85 years is above the expected 80 years (soft limit)"
    assert soft_problem(f, 40) is None
