"""The reference grid of a model: the rows L of LS means, their differences and the Type 3
hypotheses, as SAS and emmeans define them.

LS means average the grid of every factor combination with equal weights, numeric
covariates at their mean over the rows used (per replicate when ``means`` are given per
replicate); Type 3 hypotheses hold covariates at zero, as SAS does.

Example
-------
>>> import pandas as pd
>>> from xerotrial.stats.design import build_design
>>> df = pd.DataFrame({"id": [1, 1, 2, 2], "visit": ["v1", "v2", "v1", "v2"],
...                    "y": [1.0, 2.0, 1.5, 2.5]})
>>> d = build_design(df, "y ~ visit", subject="id", time="visit")
>>> L, keys = lsmeans_matrix(d, "visit")
>>> L.tolist(), keys
([[1.0, 0.0], [1.0, 1.0]], [{'visit': 'v1'}, {'visit': 'v2'}])
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

from . import coding
from .design import Design
from .errors import DataValidationError
from .options import LSMEANS_WEIGHTS

__all__ = [
    "term_variables",
    "lsmeans_term",
    "numeric_means",
    "grid_matrix",
    "lsmeans_matrix",
    "reference_pairs",
    "type3_matrix",
    "type2_matrix",
    "LSMEANS_WEIGHTS",
]


def term_variables(term: str, design: Design) -> set[str]:
    """The model variables of a term name (``'arm:visit'`` -> {'arm', 'visit'})."""
    if term in ("1", "Intercept"):
        return set()
    names = set(design.factors) | set(design.numeric)
    return {p.strip() for p in term.split(":") if p.strip() in names}


def lsmeans_term(design: Design, factor: str, by: str | None) -> str | None:
    """The model term whose df the LS means of ``factor`` (by ``by``) use."""
    want = {factor} | ({by} if by else set())
    for term in design.term_columns:
        if term_variables(term, design) == want:
            return term
    for term in design.term_columns:
        if term_variables(term, design) == {factor}:
            return term
    return None


def numeric_means(design: Design) -> dict[str, float]:
    """Each numeric covariate's mean over the rows used."""
    return {v: float(np.mean(design.columns[v])) for v in design.numeric}


def _cache(design: Design) -> dict:
    return design.__dict__.setdefault("_grid_cache", {})


def grid_codes(design: Design) -> np.ndarray:
    """The reference grid: every combination of factor levels, as level codes (G x F)."""
    cache = _cache(design)
    if "codes" not in cache:
        sizes = [len(v) for v in design.factors.values()]
        cache["codes"] = (
            np.array(list(itertools.product(*[range(k) for k in sizes])), dtype=int)
            if sizes
            else np.zeros((1, 0), dtype=int)
        )
    return cache["codes"]


def grid_matrix(
    design: Design,
    means: dict[str, float | np.ndarray] | None = None,
    numeric_delta: str | None = None,
    at_zero: bool = False,
) -> np.ndarray:
    """Model matrix of the reference grid (G x p), numeric covariates at ``means`` (default:
    their mean; zero with ``at_zero``; +1 for the one named by ``numeric_delta``, for slopes by
    differencing). With means of shape (R,) per replicate: (R, G, p)."""
    key = (numeric_delta, at_zero)
    if means is None and key in _cache(design):
        return _cache(design)[key]
    X = _grid_matrix(design, means, numeric_delta, at_zero)
    if means is None:
        X.flags.writeable = False
        _cache(design)[key] = X
    return X


