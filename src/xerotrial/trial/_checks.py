"""Checks shared by the trial modules: cell errors, required columns and cell values.

Every error is a :class:`~xerotrial.stats.errors.DataValidationError` naming the source, the
row, the column, the value and the rule, in one of two styles:

* by position (1-based data row), for the screening, AE, batch, HLA and questionnaire tables:
  ``data: row 2, column 'age', value 'x': rule``, or for a file source
  ``items.csv: line 3 (data row 2), column ...`` (:func:`where`, :func:`cell_error`);
* by index label, for the sample tables of sialometry, saliva, scintigraphy and ADaM:
  ``data: row 'r1', column 'kind', value 'x': rule`` (:func:`row_error`, :func:`raise_first`).
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Callable, Collection, Hashable, Iterable
from typing import Any

import numpy as np
import pandas as pd

from ..stats.errors import DataValidationError

_YES_NO = dict.fromkeys(("yes", "y", "true", "1"), True) | dict.fromkeys(
    ("no", "n", "false", "0"), False
)


# ------------------------------------------------------------------------------- cell values


def is_missing(value: Any) -> bool:
    """Whether ``value`` is None, ``pd.NA``, ``pd.NaT`` or a float NaN (text never is)."""
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, float | np.floating) and math.isnan(value)


def is_blank(value: Any, *, nat: bool = True) -> bool:
    """Whether a cell is empty: a missing value (:func:`is_missing`) or blank text.

    With ``nat=False``, ``pd.NaT`` counts as a value (as the eligibility, immunology, product
    and matching checks have always read it).
    """
    if value is pd.NaT:
        return nat
    if isinstance(value, str):
        return value.strip() == ""
    return is_missing(value)


def number(value: Any) -> float | None:
    """The finite number in a cell (3, 0.15, "0.15"), else None; booleans are not numbers."""
    if isinstance(value, bool | np.bool_):
        return None
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return None
    if isinstance(value, numbers.Real) and math.isfinite(value):
        return float(value)
    return None


def whole(value: Any) -> int | None:
    """The integer in a cell holding a whole number (3, 3.0, "3"), else None."""
    x = number(value)
    return int(x) if x is not None and x.is_integer() else None


def yes_no(value: Any) -> bool | None:
    """A boolean, 0/1, or yes/no, y/n, true/false, 1/0 text (any case) as a bool, else None."""
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, numbers.Integral) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        return _YES_NO.get(value.strip().casefold())
    return None


def parse_study_day(day: Any) -> int:
    """An integer study day, or DataValidationError."""
    if isinstance(day, bool | np.bool_) or is_missing(day) or isinstance(day, str):
        raise DataValidationError(f"study day {day!r} is not a whole number of days")
    try:
        f = float(day)
    except (TypeError, ValueError):
        raise DataValidationError(f"study day {day!r} is not a whole number of days") from None
    if not math.isfinite(f) or f != int(f):
        raise DataValidationError(f"study day {day!r} is not a whole number of days")
    return int(f)


def upper_text(value: Any) -> Any:
    """Text stripped and upper-cased; anything else unchanged."""
    return value.strip().upper() if isinstance(value, str) else value


def py(x: Any) -> Any:
    """A numpy scalar as the Python scalar (for messages); anything else unchanged."""
    return x.item() if isinstance(x, np.generic) else x


def natural_key(text: str) -> tuple:
    """Sort key for ids in natural order: ``P2`` before ``P10``."""
    return tuple(
        (0, int(p), "") if p.isdigit() else (1, 0, p) for p in re.split(r"(\d+)", text) if p
    )


def first_repeat(keys: Iterable[Hashable]) -> tuple[int, int] | None:
    """Positions (first, second) of the first key equal to an earlier one, or None."""
    seen: dict[Hashable, int] = {}
    for pos, key in enumerate(keys):
        if key in seen:
            return seen[key], pos
        seen[key] = pos
    return None


# ------------------------------------------------------------------------------- by position


def _place(source: str, at: str, column: Any) -> str:
    return f"{source}: {at}, column {column!r}"


def _error(
    place: str,
    value: Any,
    rule: str,
    *,
    source: str,
    column: Any,
    row: Any = None,
    line: int | None = None,
) -> DataValidationError:
    """The cell error: the message names the place, and the fields carry it."""
    return DataValidationError(
        f"{place}, value {value!r}: {rule}",
        file=source,
        row=row,
        line=line,
        column=str(column),
        value=value,
        rule=rule,
    )


def where(source: str, pos: int, column: str, *, in_memory: bool | None = None) -> str:
    """``source: row N, column 'c'`` for the 0-based position ``pos``.

    A file source (not ``in_memory``) gives ``line N+1 (data row N)`` instead of ``row N``.
    By default ``"data"`` and ``"data (...)"`` are in memory, any other source is a file.
    """
    if in_memory is None:
        in_memory = source == "data" or source.startswith("data (")
    row = pos + 1
    at = f"row {row}" if in_memory else f"line {row + 1} (data row {row})"
    return _place(source, at, column)


def cell_error(source: str, pos: int, column: str, value: Any, rule: str) -> DataValidationError:
    """The error for the bad cell at position ``pos`` (see :func:`where`)."""
    in_memory = source == "data" or source.startswith("data (")
    return _error(
        where(source, pos, column),
        value,
        rule,
        source=source,
        column=column,
        row=pos + 1,
        line=None if in_memory else pos + 2,
    )


def require_all(
    frame: Any, columns: Iterable[str], source: str, *, what: str = "data"
) -> pd.DataFrame:
    """``frame`` if it is a DataFrame with every one of ``columns``; else an error naming all
    missing columns and the columns ``what`` ("the data", "the file") has."""
    if not isinstance(frame, pd.DataFrame):
        raise DataValidationError(f"{source}: expected a DataFrame, got {type(frame).__name__}")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataValidationError(
            f"{source}: column(s) {missing} not found; the {what} has columns "
            f"{[str(c) for c in frame.columns]}"
        )
    return frame


def ids(frame: pd.DataFrame, column: str, source: str) -> list[str]:
    """The column's ids as stripped text; an empty cell raises."""
    out = []
    for pos, v in enumerate(frame[column].tolist()):
        if is_blank(v, nat=False):
            raise cell_error(source, pos, column, v, "an id is required")
        out.append(str(v).strip())
    return out


