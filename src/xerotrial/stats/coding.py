"""Treatment-coded model matrices for plain hierarchical formulas, without formulaic's overhead.

For a right-hand side made of variable names joined by ``+``, ``:`` and ``*`` (with ``1``,
``0`` or ``- 1``) in which every term's sub-terms are present (hierarchical), formulaic's
full-rank coding is plain treatment coding of every factor. This module builds exactly the
columns formulaic builds (same order, same names: the test suite checks it) in a fraction of
the time; anything else (transforms, non-hierarchical terms) returns None and the caller uses
formulaic.

Example
-------
>>> import pandas as pd
>>> df = pd.DataFrame({"a": pd.Categorical(["x", "y", "x"]), "u": [1.0, 2.0, 3.0]})
>>> terms = parse_terms("a * u", {"a": ["x", "y"]}, ["u"])
>>> X, names, slices = model_matrix(df, terms, {"a": ["x", "y"]})
>>> names
['Intercept', 'a[T.y]', 'u', 'a[T.y]:u']
"""

from __future__ import annotations

import itertools
import re

import numpy as np
import pandas as pd

__all__ = ["parse_terms", "model_matrix", "model_matrix_arrays"]

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")


def parse_terms(
    rhs: str, factors: dict[str, list[str]], numeric: list[str]
) -> list[tuple[str, ...]] | None:
    """Terms of ``rhs`` in formulaic's order (by degree, then first appearance); () is the
    intercept. None when the formula is outside the fast path."""
    text = rhs.replace(" ", "")
    if not text or any(c in text for c in "()^/%|~"):
        return None
    intercept = True
    terms: list[tuple[str, ...]] = []
    for piece in re.split(r"(?=[+-])", text):
        if not piece:
            continue
        sign, body = (piece[0], piece[1:]) if piece[0] in "+-" else ("+", piece)
        if body == "1":
            intercept = sign == "+"
            continue
        if body == "0":
            intercept = sign == "-"
            continue
        if sign == "-":
            return None
        if "*" in body:
            names = body.split("*")
            expanded = [
                combo
                for k in range(1, len(names) + 1)
                for combo in itertools.combinations(names, k)
            ]
        else:
            expanded = [tuple(body.split(":"))]
        for term in expanded:
            if not all(_NAME.match(v) and (v in factors or v in numeric) for v in term):
                return None
            if len(set(term)) != len(term):
                return None
            if frozenset(term) not in {frozenset(t) for t in terms}:
                terms.append(term)
    if not intercept:
        return None  # no-intercept coding uses full dummies: leave it to formulaic
    present = {frozenset(t) for t in terms} | {frozenset()}
    for term in terms:
        for k in range(len(term)):
            for sub in itertools.combinations(term, k):
                if frozenset(sub) not in present:
                    return None
    ordered = sorted(terms, key=len)  # stable: first appearance within a degree
    return [(), *ordered]


def model_matrix(
    frame: pd.DataFrame, terms: list[tuple[str, ...]], factors: dict[str, list[str]]
) -> tuple[np.ndarray, list[str], dict[str, list[int]]]:
    """Model matrix, column names and term -> column indices for ``terms`` on ``frame``."""
    used = {v for t in terms for v in t}
    columns = {
        v: _codes(frame[v], factors[v]) if v in factors else frame[v].to_numpy(dtype=float)
        for v in used
    }
    return model_matrix_arrays(columns, len(frame), terms, factors)


def model_matrix_arrays(
    columns: dict[str, np.ndarray],
    n: int,
    terms: list[tuple[str, ...]],
    factors: dict[str, list[str]],
) -> tuple[np.ndarray, list[str], dict[str, list[int]]]:
    """As ``model_matrix``, from arrays: integer level codes for factors, floats otherwise."""
    cols: list[np.ndarray] = []
    names: list[str] = []
    slices: dict[str, list[int]] = {}
    for term in terms:
        start = len(cols)
        if not term:
            cols.append(np.ones(n))
            names.append("Intercept")
            slices["1"] = [0]
            continue
        facs = [v for v in term if v in factors]
        # formulaic: the first factor varies fastest
        level_sets = [range(1, len(factors[f])) for f in facs]
        for combo in itertools.product(*reversed(level_sets)):
            combo = combo[::-1]
            col = np.ones(n)
            parts = []
            it = iter(zip(facs, combo, strict=True))
            for v in term:
                if v in factors:
                    f, lv = next(it)
                    col = col * (columns[f] == lv)
                    parts.append(f"{f}[T.{factors[f][lv]}]")
                else:
                    col = col * columns[v]
                    parts.append(v)
            cols.append(col)
            names.append(":".join(parts))
        slices[":".join(term)] = list(range(start, len(cols)))
    return np.column_stack(cols), names, slices


def _codes(column: pd.Series, levels: list[str]) -> np.ndarray:
    if isinstance(column.dtype, pd.CategoricalDtype) and list(column.cat.categories) == levels:
        return column.cat.codes.to_numpy()
    return pd.Index(levels).get_indexer(column.astype(str))
