"""From a data frame and a formula to the arrays the engine needs (formulaic does the coding).

Factor levels: the time factor keeps the order of first appearance in the data unless an
explicit order is given; other text columns are sorted (as R and SAS sort them). Treatment
coding with the first level as reference, as R does. Rows with a missing response or a
missing model variable are left out and counted.

Example
-------
>>> import pandas as pd
>>> df = pd.DataFrame({"id": [1, 1, 2, 2], "visit": ["v1", "v2", "v1", "v2"],
...                    "y": [1.0, 2.0, 1.5, None]})
>>> d = build_design(df, "y ~ visit", subject="id", time="visit")
>>> d.column_names, d.n_missing_response, d.time_levels
(['Intercept', 'visit[T.v2]'], 1, ['v1', 'v2'])
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from formulaic import Formula, ModelSpec

from .errors import DataValidationError

__all__ = ["Design", "build_design", "formula_variables"]


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
    data: pd.DataFrame  # rows used, with categorical columns
    spec: ModelSpec
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


def _levels_in_order(values: pd.Series, order: list[str] | None, name: str, source: str):
    present = list(dict.fromkeys(values.astype(str)))
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
) -> Design:
    """Validate ``data`` and build the fixed-effects design for ``formula``."""
    response, variables = formula_variables(formula)
    needed = [response, subject, *variables]
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
    df = data.copy()
    n_read = len(df)
    resp = pd.to_numeric(df[response], errors="coerce")
    bad = resp.isna() & df[response].notna() & (df[response].astype(str).str.strip() != "")
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataValidationError(
            f"{source}: line {i + 2} (data row {i + 1}), column {response!r}: "
            f"value {df[response].iloc[i]!r} is not a number; the response must be numeric "
            "(leave the cell empty for a missing value)"
        )
    df[response] = resp
    if time:
        dup = df.duplicated([subject, time], keep=False).to_numpy()
        if dup.any():
            lines = [int(i) + 2 for i in np.flatnonzero(dup)[:2]]
            i = lines[0] - 2
            raise DataValidationError(
                f"{source}: lines {lines[0]} and {lines[1]}: subject {df[subject].iloc[i]!r} "
                f"has more than one row at {time} = {df[time].iloc[i]!r}; keep one row per "
                "subject and time level"
            )
    miss_resp = df[response].isna()
    others = [c for c in dict.fromkeys([subject, *variables, time, group, *(random or [])]) if c]
    miss_other = df[others].isna().any(axis=1) & ~miss_resp
    df = df.loc[~miss_resp & ~miss_other].reset_index(drop=True)
    if df.empty:
        raise DataValidationError(f"{source}: no rows with a non-missing response {response!r}")

    factors: dict[str, list[str]] = {}
    numeric: list[str] = []
    for v in dict.fromkeys([*variables, *([time] if time else [])]):
        col = df[v]
        if v == time:
            levels = _levels_in_order(data[v].dropna(), time_order, v, source)
            used = set(col.astype(str))
            empty = [lv for lv in levels if lv not in used]
            if empty:
                raise DataValidationError(
                    f"{source}: time level(s) {empty} of column {v!r} have no non-missing "
                    f"response; drop them from --time-order or from the data"
                )
            factors[v] = levels
        elif pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
            numeric.append(v)
            continue
        else:
            factors[v] = sorted(dict.fromkeys(col.astype(str)), key=_natural_key)
        df[v] = pd.Categorical(col.astype(str), categories=factors[v])

    rhs = formula.split("~", 1)[1]
    try:
        mm = Formula(rhs).get_model_matrix(df, na_action="raise")
    except Exception as exc:  # formulaic raises many types; name the formula
        raise DataValidationError(f"{source}: cannot build the model {formula!r}: {exc}") from exc
    X = np.asarray(mm, dtype=float)
    names = list(mm.columns)
    rank = np.linalg.matrix_rank(X)
    if rank < X.shape[1]:
        dep = _dependent_columns(X, names)
        raise DataValidationError(
            f"{source}: the design of {formula!r} is not of full rank (rank {rank} < "
            f"{X.shape[1]} columns); column(s) {dep} are linear combinations of the others. "
            "Remove the redundant term or check for empty cells."
        )
    term_columns: dict[str, list[int]] = {}
    for term, sl in mm.model_spec.term_slices.items():
        term_columns[str(term)] = list(range(sl.start, sl.stop))

    subj_codes, subj_levels = pd.factorize(df[subject], sort=False)
    t_codes = df[time].cat.codes.to_numpy() if time else np.zeros(len(df), dtype=int)
    g_codes = None
    g_levels = None
    if group:
        g_levels = sorted(dict.fromkeys(df[group].astype(str)), key=_natural_key)
        g_codes = pd.Categorical(df[group].astype(str), categories=g_levels).codes.astype(int)
        per_subject = pd.Series(g_codes).groupby(subj_codes).nunique()
        if (per_subject > 1).any():
            raise DataValidationError(
                f"{source}: column {group!r} changes within a subject; a GROUP= factor must "
                "be constant within each subject"
            )
    Z = None
    if random is not None:
        cols = [np.ones(len(df))] + [pd.to_numeric(df[r]).to_numpy(float) for r in random]
        Z = np.column_stack(cols)
    return Design(
        y=df[response].to_numpy(float),
        X=X,
        subject=np.asarray(subj_codes),
        time=np.asarray(t_codes, dtype=int),
        group=g_codes,
        Z=Z,
        column_names=names,
        response=response,
        data=df,
        spec=mm.model_spec,
        factors=factors,
        numeric=numeric,
        time_levels=factors.get(time, []) if time else [],
        subject_levels=list(subj_levels),
        group_levels=g_levels,
        term_columns=term_columns,
        random_vars=list(random or []),
        n_read=n_read,
        n_missing_response=int(miss_resp.sum()),
        n_missing_other=int(miss_other.sum()),
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
