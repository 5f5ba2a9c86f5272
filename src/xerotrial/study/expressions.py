"""A small, safe expression language for checks, branching (``show_if``) and calculations.

Parsed with :mod:`ast` and walked by hand (never ``eval``); only these are accepted: field
names, numbers, strings, ``True``/``False``, comparisons (chains too), ``and``/``or``/``not``,
``+ - * /``, unary minus, ``in``/``not in`` a literal list, and the functions ``blank(x)``
(empty), ``days(a, b)`` (whole days from date ``a`` to date ``b``) and ``ticked(box, code)``
(whether a checkbox field has ``code`` ticked; REDCap's ``[box(code)] = '1'``). Anything else is
refused with the offending text and its position (0-based column).

A blank value (None or ``""``) makes arithmetic and comparisons *unknown* (None), and
``and``/``or``/``not`` are three-valued, so a check on blank fields does not fail: a check
fails only when it evaluates to ``False``; ``blank(x)`` tests for blanks.

Comparisons coerce as REDCap's logic does: a text that is a number compares as that number
with a number (a choice code ``'3'`` with ``3``), and ``'1'``/``'0'`` as true/false with a
yes/no value; other mixed comparisons are errors (``<``) or unequal (``==``).

>>> e = parse_expression("cup_after_g >= cup_before_g")
>>> sorted(e.names)
['cup_after_g', 'cup_before_g']
>>> e.evaluate({"cup_after_g": 12.5, "cup_before_g": 10.0})
True
>>> e.evaluate({"cup_after_g": None, "cup_before_g": 10.0}) is None
True
>>> parse_expression("__import__('os')")
Traceback (most recent call last):
...
xerotrial.study.expressions.ExpressionError: at column 0: '__import__(...)': only the functions ...
"""

from __future__ import annotations

import ast
import datetime as dt
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["FUNCTIONS", "Expression", "ExpressionError", "parse_expression"]

#: The longest expression accepted (characters).
MAX_LENGTH = 2000

_COMPARE: dict[type, Callable[[Any, Any], Any]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
}
_ARITH: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
}


def _blank(x: Any) -> bool:
    return x is None or (isinstance(x, str) and x.strip() == "")


def _days(a: Any, b: Any) -> int | None:
    if _blank(a) or _blank(b):
        return None
    a = dt.date.fromisoformat(a) if isinstance(a, str) else a
    b = dt.date.fromisoformat(b) if isinstance(b, str) else b
    return (b - a).days


def _ticked(box: Any, code: Any) -> bool:
    """Whether ``code`` is ticked in a checkbox value (a list of codes or ``"1,3"``).

    >>> _ticked(["1", "3"], 3), _ticked(None, "1")
    (True, False)
    """
    if _blank(box) or box == []:
        return False
    codes = box.split(",") if isinstance(box, str) else list(box)
    return str(code) in [str(c).strip() for c in codes]


#: The functions an expression may call, with their number of arguments.
FUNCTIONS: dict[str, tuple[int, Callable[..., Any]]] = {
    "blank": (1, _blank),
    "days": (2, _days),
    "ticked": (2, _ticked),
}


class ExpressionError(ValueError):
    """An expression that is refused: ``text`` is the offending part, ``position`` its
    0-based column in the expression, ``rule`` what is wrong."""

    def __init__(self, rule: str, text: str, position: int) -> None:
        super().__init__(f"at column {position}: {text!r}: {rule}")
        self.rule, self.text, self.position = rule, text, position


@dataclass(frozen=True)
class Expression:
    """A parsed expression: its ``source``, the field ``names`` it reads, and its tree."""

    source: str
    names: frozenset[str]
    tree: ast.expr

    def evaluate(self, row: Mapping[str, Any]) -> Any:
        """The value on ``row`` (field name -> value; a missing name is blank).

        >>> parse_expression("group != 'control' or not blank(matched_to)").evaluate(
        ...     {"group": "control", "matched_to": None})
        False
        >>> parse_expression("days(visit_date, onset_date) >= 0").evaluate(
        ...     {"visit_date": "2024-01-02", "onset_date": dt.date(2024, 1, 1)})
        False
        """
        try:
            return _eval(self.tree, row)
        except (TypeError, ValueError) as exc:  # e.g. a number compared with a text
            raise ExpressionError(
                f"cannot be evaluated on this row ({exc})", self.source, 0
            ) from None


def _segment(source: str, node: ast.AST) -> str:
    text = ast.get_source_segment(source, node) or ""
    if isinstance(node, ast.Call) and "(" in text:
        text = text[: text.index("(")] + "(...)"
    return text


def _literal_list(node: ast.expr) -> bool:
    return isinstance(node, ast.List | ast.Tuple) and all(
        isinstance(e, ast.Constant) and isinstance(e.value, int | float | str) for e in node.elts
    )


