"""The fixed-df methods' degrees of freedom per model term, as SAS assigns them.

* ``residual`` (RESIDUAL): N - rank(X) for every test.
* ``containment`` (CONTAIN, SAS's default with RANDOM): a fixed term whose variables all lie in
  the subject effect (the intercept, or a subject-level variable named in the subject) gets the
  rank contribution of the containing random effect to [X Z]; any other term gets
  N - rank([X Z]). Without random effects: N - rank(X).
* ``between-within`` (BW, SAS's default with REPEATED only): between-subject df
  = subjects - rank(between-subject columns); within-subject df = N - subjects - rank of the
  within-subject columns. SAS classifies whole effects: an effect that changes within any
  subject is a within-subject effect. With an unstructured R every term gets the
  between-subject df, as in SAS. (SAS's further split of within df by subject-by-effect
  interaction is not done.)

The rules (``df_table``) take the ranks they need per replicate (``Ranks``): exact ranks of a
fitted data set (``design_ranks``) or ranks from the sufficient statistics of many replicates
(``gram_ranks``).

Example
-------
>>> import numpy as np, pandas as pd
>>> from xerotrial.stats.design import build_design
>>> df = pd.DataFrame({"id": np.repeat([1, 2, 3], 2), "visit": ["a", "b"] * 3,
...                    "y": [1.0, 2.0, 1.5, 2.5, 0.5, 1.0]})
>>> d = build_design(df, "y ~ visit", subject="id", time="visit", random=[])
>>> table = df_table(term_rules(d, "id", g_side=True), design_ranks(d, "id", g_side=True))
>>> {t: float(v["containment"][0]) for t, v in table.items()}
{'1': 2.0, 'visit': 2.0}
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .design import Design
from .grid import term_variables

__all__ = [
    "TermRule",
    "Ranks",
    "term_rules",
    "design_ranks",
    "gram_ranks",
    "df_table",
    "test_df",
    "row_df",
]


@dataclass(frozen=True)
class TermRule:
    """How a model term's fixed df are chosen."""

    columns: tuple[int, ...]
    between: bool  # every column constant within each subject
    blocks: tuple[int, ...]  # random-effect blocks whose variables contain the term's


@dataclass
class Ranks:
    """Per replicate (R,): observations, subjects, rank(X), rank of the between-subject
    columns, and for random effects rank([X Z]) and each block's rank contribution (R, b)."""

    N: np.ndarray
    S: np.ndarray
    rank_x: np.ndarray
    rank_b: np.ndarray
    all_between: bool = False
    rank_xz: np.ndarray | None = None
    contrib: np.ndarray | None = None


def _between_columns(design: Design) -> np.ndarray:
    X, subj = design.X, design.subject
    first = np.zeros(int(subj.max()) + 1, dtype=np.int64)
    first[subj[::-1]] = np.arange(len(subj))[::-1]
    return (X[first[subj]] == X).all(axis=0)


def _random_blocks(design: Design, subject: str) -> list[set[str]]:
    return [{subject}] + [{v, subject} for v in design.random_vars]


def term_rules(design: Design, subject: str, g_side: bool) -> dict[str, TermRule]:
    """Each term's columns, between/within classification and containing random blocks."""
    between_cols = _between_columns(design)
    blocks = _random_blocks(design, subject) if g_side else []
    out = {}
    for term, cols in design.term_columns.items():
        tv = term_variables(term, design)
        out[term] = TermRule(
            tuple(cols),
            bool(np.all(between_cols[cols])),
            tuple(j for j, vs in enumerate(blocks) if tv <= vs),
        )
    return out


def _between_cols(rules: dict[str, TermRule]) -> list[int]:
    return [c for r in rules.values() if r.between for c in r.columns]


