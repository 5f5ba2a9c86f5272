"""From a data frame and a formula to the arrays the engine needs (formulaic does the coding).

Factor levels: the time factor keeps the order of first appearance in the data unless an
explicit order is given; other text columns are sorted (as R and SAS sort them). Treatment
coding with the first level as reference, as R does. Rows with a missing response or a
missing model variable are left out, counted and listed by their file line (``left_out``).

Errors name the file's line of a row (``row_lines``): ``data.attrs["lines"]`` as
:func:`xerotrial.tables.read_table` sets it (blank lines skipped), or, for an in-memory frame,
the data row + 1 (a header on line 1). Infinite responses and covariates are refused.

Example
-------
>>> import pandas as pd
>>> df = pd.DataFrame({"id": [1, 1, 2, 2], "visit": ["v1", "v2", "v1", "v2"],
...                    "y": [1.0, 2.0, 1.5, None]})
>>> d = build_design(df, "y ~ visit", subject="id", time="visit")
>>> d.column_names, d.n_missing_response, d.time_levels, d.left_out
(['Intercept', 'visit[T.v2]'], 1, ['v1', 'v2'], {'y': [5]})
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd

from . import coding
from .errors import DataValidationError

__all__ = ["Design", "build_design", "formula_variables", "left_out_note", "row_lines"]


@dataclass
class Design:
    """Model arrays plus what is needed to rebuild model matrices for LS means."""

    y: np.ndarray
    X: np.ndarray
    subject: np.ndarray  # integer codes
    time: np.ndarray  # integer codes into time_levels
    group: np.ndarray | None
    Z: np.ndarray | None
    column_names: list[str]
    response: str
    columns: dict[str, np.ndarray]  # rows used: factor level codes, numbers, raw subject ids
    rhs: str
    terms: list[tuple[str, ...]] | None  # the fast treatment-coding path, or None: formulaic
    factors: dict[str, list[str]]  # factor name -> levels (in model order)
    numeric: list[str]
    time_levels: list[str]
    subject_levels: list
    group_levels: list[str] | None
    term_columns: dict[str, list[int]] = field(default_factory=dict)
    random_vars: list[str] = field(default_factory=list)
    n_read: int = 0
    n_missing_response: int = 0
    n_missing_other: int = 0
    #: The file lines of the rows left out, by the (first) empty column: response, then the
    #: subject, time, group and formula variables.
    left_out: dict[str, list[int]] = field(default_factory=dict)
    #: the observation weights of the rows used (None: unweighted)
    weights: np.ndarray | None = None
    weight_name: str | None = None
    group_name: str | None = None
    #: spatial structures: the distinct coordinate points (t, dims) that ``time`` codes, in
    #: lexicographic order, and the columns they come from
    coordinates: np.ndarray | None = None
    coordinate_names: list[str] = field(default_factory=list)

    @cached_property
    def data(self) -> pd.DataFrame:
        """The rows used, factors as categoricals (built on first use)."""
        out = {}
        for name, values in self.columns.items():
            if name in self.factors:
                out[name] = pd.Categorical.from_codes(values, categories=self.factors[name])
            else:
                out[name] = values
        return pd.DataFrame(out)

    @cached_property
    def spec(self):
        """formulaic's model spec (built on first use: the fast path does not need it)."""
        from formulaic import Formula

        return Formula(self.rhs).get_model_matrix(self.data, na_action="raise").model_spec

    def model_matrix(self, frame: pd.DataFrame) -> np.ndarray:
        """Model matrix of ``frame`` (same columns as ``X``), e.g. for a reference grid."""
        if self.terms is not None:
            return coding.model_matrix(frame, self.terms, self.factors)[0]
        return np.asarray(self.spec.get_model_matrix(frame), dtype=float)


_IDENT = re.compile(r"[A-Za-z_.][A-Za-z0-9_.]*")