def _check(source: str, node: ast.expr, names: set[str]) -> None:
    def refuse(rule: str, at: ast.AST = node) -> None:
        raise ExpressionError(rule, _segment(source, at), getattr(at, "col_offset", 0))

    if isinstance(node, ast.Name):
        if node.id in ("True", "False"):
            return
        names.add(node.id)
    elif isinstance(node, ast.Constant):
        if not isinstance(node.value, int | float | str):  # (bool is an int)
            refuse("only numbers, strings, True and False are constants")
    elif isinstance(node, ast.BoolOp):
        for v in node.values:
            _check(source, v, names)
    elif isinstance(node, ast.UnaryOp):
        if not isinstance(node.op, ast.Not | ast.USub):
            refuse("only 'not' and unary minus are allowed")
        _check(source, node.operand, names)
    elif isinstance(node, ast.BinOp):
        if type(node.op) not in _ARITH:
            refuse("only + - * / are allowed")
        _check(source, node.left, names)
        _check(source, node.right, names)
    elif isinstance(node, ast.Compare):
        _check(source, node.left, names)
        for op, right in zip(node.ops, node.comparators, strict=True):
            if isinstance(op, ast.In | ast.NotIn):
                if not _literal_list(right):
                    refuse(
                        "'in' takes a literal list of numbers or strings, e.g. ['a', 'b']", right
                    )
            elif type(op) in _COMPARE:
                _check(source, right, names)
            else:
                refuse("only == != < <= > >= in and not in compare")
    elif isinstance(node, ast.Call):
        name = node.func.id if isinstance(node.func, ast.Name) else None
        if name not in FUNCTIONS:
            refuse(f"only the functions {', '.join(FUNCTIONS)} may be called")
        n = FUNCTIONS[name][0]
        if node.keywords or len(node.args) != n:
            refuse(f"{name}() takes {n} argument{'s' * (n > 1)}")
        for a in node.args:
            _check(source, a, names)
    else:
        refuse(f"{type(node).__name__} is not allowed in an expression")


def parse_expression(source: str) -> Expression:
    """Parse and check ``source``; :class:`ExpressionError` if it is refused.

    >>> parse_expression("grade in [3, 4, 5] and not serious").names == {"grade", "serious"}
    True
    >>> parse_expression("a +* b")
    Traceback (most recent call last):
    ...
    xerotrial.study.expressions.ExpressionError: at column 3: 'a +* b': not an expression ...
    """
    if not isinstance(source, str) or not source.strip():
        raise ExpressionError("empty expression", str(source), 0)
    if len(source) > MAX_LENGTH:
        raise ExpressionError(f"longer than {MAX_LENGTH} characters", source[:40] + "...", 0)
    try:
        tree = ast.parse(source.strip(), mode="eval").body
    except SyntaxError as exc:
        raise ExpressionError(
            f"not an expression ({exc.msg})", source, max((exc.offset or 1) - 1, 0)
        ) from None
    except (ValueError, RecursionError, MemoryError) as exc:
        raise ExpressionError(f"not an expression ({exc})", source[:40], 0) from None
    names: set[str] = set()
    try:
        _check(source.strip(), tree, names)
    except RecursionError:
        raise ExpressionError("nested too deeply", source[:40], 0) from None
    return Expression(source, frozenset(names), tree)


_TRUTH = {"1": True, "0": False, "true": True, "false": False}


def _coerce(a: Any, b: Any) -> tuple[Any, Any]:
    """REDCap's loose comparison: a numeric text with a number, '1'/'0' with a bool.

    >>> _coerce("3", 2.5), _coerce(True, "1"), _coerce("a", 1)
    ((3.0, 2.5), (True, True), ('a', 1))
    """
    if isinstance(a, str) and not isinstance(b, str):
        b2, a2 = _coerce(b, a)
        return a2, b2
    if not isinstance(b, str) or isinstance(a, str):
        return a, b
    if isinstance(a, bool):
        t = _TRUTH.get(b.strip().casefold())
        return (a, b) if t is None else (a, t)
    if isinstance(a, int | float):
        try:
            return a, float(b)
        except ValueError:
            return a, b
    return a, b


def _eval(node: ast.expr, row: Mapping[str, Any]) -> Any:
    if isinstance(node, ast.Name):
        if node.id in ("True", "False"):
            return node.id == "True"
        value = row.get(node.id)
        return None if _blank(value) else value
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.BoolOp):
        values = [_eval(v, row) for v in node.values]
        if isinstance(node.op, ast.And):
            if any(v is not None and not v for v in values):
                return False
            return None if any(v is None for v in values) else True
        if any(v is not None and v for v in values):
            return True
        return None if any(v is None for v in values) else False
    if isinstance(node, ast.UnaryOp):
        v = _eval(node.operand, row)
        if v is None:
            return None
        return (not v) if isinstance(node.op, ast.Not) else -v
    if isinstance(node, ast.BinOp):
        a, b = _eval(node.left, row), _eval(node.right, row)
        if a is None or b is None:
            return None
        if isinstance(node.op, ast.Div) and b == 0:
            return None
        return _ARITH[type(node.op)](a, b)
    if isinstance(node, ast.Compare):
        left = _eval(node.left, row)
        result: bool | None = True
        for op, right_node in zip(node.ops, node.comparators, strict=True):
            if isinstance(op, ast.In | ast.NotIn):
                right: Any = [e.value for e in right_node.elts]  # type: ignore[attr-defined]
                found = left is not None and any(
                    a == b for a, b in (_coerce(left, r) for r in right)
                )
                ok = None if left is None else found == isinstance(op, ast.In)
            else:
                right = _eval(right_node, row)
                ok = (
                    None
                    if left is None or right is None
                    else _COMPARE[type(op)](*_coerce(left, right))
                )
            if ok is False:
                return False
            if ok is None:
                result = None
            left = right
        return result
    if isinstance(node, ast.Call):
        fn = FUNCTIONS[node.func.id][1]  # type: ignore[attr-defined]
        if node.func.id in ("blank", "ticked"):  # type: ignore[attr-defined]
            return fn(*(_eval_raw(a, row) for a in node.args))
        return fn(*(_eval(a, row) for a in node.args))
    raise AssertionError(f"unchecked node {type(node).__name__}")  # parse_expression refuses it


def _eval_raw(node: ast.expr, row: Mapping[str, Any]) -> Any:
    return row.get(node.id) if isinstance(node, ast.Name) else _eval(node, row)