def design_ranks(design: Design, subject: str, g_side: bool, all_between: bool = False) -> Ranks:
    """Exact ranks (SVD) of a fitted data set's design, as one replicate."""
    d = design
    N = len(d.y)
    S = len(np.unique(d.subject))
    rank_x = int(np.linalg.matrix_rank(d.X))
    bcols = _between_cols(term_rules(d, subject, g_side))
    rank_b = int(np.linalg.matrix_rank(d.X[:, bcols])) if bcols else 0
    out = Ranks(
        np.array([float(N)]),
        np.array([float(S)]),
        np.array([float(rank_x)]),
        np.array([float(rank_b)]),
        all_between,
    )
    if g_side:
        n_s = len(d.subject_levels)
        ind = np.zeros((N, n_s))
        ind[np.arange(N), d.subject] = 1.0
        Zs = [ind] + [ind * d.Z[:, [j]] for j in range(1, len(d.random_vars) + 1)]
        acc, contrib = d.X, []
        for zb in Zs:
            r0 = np.linalg.matrix_rank(acc)
            acc = np.column_stack([acc, zb])
            contrib.append(float(np.linalg.matrix_rank(acc) - r0))
        out.rank_xz = np.array([float(np.linalg.matrix_rank(acc))])
        out.contrib = np.array([contrib])
    return out


def _gram_rank(G: np.ndarray, rel: float = 1e-10) -> np.ndarray:
    if G.shape[-1] == 0:
        return np.zeros(G.shape[:-2])
    ev = np.linalg.eigvalsh(G)
    top = np.maximum(ev[..., -1:], 0.0)
    return (ev > rel * top).sum(axis=-1).astype(float)


def gram_ranks(
    gram: dict[str, np.ndarray],
    N: np.ndarray,
    S: np.ndarray,
    rules: dict[str, TermRule],
    g_side: bool,
    all_between: bool = False,
) -> Ranks:
    """Ranks per replicate from X'X and X'(I - P_Z)X (``RemlEngine.gram``; random intercept
    only: Z the subject indicators, rank([X Z]) = subjects + rank(X'(I - P_Z)X))."""
    XtX = gram["XtX"]
    bcols = _between_cols(rules)
    rank_x = _gram_rank(XtX)
    rank_b = _gram_rank(XtX[:, bcols][:, :, bcols]) if bcols else np.zeros(len(N))
    out = Ranks(N, S, rank_x, rank_b, all_between)
    if g_side:
        out.rank_xz = S + _gram_rank(gram["within"])
        out.contrib = (out.rank_xz - rank_x)[:, None]
    return out


def df_table(rules: dict[str, TermRule], ranks: Ranks) -> dict[str, dict[str, np.ndarray]]:
    """Per model term, the df (R,) of ``residual``, ``containment`` and ``between-within``."""
    rk = ranks
    resid = rk.N - rk.rank_x
    df_between = rk.S - rk.rank_b
    df_within = rk.N - rk.S - (rk.rank_x - rk.rank_b)
    out = {}
    for term, rule in rules.items():
        if rk.rank_xz is None:
            contain = resid
        elif rule.blocks:
            contain = np.min(rk.contrib[:, list(rule.blocks)], axis=1)
        else:
            contain = rk.N - rk.rank_xz
        within = (not rk.all_between) and not rule.between
        out[term] = {
            "residual": resid,
            "containment": contain,
            "between-within": df_within if within else df_between,
        }
    return out


def test_df(
    table: dict[str, dict[str, np.ndarray]],
    design: Design,
    L: np.ndarray,
    df_method: str,
    term: str | None = None,
) -> np.ndarray:
    """The df (R,) of the test of L b = 0: the named term's, or (no name) the last term with a
    non-zero coefficient in L, as SAS does for ESTIMATE and CONTRAST statements."""
    if term is None or term not in table:
        L = np.atleast_2d(L)
        term = None
        for t, c in design.term_columns.items():
            if np.any(np.abs(L[:, c]) > 0):
                term = t
        if term is None:
            term = next(iter(table))
    return table[term][df_method]


def row_df(
    table: dict[str, dict[str, np.ndarray]],
    design: Design,
    L: np.ndarray,
    df_method: str,
    terms: list | None = None,
) -> np.ndarray:
    """The df (R, rows) of each row of ``L`` (rows, p), each as ``test_df``."""
    L = np.atleast_2d(L)
    terms = terms or [None] * len(L)
    return np.stack(
        [test_df(table, design, row, df_method, term) for row, term in zip(L, terms, strict=True)],
        axis=-1,
    )
