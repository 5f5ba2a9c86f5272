"""Scoring of the trial's patient-reported questionnaires: EORTC QLQ-H&N35 and the XQ.

Pure functions on DataFrames: one row per completed questionnaire, one column per item,
an empty cell (NaN, None or an empty string) for a missing answer.

Where each rule comes from (``/work/shared/spec/domain.md``)
-----------------------------------------------------------
EORTC QLQ-H&N35 (spec section 1)
    * Items are columns ``hn31`` ... ``hn65`` (form numbering after the QLQ-C30, spec 1.1).
      Items 31-60 are coded 1-4; items 61-65 are yes/no, coded 1 = No, 2 = Yes.
    * Scale membership: spec tables 1.2 and 1.3 (7 multi-item scales, 11 single items,
      18 scores, in the order of :data:`HN35_SCALES`).
    * Score (spec 1.4): raw score RS = mean of the answered items;
      S = (RS - 1) / range * 100, range 3 for items 31-60. It is evaluated as
      (RS - 1) * 100 / range, so that e.g. item 41 = 3 gives exactly the double ``200 / 3``
      (the other order is one unit in the last place lower).
    * **Decision (spec 1.6):** range 1 for the yes/no items 61-65, so HNPK, HNNU, HNFE, HNWL
      and HNWG are 0 (No) or 100 (Yes), as in the scoring manual and the module-local SAS
      macro; not range 3 as in QoLR and the ``hnscore30`` macro.
    * Half rule (spec 1.5): a scale is scored iff 2 * n_answered >= n_items, which equals
      imputing each missing item with the respondent's mean of the answered items of that
      scale. A single item that is missing gives a missing score.

Xerostomia Questionnaire, XQ (spec section 2)
    * Items are columns ``xq1`` ... ``xq8`` in the content order of spec table 2.2, each an
      integer 0-10 (0 = none, 10 = worst). Mapping the CRF's item order onto this content
      order is the caller's job (spec 2.2: "map by content, not by position").
    * Summary (spec 2.2): sum / 80 * 100 = sum * 1.25 for a complete questionnaire.
    * Eating subscale items 2, 3, 4, 6; non-eating subscale items 1, 5, 7, 8 (spec 2.2):
      sum / 40 * 100 for a complete subscale.
    * **Decision (spec 2.3, no published rule):** the EORTC-style half rule. The summary is
      mean(answered) * 10 when at least 4 of the 8 items are answered, and each subscore is
      mean(answered) * 10 when at least 2 of its 4 items are answered; otherwise missing.
      With complete data these equal the sum formulas above exactly.

Shared choices
    * Out-of-range values, non-integers and text are rejected with
      :class:`~xerotrial.stats.errors.DataValidationError` (spec 1.5 recommendation), never
      set to missing. Integer-valued floats such as ``3.0`` are accepted. Only an empty cell
      is a missing answer: text such as ``"NA"`` is an error.
    * Errors name the first bad cell, scanning rows then item columns: the 1-based data row
      (the position, not the index label), the file line (data row + 1, when a ``source``
      other than the default ``"data"`` is given) and the column.
    * Scores are not rounded (spec 1.4: round only for display).
    * The output keeps the input's index, so it aligns with the input rows.
    * Spec 2.3 asks for the number of imputed questionnaires: :func:`count_imputed` gives
      it, :func:`imputation_summary` gives complete / imputed / missing counts per score.
      (They are separate functions rather than ``DataFrame.attrs``, which pandas drops
      in many operations.)
"""

from __future__ import annotations

import math
import numbers
import re
from typing import Literal

import numpy as np
import pandas as pd

from ..stats.errors import DataValidationError
from ._checks import is_blank, require_all, where

__all__ = [
    "HN35_ITEMS",
    "HN35_SCALES",
    "XQ_ITEMS",
    "XQ_SCALES",
    "score_qlq_hn35",
    "score_xq",
    "imputation_summary",
    "count_imputed",
]