def formula_variables(formula: str) -> tuple[str, list[str]]:
    """Split ``"y ~ a * b + c"`` into the response and the variables on the right."""
    if "~" not in formula:
        raise DataValidationError(f"formula {formula!r} has no '~': write it as 'y ~ terms'")
    lhs, rhs = formula.split("~", 1)
    response = lhs.strip()
    if not response:
        raise DataValidationError(f"formula {formula!r} has no response on the left of '~'")
    names = []
    for tok in _IDENT.findall(rhs):
        if tok in ("C", "I", "np", "log", "exp") or tok[0].isdigit():
            continue
        if tok not in names:
            names.append(tok)
    return response, names


def row_lines(data: pd.DataFrame) -> np.ndarray:
    """The file line of each row of ``data``: ``data.attrs["lines"]`` when it gives one line per
    row (:func:`xerotrial.tables.read_table` sets it), else the data row + 1 (header on line 1).

    >>> frame = pd.DataFrame({"y": [1.0, 2.0]})
    >>> row_lines(frame).tolist()
    [2, 3]
    >>> frame.attrs["lines"] = [2, 5]
    >>> row_lines(frame).tolist()
    [2, 5]
    """
    lines = data.attrs.get("lines")
    if lines is not None and len(lines) == len(data):
        return np.asarray(lines, dtype=np.int64)
    return np.arange(2, len(data) + 2, dtype=np.int64)


def _lines_text(lines: list[int], first: int = 5) -> str:
    shown = ", ".join(str(n) for n in lines[:first])
    more = f" and {len(lines) - first} more" if len(lines) > first else ""
    return f"line{'s' * (len(lines) > 1)} {shown}{more}"


def left_out_note(design: Design, source: str = "data") -> str | None:
    """One sentence on the rows ``design`` left out (count, why, the first file lines), or None.

    >>> df = pd.DataFrame({"id": [1, None, 2, 2], "t": ["a", "a", "a", "b"],
    ...                    "y": [1.0, 2.0, None, 3.0]})
    >>> print(left_out_note(build_design(df, "y ~ 1", subject="id", time="t"), "d.csv"))
    d.csv: 2 rows left out of the fit: 1 with an empty response 'y' (line 4),
    1 with an empty 'id' (line 3)
    """
    if not design.left_out:
        return None
    n = sum(len(v) for v in design.left_out.values())
    parts = [
        f"{len(lines)} with an empty "
        f"{'response ' if col == design.response else ''}{col!r} ({_lines_text(lines)})"
        for col, lines in design.left_out.items()
    ]
    return f"{source}: {n} row{'s' * (n != 1)} left out of the fit: {', '.join(parts)}"


def _levels_in_order(uniques, order: list[str] | None, name: str, source: str):
    """The levels of a time factor: ``order``, or the values (``uniques``, in order of first
    appearance, missing values left out) as they appear."""
    present = list(dict.fromkeys(str(v) for v in uniques if not pd.isna(v)))
    if order is None:
        return present
    order = [str(v) for v in order]
    missing = [v for v in present if v not in order]
    if missing:
        raise DataValidationError(
            f"{source}: column {name!r} has level(s) {missing} that the given order "
            f"{order} does not list"
        )
    return order