# ------------------------------------------------------------------------------- by index label


def row_error(source: str, row: Any, column: str, value: Any, rule: str) -> DataValidationError:
    """The error for one bad cell, named by its row's index label."""
    row, value = py(row), py(value)
    if is_missing(value):
        value = None
    return _error(
        _place(source, f"row {row!r}", column), value, rule, source=source, column=column, row=row
    )


def raise_first(
    frame: pd.DataFrame,
    mask: Any,
    column: str,
    source: str,
    rule: str | Callable[[int], str],
) -> None:
    """Raise the row error of the first position where ``mask`` is True (if any).

    ``rule`` is the message, or a function of the position that gives it.
    """
    bad = np.flatnonzero(np.asarray(mask, dtype=bool))
    if len(bad):
        i = int(bad[0])
        msg = rule(i) if callable(rule) else rule
        raise row_error(source, frame.index[i], column, frame[column].iloc[i], msg)


def require_columns(frame: Any, columns: Iterable[str], source: str) -> None:
    """DataValidationError naming the first required column the frame lacks."""
    if not isinstance(frame, pd.DataFrame):
        raise DataValidationError(f"{source}: expected a pandas DataFrame, not {type(frame)}")
    for c in columns:
        if c not in frame.columns:
            raise DataValidationError(
                f"{source}: column {c!r} not found (columns: {list(map(str, frame.columns))})"
            )


def day_cell(value: Any, source: str, row: Any, column: str) -> int:
    """The study day in one cell (see :func:`parse_study_day`), or its row error."""
    try:
        return parse_study_day(value)
    except DataValidationError:
        raise row_error(source, row, column, value, "must be a whole number of days") from None


def key_columns(frame: pd.DataFrame, source: str) -> list[str]:
    """``subject`` plus whichever of ``visit`` and ``study_day`` the frame has (one needed)."""
    require_columns(frame, ["subject"], source)
    keys = ["subject"] + [c for c in ("visit", "study_day") if c in frame.columns]
    if len(keys) == 1:
        raise DataValidationError(
            f"{source}: needs a column 'visit' or 'study_day' to say when each sample was taken"
        )
    for c in keys:
        raise_first(frame, frame[c].isna(), c, source, "required, must not be missing")
    if "study_day" in frame.columns:
        for row, v in frame["study_day"].items():
            day_cell(v, source, row, "study_day")
    return keys


def numeric(
    frame: pd.DataFrame, column: str, source: str, *, allow_missing: bool = False
) -> pd.Series:
    """Column as float; text, infinities or (unless allowed) missing values raise."""
    raw = frame[column]
    if pd.api.types.is_bool_dtype(raw):
        raise row_error(source, frame.index[0], column, raw.iloc[0], "must be a number")
    num = pd.to_numeric(raw, errors="coerce").astype(float)
    bad = (num.isna() & raw.notna()) | np.isinf(num)
    if not allow_missing:
        bad |= num.isna()
    raise_first(
        frame,
        bad,
        column,
        source,
        lambda i: (
            "required, must not be missing" if is_missing(raw.iloc[i]) else "must be a number"
        ),
    )
    return num


def one_of(
    frame: pd.DataFrame,
    column: str,
    source: str,
    choices: Collection[Any],
    code: Callable[[Any], Any],
) -> pd.Series:
    """``code`` of each cell (object Series, the frame's index); a code not in ``choices``
    raises."""
    require_columns(frame, [column], source)
    out = []
    for row, v in frame[column].items():
        k = code(v)
        if k not in choices:
            raise row_error(source, row, column, v, f"must be one of {list(choices)}")
        out.append(k)
    return pd.Series(out, index=frame.index, dtype=object)


def duplicate_pair(frame: pd.DataFrame, columns: list[str]) -> tuple[int, int] | None:
    """Positions (first, second) of the first repeated combination of ``columns``, or None."""
    later = np.flatnonzero(frame.duplicated(columns, keep="first").to_numpy())
    if not len(later):
        return None
    second = int(later[0])
    key = frame.iloc[second][columns]
    same = np.ones(len(frame), dtype=bool)
    for c in columns:
        same &= (frame[c] == key[c]).to_numpy()
    return int(np.flatnonzero(same)[0]), second