def _grid_matrix(design, means, numeric_delta, at_zero) -> np.ndarray:
    d = design
    codes = grid_codes(d)
    G = len(codes)
    if at_zero:
        means = dict.fromkeys(d.numeric, 0.0)
    elif means is None:
        means = numeric_means(d)
    means = {v: np.asarray(means[v], dtype=float) for v in d.numeric}
    if numeric_delta:
        means[numeric_delta] = means[numeric_delta] + 1.0
    R = max([m.size for m in means.values() if m.ndim] or [0])
    reps = max(R, 1)
    cols = {f: np.tile(codes[:, j], reps) for j, f in enumerate(d.factors)}
    cols.update({v: np.repeat(np.broadcast_to(m, (reps,)), G) for v, m in means.items()})
    if d.terms is not None:
        X = coding.model_matrix_arrays(cols, reps * G, d.terms, d.factors)[0]
    else:
        frame = pd.DataFrame(
            {f: pd.Categorical.from_codes(cols[f], categories=d.factors[f]) for f in d.factors}
        )
        for v in d.numeric:
            frame[v] = cols[v]
        X = d.model_matrix(frame)
    return X.reshape(reps, G, -1) if R else X


def lsmeans_matrix(
    design: Design,
    factor: str,
    by: str | None = None,
    means: dict[str, float | np.ndarray] | None = None,
    weights: str = "equal",
) -> tuple[np.ndarray, list[dict]]:
    """Rows of the LS means of ``factor`` (within each level of ``by``) and their labels;
    (R, rows, p) with per-replicate ``means``. ``weights``: how the other factors' levels are
    averaged over, ``equal`` (SAS's default, emmeans') or ``proportional`` to the frequency
    of each combination of them in the rows fitted (SAS's OM, emmeans
    ``weights = "proportional"``)."""
    if weights not in LSMEANS_WEIGHTS:
        raise DataValidationError(
            f"LS-means weights {weights!r}: choose one of {', '.join(LSMEANS_WEIGHTS)}"
        )
    d = design
    for f in (factor, by):
        if f is not None and f not in d.factors:
            raise DataValidationError(
                f"{f!r} is not a factor of the model; factors are {list(d.factors)}"
            )
    codes = grid_codes(d)
    Xg = grid_matrix(d, means)
    names = list(d.factors)
    nf = len(d.factors[factor])
    cell = codes[:, names.index(factor)]
    if by:
        cell = cell + nf * codes[:, names.index(by)]
    n_rows = nf * (len(d.factors[by]) if by else 1)
    # equal (or observed-margin) weights over the grid rows of each (by level, factor level)
    A = (cell[None, :] == np.arange(n_rows)[:, None]).astype(float)
    if weights == "proportional":
        A *= _margin_counts(d, codes, [f for f in names if f not in (factor, by)])
    with np.errstate(invalid="ignore", divide="ignore"):
        A /= A.sum(axis=1, keepdims=True)
    keys = [
        {factor: lv, **({by: b} if by else {})}
        for b in (d.factors[by] if by else [None])
        for lv in d.factors[factor]
    ]
    return A @ Xg, keys


def _margin_counts(design: Design, codes: np.ndarray, others: list[str]) -> np.ndarray:
    """Per grid row, how many fitted rows have its levels of the factors ``others``."""
    names = list(design.factors)
    if not others:
        return np.ones(len(codes))
    cols = [names.index(f) for f in others]
    data = np.column_stack([design.columns[f] for f in others])
    keys, counts = np.unique(data, axis=0, return_counts=True)
    lookup = {tuple(k): c for k, c in zip(keys.tolist(), counts.tolist(), strict=True)}
    return np.array([lookup.get(tuple(row), 0) for row in codes[:, cols].tolist()], dtype=float)


def reference_pairs(
    design: Design, factor: str, reference: str | None, by: str | None, keys: list[dict]
) -> tuple[str, list[tuple[str, object, int, int]]]:
    """(level, by level, row, reference row) for each level of ``factor`` minus
    ``reference`` (default: the first level) within ``by``, and the reference level."""
    levels = design.factors[factor]
    reference = levels[0] if reference is None else str(reference)
    if reference not in levels:
        raise DataValidationError(
            f"--reference {reference!r} is not a level of {factor!r}; levels are {levels}"
        )
    pairs = []
    for b in design.factors[by] if by else [None]:
        idx = {k[factor]: i for i, k in enumerate(keys) if by is None or k[by] == b}
        pairs += [(lv, b, idx[lv], idx[reference]) for lv in levels if lv != reference]
    return reference, pairs