def build_design(
    data: pd.DataFrame,
    formula: str,
    subject: str,
    time: str | None = None,
    group: str | None = None,
    time_order: list[str] | None = None,
    random: list[str] | None = None,
    source: str = "data",
    weights: str | None = None,
    coordinates: list[str] | None = None,
) -> Design:
    """Validate ``data`` and build the fixed-effects design for ``formula``; ``weights``:
    the column of observation weights (positive numbers; a row without one is left out);
    ``coordinates``: the numeric columns that place each observation for a spatial structure
    (instead of ``time``: the distinct points become the time codes)."""
    response, variables = formula_variables(formula)
    if coordinates and time:
        raise DataValidationError(
            f"{source}: a spatial structure places the observations by their coordinates "
            f"{coordinates}; it takes no time factor ({time!r}): put it in the formula instead"
        )
    needed = [response, subject, *variables]
    if weights:
        needed.append(weights)
    needed += list(coordinates or [])
    if time:
        needed.append(time)
    if group:
        needed.append(group)
    for r in random or []:
        needed.append(r)
    missing_cols = [c for c in dict.fromkeys(needed) if c not in data.columns]
    if missing_cols:
        raise DataValidationError(
            f"{source}: column(s) {missing_cols} not found; the file has columns "
            f"{list(data.columns)}. Check the formula and the --subject/--time/--group options."
        )
    cols = list(dict.fromkeys(needed))
    n_read = len(data)
    lines = row_lines(data)
    raw = data[response]
    numeric_response = raw.dtype.kind in "iuf"  # nothing to coerce, nothing suspicious
    resp = (
        raw.to_numpy(dtype=float)
        if numeric_response
        else pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float)
    )
    arrays = {c: data[c].to_numpy() for c in cols if c != response}  # one conversion each
    miss_resp = np.isnan(resp)
    suspicious = (
        np.zeros(1, dtype=bool) if numeric_response else (miss_resp & ~pd.isna(raw.to_numpy()))
    )
    if suspicious.any():
        text = raw.astype(str).str.strip().to_numpy()
        bad = suspicious & (text != "")
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            _refuse(
                source, lines, i, response, raw.iloc[i], f"value {raw.iloc[i]!r} is not a "
                "number; the response must be numeric (leave the cell empty for a missing "
                "value)", "not a number",
            )  # fmt: skip
    _check_finite(source, response, resp, lines, "the response")
    if weights:
        raw_w = data[weights]
        w = pd.to_numeric(raw_w, errors="coerce").to_numpy(dtype=float)
        text = raw_w.astype(str).str.strip().to_numpy()
        bad = (np.isnan(w) & ~pd.isna(raw_w.to_numpy()) & (text != "")) | (w <= 0)
        _check_finite(source, weights, w, lines, "a weight")
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            _refuse(
                source, lines, i, weights, raw_w.iloc[i], f"weight {str(raw_w.iloc[i])!r} is "
                "not a positive number (SAS's WEIGHT and mmrm's weights are positive; leave "
                "the cell empty to leave the row out)", "not a positive number",
            )  # fmt: skip
        arrays[weights] = w
    for c in coordinates or []:
        raw_c = data[c]
        values = pd.to_numeric(raw_c, errors="coerce").to_numpy(dtype=float)
        text = raw_c.astype(str).str.strip().to_numpy()
        bad = np.isnan(values) & ~pd.isna(raw_c.to_numpy()) & (text != "")
        _check_finite(source, c, values, lines, "a coordinate")
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            _refuse(
                source, lines, i, c, raw_c.iloc[i], f"coordinate {str(raw_c.iloc[i])!r} is "
                "not a number (leave the cell empty to leave the row out)", "not a number",
            )  # fmt: skip
        arrays[c] = values
    for v in variables:
        if v != response and arrays[v].dtype.kind == "f":
            _check_finite(source, v, arrays[v], lines, "a numeric covariate")
    factorized: dict[str, tuple] = {}

    def factorize_all(c: str) -> tuple:  # each full column is factorized once
        if c not in factorized:
            factorized[c] = pd.factorize(arrays[c])
        return factorized[c]

    if time:
        s_codes = factorize_all(subject)[0]
        t_raw = factorize_all(time)[0]
        key = s_codes.astype(np.int64) * (t_raw.max() + 2) + t_raw
        key[(s_codes < 0) | (t_raw < 0)] = -1  # an empty subject or time: left out below
        counts = np.bincount(key[key >= 0]) if (key >= 0).any() else np.zeros(0, np.int64)
        if (counts > 1).any():
            dup_key = key[np.flatnonzero((key >= 0) & (counts[np.maximum(key, 0)] > 1))[0]]
            rows = np.flatnonzero(key == dup_key)[:2]
            i = int(rows[0])
            raise DataValidationError(
                f"{source}: lines {lines[rows[0]]} and {lines[rows[1]]}: subject "
                f"{arrays[subject][i]!r} has more than one row at {time} = "
                f"{arrays[time][i]!r}; keep one row per subject and time level"
            )
    miss_any = np.zeros(n_read, dtype=bool)
    for c in arrays:
        miss_any |= pd.isna(arrays[c])
    miss_other = miss_any & ~miss_resp
    keep = ~miss_resp & ~miss_other
    left_out: dict[str, list[int]] = {}
    if not keep.all():
        first = np.where(miss_resp, -1, len(arrays))  # -1: the response, else a column index
        for k, c in reversed(list(enumerate(arrays))):
            first = np.where(~miss_resp & pd.isna(arrays[c]), k, first)
        names = [*arrays]
        for k in sorted(set(first[~keep].tolist())):
            col = response if k < 0 else names[k]
            left_out[col] = lines[~keep & (first == k)].tolist()
    if not keep.any():
        raise DataValidationError(f"{source}: no rows with a non-missing response {response!r}")
    every = bool(keep.all())
    used = dict(arrays) if every else {c: a[keep] for c, a in arrays.items()}
    n_used = int(keep.sum())

    factors: dict[str, list[str]] = {}
    numeric: list[str] = []
    for v in dict.fromkeys([*variables, *([time] if time else [])]):
        col = used[v]
        if v == time:
            levels = _levels_in_order(factorize_all(v)[1], time_order, v, source)
        elif col.dtype.kind in "iuf":
            numeric.append(v)
            used[v] = col.astype(float)
            continue
        else:
            levels = sorted({str(u) for u in pd.unique(col)}, key=_natural_key)
        raw_codes, uniques = factorize_all(v) if every else pd.factorize(col)
        lookup = {lv: i for i, lv in enumerate(levels)}
        codes = np.array([lookup.get(str(u), -1) for u in uniques], dtype=np.int64)[raw_codes]
        if v == time:
            empty = [lv for i, lv in enumerate(levels) if not (codes == i).any()]
            if empty:
                raise DataValidationError(
                    f"{source}: time level(s) {empty} of column {v!r} have no non-missing "
                    f"response; drop them from --time-order or from the data"
                )
        factors[v] = levels
        used[v] = codes

    rhs = formula.split("~", 1)[1]
    terms = coding.parse_terms(rhs, factors, numeric)
    if terms is not None:
        X, names, term_columns = coding.model_matrix_arrays(used, n_used, terms, factors)
    else:
        df = pd.DataFrame(
            {
                v: pd.Categorical.from_codes(used[v], categories=factors[v])
                if v in factors
                else used[v]
                for v in dict.fromkeys(variables)
            }
        )
        from formulaic import Formula  # imported when needed: the fast path does without

        try:
            mm = Formula(rhs).get_model_matrix(df, na_action="raise")
        except Exception as exc:  # formulaic raises many types; name the formula
            raise DataValidationError(
                f"{source}: cannot build the model {formula!r}: {exc}"
            ) from exc
        X = np.asarray(mm, dtype=float)
        names = list(mm.columns)
        term_columns = {
            str(t): list(range(sl.start, sl.stop)) for t, sl in mm.model_spec.term_slices.items()
        }
    rank = np.linalg.matrix_rank(X)
    if rank < X.shape[1]:
        dep = _dependent_columns(X, names)
        raise DataValidationError(
            f"{source}: the design of {formula!r} is not of full rank (rank {rank} < "
            f"{X.shape[1]} columns); column(s) {dep} are linear combinations of the others. "
            "Remove the redundant term or check for empty cells."
        )
    subj_codes, subj_levels = (
        factorize_all(subject) if every else pd.factorize(used[subject], sort=False)
    )
    t_codes = used[time] if time else np.zeros(n_used, dtype=int)
    points = None
    point_labels: list[str] = []
    if coordinates:
        coords = np.column_stack([used[c] for c in coordinates])
        points, t_codes = np.unique(coords, axis=0, return_inverse=True)
        t_codes = t_codes.reshape(-1)
        point_labels = [", ".join(repr(float(x)) for x in pt) for pt in points]
        key = np.asarray(subj_codes, dtype=np.int64) * len(points) + t_codes
        _, first, counts = np.unique(key, return_index=True, return_counts=True)
        if (counts > 1).any():
            dup = key[first[np.flatnonzero(counts > 1)[0]]]
            rows = np.flatnonzero(key == dup)[:2]
            at = np.flatnonzero(keep)[rows]
            raise DataValidationError(
                f"{source}: lines {lines[at[0]]} and {lines[at[1]]}: subject "
                f"{used[subject][rows[0]]!r} has two observations at the same coordinates "
                f"({', '.join(coordinates)} = {point_labels[t_codes[rows[0]]]}); a spatial "
                "structure gives them correlation 1 (a singular covariance): keep one",
                file=source,
                line=int(lines[at[0]]),
                rule="two observations of a subject at one point",
            )
    g_codes = None
    g_levels = None
    if group:
        raw_group = arrays[group] if every else arrays[group][keep]  # used[group] may be codes
        g_text = np.array([str(g) for g in raw_group], dtype=object)
        g_levels = sorted(set(g_text), key=_natural_key)
        g_lookup = {lv: i for i, lv in enumerate(g_levels)}
        g_codes = np.array([g_lookup[g] for g in g_text], dtype=int)
        per_subject = pd.Series(g_codes).groupby(subj_codes).nunique()
        if (per_subject > 1).any():
            raise DataValidationError(
                f"{source}: column {group!r} changes within a subject; a GROUP= factor must "
                "be constant within each subject"
            )
    Z = None
    if random is not None:
        zcols = [np.ones(n_used)] + [pd.to_numeric(used[r]).astype(float) for r in random]
        Z = np.column_stack(zcols)
    model_columns = {v: used[v] for v in dict.fromkeys([*variables, *([time] if time else [])])}
    model_columns[subject] = np.array(used[subject], copy=True)
    return Design(
        y=resp[keep],
        X=X,
        subject=np.asarray(subj_codes),
        time=np.asarray(t_codes, dtype=int),
        group=g_codes,
        Z=Z,
        column_names=names,
        response=response,
        columns=model_columns,
        rhs=rhs,
        terms=terms,
        factors=factors,
        numeric=numeric,
        time_levels=factors.get(time, []) if time else point_labels,
        subject_levels=list(subj_levels),
        group_levels=g_levels,
        term_columns=term_columns,
        random_vars=list(random or []),
        n_read=n_read,
        n_missing_response=int(miss_resp.sum()),
        n_missing_other=int(miss_other.sum()),
        left_out=left_out,
        weights=used[weights].astype(float) if weights else None,
        weight_name=weights or None,
        group_name=group or None,
        coordinates=points,
        coordinate_names=list(coordinates or []),
    )


