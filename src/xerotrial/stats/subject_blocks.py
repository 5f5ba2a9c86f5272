"""Each subject's rows and marginal covariance V_i at a fitted theta, stacked by size.

The REML engine never needs a subject on its own: it reduces the subjects of a pattern to
sufficient statistics (``patterns.py``). What is computed per subject (the empirical
covariance of the fixed effects, predictions conditional on a subject's observed values,
scaled residuals) starts here: the design rows of every subject with ``n`` observations, in
time order, and their V_i, as arrays (S, n) and (S, n, n).

Example
-------
>>> import numpy as np
>>> from xerotrial.stats.marginal import RepeatedCovariance
>>> subject = np.array([0, 0, 1, 1, 1]); slot = np.array([1, 0, 0, 1, 2])
>>> cov = RepeatedCovariance("cs", 3)
>>> blocks = subject_blocks(cov, np.array([1.0, 2.0]), subject, slot)
>>> [(b.n, b.rows.tolist()) for b in blocks]
[(2, [[1, 0]]), (3, [[2, 3, 4]])]
>>> blocks[0].V[0].tolist()
[[3.0, 1.0], [1.0, 3.0]]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .marginal import MarginalCovariance

__all__ = ["SubjectBlock", "subject_blocks"]


@dataclass
class SubjectBlock:
    """The subjects with ``n`` observations: their design rows (S, n), in time order, their
    subject codes (S,) and V_i (S, n, n)."""

    n: int
    rows: np.ndarray
    subjects: np.ndarray
    V: np.ndarray


def subject_blocks(
    cov: MarginalCovariance,
    theta: np.ndarray,
    subject: np.ndarray,
    slot: np.ndarray,
    group: np.ndarray | None = None,
    Z: np.ndarray | None = None,
    used: np.ndarray | None = None,
) -> list[SubjectBlock]:
    """The blocks of the rows ``used`` (default: all), one per number of observations.

    ``slot`` is a row's time level (R-side) or its position within the subject (G-side), as
    the engine's layout takes it; ``group`` the covariance group of the row, ``Z`` its
    random-effect design row (None: a random intercept alone, or an R-side structure).
    """
    rows = np.arange(len(subject)) if used is None else np.flatnonzero(used)
    order = rows[np.lexsort((slot[rows], subject[rows]))]
    subj = subject[order]
    starts = np.flatnonzero(np.r_[True, subj[1:] != subj[:-1]])
    counts = np.diff(np.r_[starts, len(order)])
    prepared = cov.prepare(np.asarray(theta, dtype=float)[None], 0)
    out = []
    for n in np.unique(counts):
        first = starts[counts == n]
        block = order[first[:, None] + np.arange(n)]  # (S, n)
        S = len(block)
        V, _, _ = cov.unit_matrices(
            prepared,
            np.zeros(S, dtype=np.int64),
            slots=slot[block],
            group=np.zeros(S, dtype=np.int64) if group is None else group[block[:, 0]],
            Z=None if Z is None else Z[block],
            dV=None,
            order=0,
        )
        out.append(SubjectBlock(int(n), block, subject[block[:, 0]], np.asarray(V)))
    return out