def type3_matrix(design: Design, term: str) -> np.ndarray:
    """Rows of the Type 3 hypothesis of ``term``.

    The contrasts among cell means split into components, one per subset of a term's
    factors (with its numeric variables as slopes). A term's hypothesis holds its own
    component plus every sub-component that is not a model term itself (so ``a:b`` without
    ``a`` and ``b`` tests all cell differences, as SAS does); with a hierarchical model this
    is the usual interaction contrast. Numeric covariates are held at zero, as in SAS
    (emmeans's ``joint_tests`` holds them at their mean instead).
    """
    d = design
    tv = term_variables(term, d)
    tn = [v for v in d.numeric if v in tv]
    tf = [v for v in d.factors if v in tv]
    model_terms = {frozenset(term_variables(t, d)) for t in d.term_columns}
    rows = []
    for k in range(len(tf) + 1):
        for sub in itertools.combinations(tf, k):
            comp = frozenset(tn) | frozenset(sub)
            if not comp:
                continue  # the intercept
            if comp != frozenset(tv) and comp in model_terms:
                continue
            rows.append(_component_contrasts(d, list(sub), tn))
    return np.vstack(rows)


def _component_contrasts(d: Design, factors: list[str], numerics: list[str]) -> np.ndarray:
    """Difference contrasts among the (slope-)means of ``factors``' level combinations."""
    names = list(d.factors)
    codes = grid_codes(d)
    # SAS's Type 3 hypotheses hold covariates at zero (SAS does not centre them)
    Xg = grid_matrix(d, at_zero=True)
    for v in numerics:  # slopes: derivative of the prediction in the numeric variable
        Xg = grid_matrix(d, numeric_delta=v, at_zero=True) - Xg
    if not factors:
        return Xg.mean(axis=0)[None, :]
    means = []
    for cell in itertools.product(*[range(len(d.factors[f])) for f in factors]):
        mask = np.ones(len(codes), dtype=bool)
        for f, lv in zip(factors, cell, strict=True):
            mask &= codes[:, names.index(f)] == lv
        means.append(Xg[mask].mean(axis=0))
    C = np.ones((1, 1))
    for f in factors:
        k = len(d.factors[f])
        C = np.kron(C, np.hstack([np.eye(k - 1), -np.ones((k - 1, 1))]))
    return C @ np.array(means)


def type2_matrix(design: Design, term: str) -> np.ndarray:
    """Rows of the Type II hypothesis of ``term`` (SAS HTYPE=2, car and mmrm's ``Anova``):
    the term's coefficients, adjusted for every term that contains it with only factors
    added, by the fitted rows' X (with X_0 the columns of all other terms,
    (X_1'M X_1)^-1 X_1'M X_2 on a containing term's columns, M = I - P_{X_0}).
    A model without an intercept is refused."""
    d = design
    if "1" not in d.term_columns and "Intercept" not in d.term_columns:
        raise DataValidationError("Type II tests are implemented for models with an intercept")
    tv = term_variables(term, d)
    cols = d.term_columns[term]
    L = np.zeros((len(cols), d.X.shape[1]))
    L[:, cols] = np.eye(len(cols))
    for other, ocols in d.term_columns.items():
        ov = term_variables(other, d)
        if other == term or not tv < ov or not (ov - tv) <= set(d.factors):
            continue
        rest = [j for j in range(d.X.shape[1]) if j not in cols and j not in ocols]
        X0 = d.X[:, rest]

        def residual(A: np.ndarray, X0: np.ndarray = X0) -> np.ndarray:
            return A - X0 @ np.linalg.lstsq(X0, A, rcond=None)[0]

        r1, r2 = residual(d.X[:, cols]), residual(d.X[:, ocols])
        L[:, ocols] = np.linalg.solve(r1.T @ r1, r1.T @ r2)
    L[np.abs(L) < np.sqrt(np.finfo(float).eps)] = 0.0
    return L