def _refuse(source: str, lines: np.ndarray, i: int, column: str, value, text: str, rule: str):  # noqa: ANN001
    """Raise the error of data row ``i`` (0-based) of ``column``: file, line, row, value."""
    raise DataValidationError(
        f"{source}: line {lines[i]} (data row {i + 1}), column {column!r}: {text}",
        file=source,
        row=i + 1,
        line=int(lines[i]),
        column=column,
        value=value,
        rule=rule,
    )


def _check_finite(source: str, column: str, values: np.ndarray, lines: np.ndarray, what: str):
    """Refuse an infinite value (a missing value is NaN or an empty cell, never inf)."""
    bad = np.isinf(values)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DataValidationError(
            f"{source}: line {lines[i]} (data row {i + 1}), column {column!r}: value "
            f"{values[i]!r} is not a finite number; {what} must be finite (leave the cell "
            "empty for a missing value)",
            file=source,
            row=i + 1,
            line=int(lines[i]),
            column=column,
            value=float(values[i]),
            rule="not a finite number",
        )


def _natural_key(s: str):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", str(s))]


def _dependent_columns(X: np.ndarray, names: list[str]) -> list[str]:
    keep: list[int] = []
    dep = []
    for j in range(X.shape[1]):
        if np.linalg.matrix_rank(X[:, keep + [j]]) == len(keep) + 1:
            keep.append(j)
        else:
            dep.append(names[j])
    return dep