#: QLQ-H&N35 scores (output order) and their items, form numbering 31-65 (spec table 1.3).
HN35_SCALES: dict[str, tuple[int, ...]] = {
    "HNPA": (31, 32, 33, 34),
    "HNSW": (35, 36, 37, 38),
    "HNSE": (43, 44),
    "HNSP": (46, 53, 54),
    "HNSO": (49, 50, 51, 52),
    "HNSC": (48, 55, 56, 57, 58),
    "HNSX": (59, 60),
    "HNTE": (39,),
    "HNOM": (40,),
    "HNDR": (41,),
    "HNSS": (42,),
    "HNCO": (45,),
    "HNFI": (47,),
    "HNPK": (61,),
    "HNNU": (62,),
    "HNFE": (63,),
    "HNWL": (64,),
    "HNWG": (65,),
}
#: QLQ-H&N35 item columns.
HN35_ITEMS: tuple[str, ...] = tuple(f"hn{i}" for i in range(31, 66))

#: XQ scores (output order) and their items, content order of spec table 2.2.
XQ_SCALES: dict[str, tuple[int, ...]] = {
    "xq_summary": (1, 2, 3, 4, 5, 6, 7, 8),
    "xq_eating": (2, 3, 4, 6),
    "xq_non_eating": (1, 5, 7, 8),
}
#: XQ item columns.
XQ_ITEMS: tuple[str, ...] = tuple(f"xq{i}" for i in range(1, 9))

Kind = Literal["qlq-hn35", "xq"]

_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


_HN35_CODINGS = [
    (1, 2, "1 = No, 2 = Yes") if i >= 61 else (1, 4, "1 = Not at all ... 4 = Very much")
    for i in range(31, 66)
]
_XQ_CODINGS = [(0, 10, "0 = none ... 10 = worst")] * 8


def _where(source: str, i: int, column: str) -> str:
    """As :func:`._checks.where`, but only the default source ``"data"`` is in memory."""
    return where(source, i, column, in_memory=source == "data")


def _show(value: object) -> str:
    """A cell for a message: numbers without a spurious ``.0``."""
    if isinstance(value, str):
        return value.strip()
    x = float(value)  # type: ignore[arg-type]
    return str(int(x)) if x.is_integer() else repr(x)


def _show_text(value: object) -> str:
    return repr(value.strip()) if isinstance(value, str) else repr(value)


def _as_float(value: object) -> float | None:
    """The number in a non-missing cell, or None when it is not a number."""
    if isinstance(value, bool | np.bool_):
        return None
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, str) and _NUMBER.fullmatch(value.strip()):
        return float(value.strip())
    return None


def _column_values(
    series: pd.Series, column: str, coding: tuple[int, int, str], source: str
) -> tuple[np.ndarray, tuple[int, str] | None]:
    """One item column as floats (NaN = missing), and its first bad cell (row, message)."""
    lo, hi, text = coding
    hint = f"answers are whole numbers {lo}-{hi}: {text}"
    text_at: int | None = None
    if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
        x = series.to_numpy(dtype=float, na_value=np.nan)
        raw = x
    else:
        raw = series.to_numpy(dtype=object)
        x = np.full(len(raw), np.nan)
        for i, v in enumerate(raw):
            if is_blank(v):
                continue
            f = _as_float(v)
            if f is None:
                text_at = i  # cells after it stay NaN: an earlier bad number comes first
                break
            x[i] = f
    answered = ~np.isnan(x)
    bad = answered & ((x != np.floor(x)) | (x < lo) | (x > hi))
    if not bad.any():
        if text_at is None:
            return x, None
        return x, (
            text_at,
            f"{_where(source, text_at, column)}: {_show_text(raw[text_at])} "
            f"is not a number ({hint}; leave the cell empty for a missing answer)",
        )
    i = int(np.flatnonzero(bad)[0])
    whole = bool(np.isfinite(x[i]) and x[i] == math.floor(x[i]))
    what = "is out of range" if whole else "is not a whole number"
    return x, (i, f"{_where(source, i, column)}: value {_show(raw[i])} {what} ({hint})")


