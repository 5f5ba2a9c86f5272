"""The expression language: what parses, what is refused (with position), evaluation."""

from __future__ import annotations

import datetime as dt

import pytest

from xerotrial.study.expressions import ExpressionError, parse_expression


@pytest.mark.parametrize(
    ("source", "names"),
    [
        ("cup_after_g >= cup_before_g", {"cup_after_g", "cup_before_g"}),
        ("grade in [3, 4, 5] and not serious", {"grade", "serious"}),
        ("kind not in ['UWS', 'SWS'] or -x + 2 * y / 3 < 1", {"kind", "x", "y"}),
        ("0 <= a < b <= 10", {"a", "b"}),
        ("blank(x) or days(start, stop) >= 0", {"x", "start", "stop"}),
        ("eligible == True", {"eligible"}),
    ],
)
def test_valid_expressions_report_their_names(source: str, names: set[str]) -> None:
    assert parse_expression(source).names == names


@pytest.mark.parametrize(
    ("source", "text", "position"),
    [
        ("__import__('os').system('x')", "__import__(...)", 0),
        ("a.b > 1", "a.b", 0),
        ("a ** 2", "a ** 2", 0),
        ("a in b", "b", 5),
        ("a in [b]", "[b]", 5),
        ("x > 1 if y else 2", "x > 1 if y else 2", 0),
        ("a +* b", "a +* b", 3),
        ("open('f')", "open(...)", 0),
        ("blank(a, b)", "blank(...)", 0),
        ("blank(x=a)", "blank(...)", 0),
        ("a is None", "a is None", 0),
        ("[x for x in y]", "[x for x in y]", 0),
        ("a > None", "None", 4),
        ("lambda: 1", "lambda: 1", 0),
        ("a[0]", "a[0]", 0),
        ("f'{a}'", "f'{a}'", 0),
        ("", "", 0),
    ],
)
def test_anything_else_is_refused_with_its_text_and_position(
    source: str, text: str, position: int
) -> None:
    with pytest.raises(ExpressionError) as info:
        parse_expression(source)
    assert (info.value.text, info.value.position) == (text, position), str(info.value)
    assert str(info.value).startswith(f"at column {position}: ")


def test_long_and_deep_expressions_are_refused_not_crashed() -> None:
    with pytest.raises(ExpressionError, match="longer than"):
        parse_expression("a + " * 1000 + "a")
    with pytest.raises(ExpressionError):
        parse_expression("(" * 400 + "a" + ")" * 400)


@pytest.mark.parametrize(
    ("source", "row", "value"),
    [
        ("cup_after_g >= cup_before_g", {"cup_after_g": 13.3, "cup_before_g": 12.0}, True),
        ("cup_after_g >= cup_before_g", {"cup_after_g": 11.0, "cup_before_g": 12.0}, False),
        ("cup_after_g >= cup_before_g", {"cup_before_g": 12.0}, None),
        ("(a - b) / m", {"a": 13.0, "b": 12.0, "m": 4}, 0.25),
        ("a / m", {"a": 1.0, "m": 0}, None),
        ("grade in [3, 4, 5]", {"grade": 4}, True),
        ("grade not in [3, 4, 5]", {"grade": 4}, False),
        ("0 <= a < 5", {"a": 5}, False),
        ("blank(x)", {"x": "  "}, True),
        ("blank(x)", {"x": 0}, False),
        ("not blank(x) and x > 1", {}, False),
        ("a > 1 or b > 1", {"a": 2}, True),
        ("a > 1 or b > 1", {"a": 0}, None),
        ("a > 1 and b > 1", {"a": 0}, False),
        ("not a", {}, None),
        ("-a", {"a": 2}, -2),
        ("days(start, stop)", {"start": dt.date(2024, 1, 1), "stop": "2024-01-31"}, 30),
        ("days(start, stop)", {"start": dt.date(2024, 1, 1)}, None),
        ("eligible or not blank(failed)", {"eligible": False, "failed": None}, False),
        ("group == 'control'", {"group": "control"}, True),
    ],
)
def test_evaluation_on_a_row(source: str, row: dict, value: object) -> None:
    assert parse_expression(source).evaluate(row) == value


def test_evaluation_errors_are_expression_errors() -> None:
    with pytest.raises(ExpressionError, match="cannot be evaluated"):
        parse_expression("grade > 'x'").evaluate({"grade": 3})
    with pytest.raises(ExpressionError, match="cannot be evaluated"):
        parse_expression("days(a, b) > 0").evaluate({"a": "2024-13-01", "b": "2024-01-01"})