def _item_matrix(
    items: pd.DataFrame,
    columns: tuple[str, ...],
    codings: list[tuple[int, int, str]],
    source: str,
) -> np.ndarray:
    """Rows x items float matrix, NaN = missing; raises on the first bad cell, scanning
    rows, then columns within a row."""
    require_all(items, columns, source, what="file")
    dup = [c for c in columns if int((items.columns == c).sum()) > 1]
    if dup:
        raise DataValidationError(f"{source}: column(s) {dup} appear more than once")
    first: tuple[int, str] | None = None
    out = np.empty((len(items), len(columns)))
    for j, (col, coding) in enumerate(zip(columns, codings, strict=True)):
        out[:, j], problem = _column_values(items[col], col, coding, source)
        if problem is not None and (first is None or problem[0] < first[0]):
            first = problem
    if first is not None:
        raise DataValidationError(first[1])
    return out


def _half_rule_means(values: np.ndarray, scales: dict[str, tuple[int, ...]], offset: int):
    """Per scale: mean of the answered items where 2 * n_answered >= n_items, and n_answered."""
    means, counts = {}, {}
    for name, members in scales.items():
        block = values[:, [m - offset for m in members]]
        n = (~np.isnan(block)).sum(axis=1)
        total = np.nansum(block, axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = total / n
        mean[2 * n < len(members)] = np.nan
        means[name], counts[name] = mean, n
    return means, counts


def _id_column(items: pd.DataFrame, id_column: str, source: str) -> pd.Series:
    if id_column not in items.columns:
        raise DataValidationError(
            f"{source}: id column {id_column!r} not found; the file has columns "
            f"{[str(c) for c in items.columns]}"
        )
    return items[id_column]


def score_qlq_hn35(
    items: pd.DataFrame, id_column: str = "id", source: str = "data"
) -> pd.DataFrame:
    """Score the EORTC QLQ-H&N35: ``id`` plus the 18 symptom scores (0-100, NaN = missing).

    ``items`` has columns ``hn31`` ... ``hn65`` (31-60 coded 1-4, 61-65 coded 1 = No,
    2 = Yes); other columns are ignored. S = (mean of answered items - 1) / range * 100,
    range 3, or 1 for the yes/no items (spec 1.4, 1.6); half rule for multi-item scales,
    none for single items (spec 1.5). Raises DataValidationError naming the row and column
    of a value out of range, a non-integer or text, or a missing column.

    >>> items = pd.DataFrame({"id": ["P01"], **{f"hn{i}": [1] for i in range(31, 66)}})
    >>> items[["hn35", "hn36", "hn37", "hn38", "hn41", "hn61"]] = [[2, 3, None, 1, 3, 2]]
    >>> scores = score_qlq_hn35(items)
    >>> list(scores.columns[:4])
    ['id', 'HNPA', 'HNSW', 'HNSE']
    >>> [round(float(scores.loc[0, s]), 2) for s in ("HNSW", "HNDR", "HNPK", "HNPA")]
    [33.33, 66.67, 100.0, 0.0]
    """
    ids = _id_column(items, id_column, source)
    values = _item_matrix(items, HN35_ITEMS, _HN35_CODINGS, source)
    means, _ = _half_rule_means(values, HN35_SCALES, offset=31)
    out = {id_column: ids.array}
    for name, members in HN35_SCALES.items():
        item_range = 1.0 if members[0] >= 61 else 3.0
        out[name] = (means[name] - 1.0) * 100.0 / item_range
    return pd.DataFrame(out, index=items.index)


def score_xq(items: pd.DataFrame, id_column: str = "id", source: str = "data") -> pd.DataFrame:
    """Score the Xerostomia Questionnaire: ``id``, ``xq_summary``, ``xq_eating``,
    ``xq_non_eating`` (0-100, higher = worse, NaN = missing).

    ``items`` has columns ``xq1`` ... ``xq8`` (integers 0-10, content order of spec 2.2);
    other columns are ignored. Each score is mean(answered items) * 10, which is
    sum * 1.25 (summary) or sum * 2.5 (subscales) when complete. Project decision, the
    analogue of the EORTC half rule (spec 2.3): the summary needs at least 4 of its
    8 items answered, the eating (items 2, 3, 4, 6) and non-eating (1, 5, 7, 8) subscores at
    least 2 of their 4; otherwise the score is missing. Errors as in :func:`score_qlq_hn35`.

    >>> items = pd.DataFrame({"id": ["P01", "P02"], "xq1": [5, 5], "xq2": [6, None],
    ...     "xq3": [7, None], "xq4": [8, None], "xq5": [2, 2], "xq6": [3, 3],
    ...     "xq7": [4, 4], "xq8": [5, 5]})
    >>> score_xq(items)
        id  xq_summary  xq_eating  xq_non_eating
    0  P01        50.0       60.0           40.0
    1  P02        38.0        NaN           40.0
    """
    ids = _id_column(items, id_column, source)
    values = _item_matrix(items, XQ_ITEMS, _XQ_CODINGS, source)
    means, _ = _half_rule_means(values, XQ_SCALES, offset=1)
    out = {id_column: ids.array}
    for name in XQ_SCALES:
        out[name] = means[name] * 10.0
    return pd.DataFrame(out, index=items.index)


def _kind(kind: str):
    if kind == "qlq-hn35":
        return HN35_ITEMS, HN35_SCALES, _HN35_CODINGS, 31
    if kind == "xq":
        return XQ_ITEMS, XQ_SCALES, _XQ_CODINGS, 1
    raise DataValidationError(f"questionnaire kind {kind!r} is not one of: 'qlq-hn35', 'xq'")


def imputation_summary(items: pd.DataFrame, kind: Kind, source: str = "data") -> pd.DataFrame:
    """Per score: how many questionnaires were scored complete, scored with missing items
    (the half rule, i.e. mean imputation), or left missing.

    ``kind`` is ``"qlq-hn35"`` or ``"xq"``. Columns: ``score``, ``n_items``,
    ``min_answered`` (the half-rule threshold), ``n_complete``, ``n_imputed``,
    ``n_missing``. Items are validated as by the scoring functions.

    >>> items = pd.DataFrame({f"xq{i}": [5, 5, None] for i in range(1, 9)})
    >>> items.loc[1, ["xq2", "xq3"]] = None
    >>> imputation_summary(items, "xq")
               score  n_items  min_answered  n_complete  n_imputed  n_missing
    0     xq_summary        8             4           1          1          1
    1      xq_eating        4             2           1          1          1
    2  xq_non_eating        4             2           2          0          1
    """
    columns, scales, codings, offset = _kind(kind)
    values = _item_matrix(items, columns, codings, source)
    _, counts = _half_rule_means(values, scales, offset)
    rows = []
    for name, members in scales.items():
        k, n = len(members), counts[name]
        need = (k + 1) // 2
        rows.append(
            {
                "score": name,
                "n_items": k,
                "min_answered": need,
                "n_complete": int((n == k).sum()),
                "n_imputed": int(((n >= need) & (n < k)).sum()),
                "n_missing": int((n < need).sum()),
            }
        )
    return pd.DataFrame(rows)


def count_imputed(items: pd.DataFrame, kind: Kind, source: str = "data") -> int:
    """The number of questionnaires (rows) with at least one score computed despite missing
    items, i.e. imputed by the half rule: the count spec 2.3 asks to report.

    A single missing item (a missing single-item score) is not an imputation.

    >>> items = pd.DataFrame({f"xq{i}": [5, 5, None] for i in range(1, 9)})
    >>> items.loc[1, "xq2"] = None
    >>> count_imputed(items, "xq")
    1
    """
    columns, scales, codings, offset = _kind(kind)
    values = _item_matrix(items, columns, codings, source)
    _, counts = _half_rule_means(values, scales, offset)
    imputed = np.zeros(len(items), dtype=bool)
    for name, members in scales.items():
        k, n = len(members), counts[name]
        imputed |= (2 * n >= k) & (n < k)
    return int(imputed.sum())
