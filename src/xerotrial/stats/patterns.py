"""Subjects grouped by covariance pattern, patterns grouped by size: the data layout of the
REML engine, for one data set or many replicates at once.

A *pattern* is what makes two subjects share V_i: for R-side structures the covariance group
and the set of time levels observed, for G-side models the random-effect design rows. A
*unit* is one pattern in one replicate; its subjects are reduced once to sufficient
statistics (with y first centred on its least-squares fit, per replicate),

    XX[a,b] = sum_i X_ia X_ib'   (n x n x p x p),   Xy[a,b] = sum_i X_ia y_ib,   yy = sum_i y_i y_i'

Units of the same size n are stacked (``SizeGroup``), so the engine evaluates a trial with
hundreds of missingness patterns, or a thousand simulated trials, with a few array
operations per size rather than a Python loop per pattern.

The data arrive in long form: ``y`` (R, rows) with NaN for a missing response, ``X`` (rows,
p) shared by the replicates or (R, rows, p), and per row the subject, the time slot (the
time level; for G-side models any position unique within the subject), the covariance
group and the random-effect design row.

Example
-------
>>> import numpy as np
>>> subject = np.repeat(np.arange(3), 2); slot = np.tile(np.arange(2), 3)
>>> y = np.array([[1.0, 2.0, 1.5, np.nan, 0.5, 1.0]])          # one replicate
>>> lay = build_layout(y, np.ones((6, 1)), subject, slot)
>>> [(g.n, g.m.tolist()) for g in lay.groups], lay.n_obs.tolist(), lay.n_patterns
([(1, [1.0]), (2, [2.0])], [5.0], 2)
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from .errors import DataValidationError
from .linalg import solve

__all__ = ["SizeGroup", "Layout", "build_layout"]


@dataclass
class SizeGroup:
    """The units (pattern x replicate) whose subjects have ``n`` observations each."""

    n: int
    rep: np.ndarray  # (U,) replicate of each unit, ascending
    m: np.ndarray  # (U,) number of subjects (float)
    slots: np.ndarray  # (U, n) time slots of the pattern (R-side patterns)
    group: np.ndarray  # (U,) covariance group
    Z: np.ndarray | None  # (U, n, q) random-effect rows (G-side; None: an intercept alone)
    dV: np.ndarray | None = None  # noqa: N815 - (U, K, n, n) when dV does not depend on theta
    sparse: object = None  # the engine's sparse form of dV, when contracting with it pays
    # one data set (R = 1): its subjects' rows, for the engine's subject-level sums; the
    # units' statistics are then formed when first asked for
    Xs: np.ndarray | None = None  # (M, n, p) design rows of each subject
    ys: np.ndarray | None = None  # (M, n) centred responses
    member_unit: np.ndarray | None = None  # (M,) each subject's unit in this group, ascending
    xx: np.ndarray | None = None  # (U, n, n, p, p), see XX
    xyy: np.ndarray | None = None  # (U, n, n, p + 1), see Xyy

    def _unit_sums(self) -> None:
        if self.xx is None:
            self.xx, self.xyy = _unit_statistics(self.Xs, self.ys, self.m.astype(np.int64))

    @property
    def XX(self) -> np.ndarray:  # (U, n, n, p, p)
        self._unit_sums()
        return self.xx

    @property
    def Xyy(self) -> np.ndarray:  # (U, n, n, p + 1): Xy and yy side by side
        self._unit_sums()
        return self.xyy

    @cached_property
    def starts(self) -> np.ndarray:
        """Each unit's first subject in Xs (single data set)."""
        return np.searchsorted(self.member_unit, np.arange(len(self.m)))

    @property
    def Xy(self) -> np.ndarray:  # (U, n, n, p)
        return self.Xyy[..., :-1]

    @property
    def yy(self) -> np.ndarray:  # (U, n, n)
        if self.xyy is None:  # single data set: from the subjects, without the X sums
            return np.add.reduceat(self.ys[:, :, None] * self.ys[:, None, :], self.starts)
        return self.Xyy[..., -1]


@dataclass
class Layout:
    """All units of all replicates, by size; per replicate N, subjects and the centring b0."""

    R: int
    p: int
    groups: list[SizeGroup]
    n_obs: np.ndarray  # (R,)
    n_subjects: np.ndarray  # (R,)
    beta0: np.ndarray  # (R, p): y was centred on X b0 before forming the statistics
    n_patterns: int


def _centring(y: np.ndarray, X: np.ndarray, obs: np.ndarray) -> np.ndarray:
    """Least-squares b0 per replicate (normal equations, lstsq when they are singular).

    REML and ML are invariant to the shift y -> y - X b0 (beta moves by b0), and without it
    y'V^-1 y - beta'c cancels catastrophically when the mean is large next to the residual SD
    (a mean of 25 and an SD of 0.02 leave -2 log L with noise above the last Newton
    decrements). Any b0 will do (its own rounding cancels exactly)."""
    R, p = y.shape[0], X.shape[-1]
    yz = np.where(obs, y, 0.0)
    if X.ndim == 2 and R == 1 and obs.all():
        XtX, Xty = (X.T @ X)[None], yz @ X
    elif X.ndim == 2:
        # X'X and X'y of every replicate as two matrix products over the rows
        outer = (X[:, :, None] * X[:, None, :]).reshape(len(X), p * p)
        XtX = (obs @ outer).reshape(R, p, p)
        Xty = yz @ X
    else:
        Xw = np.swapaxes(X, 1, 2) * obs[:, None, :]
        XtX = Xw @ X
        Xty = (Xw @ yz[..., None])[..., 0]
    try:
        beta0 = solve(XtX, Xty[..., None])[..., 0]
    except np.linalg.LinAlgError:
        beta0 = np.full((R, p), np.nan)
        for r in range(R):
            with contextlib.suppress(np.linalg.LinAlgError):
                beta0[r] = np.linalg.solve(XtX[r], Xty[r])
    if np.isfinite(beta0).all():
        return beta0
    for r in np.flatnonzero(~np.isfinite(beta0).all(axis=1)):
        Xr = X if X.ndim == 2 else X[r]
        finite = np.isfinite(yz[r]).all() and np.isfinite(Xr[obs[r]]).all() and obs[r].any()
        beta0[r] = (
            np.linalg.lstsq(Xr[obs[r]], y[r, obs[r]], rcond=None)[0] if finite else 0.0
        )  # no data or non-finite data: no centring
    return beta0


def _unit_statistics(Xm: np.ndarray, ym: np.ndarray, counts: np.ndarray):
    """XX (U, n, n, p, p) and Xyy (U, n, n, p + 1) of units whose members' rows are Xm
    (M, n, p) and ym (M, n), sorted by unit, ``counts`` per unit."""
    M, n, p = Xm.shape
    npp = n * p
    Gm = _unit_gram(np.concatenate([Xm.reshape(M, npp), ym], axis=1), counts)
    return _arrange(Gm[:, :npp, :npp], Gm[:, :npp, npp:], Gm[:, npp:, npp:], n, p)


def _arrange(XX, Xy, yy, n: int, p: int):
    """The sums by (row, row) pair: XX (U, n, n, p, p) and Xy beside yy (U, n, n, p + 1)."""
    return (
        np.ascontiguousarray(XX.reshape(-1, n, p, n, p).transpose(0, 1, 3, 2, 4)),
        np.concatenate(
            [Xy.reshape(-1, n, p, n).transpose(0, 1, 3, 2), yy.reshape(-1, n, n, 1)], axis=-1
        ),
    )


def _unit_gram(B: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """sum over each unit's rows of B_i B_i' (rows sorted by unit, ``counts`` per unit).

    Units with the same number of rows are one batched matrix product; there are at most
    sqrt(2 * rows) distinct counts."""
    U = len(counts)
    if U == 1:
        return (B.T @ B)[None]
    if (counts == counts[0]).all():
        blk = B.reshape(U, int(counts[0]), -1)
        return np.swapaxes(blk, 1, 2) @ blk
    out = np.empty((U, B.shape[1], B.shape[1]))
    start = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
    order = np.argsort(counts, kind="stable")
    c_sorted = counts[order]
    shift = start[order] - np.concatenate([[0], np.cumsum(c_sorted)[:-1]])
    Bs = B[np.repeat(shift, c_sorted) + np.arange(int(c_sorted.sum()))]
    values, k_units = np.unique(c_sorted, return_counts=True)
    row = unit = 0
    for c, k in zip(values.tolist(), k_units.tolist(), strict=True):
        blk = Bs[row : row + k * c].reshape(k, c, -1)
        out[order[unit : unit + k]] = np.swapaxes(blk, 1, 2) @ blk
        row, unit = row + k * c, unit + k
    return out


def _shared_statistics(X, rows, combo, ym, unit, U):
    """XX, Xy and yy of every unit when the replicates share X and the members' designs
    repeat (simulated trials): each distinct member design (``combo``) is formed once, and
    the units' sums are a few matrix products over them."""
    combos, first, which = np.unique(combo, return_index=True, return_inverse=True)
    C, n = len(combos), ym.shape[1]
    Bc = X[rows[first]].reshape(C, -1)  # (C, n p)
    outer = (Bc[:, :, None] * Bc[:, None, :]).reshape(C, -1)
    tally = np.bincount(unit * C + which, minlength=U * C).reshape(U, C).astype(float)
    XX = (tally @ outer).reshape(U, Bc.shape[1], Bc.shape[1])
    Y = np.zeros((C, U, n))
    Y[which, unit] = ym  # a design appears at most once in a unit (it is one subject's)
    Xy = (Bc.T @ Y.reshape(C, U * n)).reshape(-1, U, n).transpose(1, 0, 2)
    yy = np.einsum("cua,cub->uab", Y, Y)
    return XX, Xy, yy


def _codes(key: np.ndarray) -> tuple[np.ndarray, int]:
    """Dense codes 0..k-1 of non-negative integer keys, in key order, and k."""
    if not len(key):
        return key.astype(np.int64), 0
    top = int(key.max())
    if top < 4 * len(key) + 1024:  # a lookup table beats sorting
        present = np.zeros(top + 1, dtype=bool)
        present[key] = True
        return (np.cumsum(present) - 1)[key], int(present.sum())
    uniq, inverse = np.unique(key, return_inverse=True)
    return inverse.ravel(), len(uniq)


def _pattern_keys(obs3, count, rs, g_subject, Zcube, uses_time, order):
    """One key per present (replicate, subject): equal keys share V_i."""
    R, S, T = obs3.shape
    s_m = rs % S
    flat = obs3.reshape(R * S, T)[rs]
    if uses_time and Zcube is not None:  # R-side beside random effects: slots and Z rows
        Zk = np.where(flat[..., None], Zcube[s_m], 0.0).reshape(len(rs), -1)
        rows = np.column_stack([g_subject[s_m], flat, Zk]).astype(float)
        return np.unique(rows, axis=0, return_inverse=True)[1].ravel()
    if uses_time:
        G = int(g_subject.max()) + 1 if len(g_subject) else 1
        if T + int(np.ceil(np.log2(max(G, 1)))) < 62:
            weights = (1 << np.arange(T - 1, -1, -1)).astype(np.int64)
            key = g_subject[s_m].astype(np.int64) * (1 << T) + flat.astype(np.int64) @ weights
            return _codes(key)[0]
        rows = np.column_stack([g_subject[s_m], flat]).astype(np.int64)
        return np.unique(rows, axis=0, return_inverse=True)[1].ravel()
    n_m = count.reshape(-1)[rs]
    if Zcube is None:
        return _codes(n_m)[0]
    q = Zcube.shape[-1]
    Zk = Zcube[s_m[:, None], order]  # (M, T, q), compacted to the observed slots
    Zk = np.where((np.arange(T)[None, :] < n_m[:, None])[..., None], Zk, 0.0)
    rows = np.column_stack([n_m.astype(float), Zk.reshape(len(rs), T * q)])
    return np.unique(rows, axis=0, return_inverse=True)[1].ravel()


def build_layout(
    y: np.ndarray,
    X: np.ndarray,
    subject: np.ndarray,
    slot: np.ndarray,
    group: np.ndarray | None = None,
    Z: np.ndarray | None = None,
    uses_time: bool = True,
) -> Layout:
    """Group the subjects of every replicate by pattern and form the units' statistics."""
    y = np.atleast_2d(np.asarray(y, dtype=float))
    X = np.asarray(X, dtype=float)
    R, nrow = y.shape
    p = X.shape[-1]
    subject = np.asarray(subject, dtype=np.int64)
    slot = np.asarray(slot, dtype=np.int64)
    S = int(subject.max()) + 1 if nrow else 0
    T = int(slot.max()) + 1 if nrow else 0
    where = np.full((S, T), -1, dtype=np.int64)
    where[subject, slot] = np.arange(nrow)
    if int((where >= 0).sum()) != nrow:
        raise DataValidationError("a subject has two rows at one time level")
    obs = ~np.isnan(y)
    beta0 = _centring(y, X, obs)
    yw = y - ((X @ beta0.T).T if X.ndim == 2 else (X @ beta0[..., None])[..., 0])
    valid = where >= 0
    obs3 = np.zeros((R, S, T), dtype=bool)
    obs3[:, valid] = obs[:, where[valid]]
    count = obs3.sum(axis=2)
    rs = np.flatnonzero(count.reshape(-1) > 0)  # present (replicate, subject) pairs
    r_m, s_m = rs // max(S, 1), rs % max(S, 1)
    n_m = count.reshape(-1)[rs]
    flat = obs3.reshape(R * S, T)[rs]
    order = np.argsort(~flat, axis=1, kind="stable")  # observed slots first, in time order
    g_subject = np.zeros(S, dtype=np.int64)
    if group is not None:
        g_subject[subject] = group
    Zcube = None
    if Z is not None and not (Z.shape[1] == 1 and np.all(Z == 1.0)):
        Zcube = np.zeros((S, T, Z.shape[1]))
        Zcube[subject, slot] = Z
    pat = _pattern_keys(obs3, count, rs, g_subject, Zcube, uses_time, order)
    P = int(pat.max()) + 1 if len(pat) else 0
    # a unit: one pattern in one replicate
    unit_of, U = (pat, P) if R == 1 else _codes(r_m * P + pat)
    m = np.bincount(unit_of, minlength=U)
    u_size = np.zeros(U, dtype=np.int64)
    u_size[unit_of] = n_m
    u_key = np.zeros(U, dtype=np.int64)
    u_key[unit_of] = r_m * P + pat
    u_rep = u_key // max(P, 1)
    # members sorted by (size, unit): each size group is one slice
    by_unit = np.argsort(u_size[unit_of] * U + unit_of, kind="stable")
    u_order = np.argsort(u_size, kind="stable")
    lead_of = np.empty(U, dtype=np.int64)  # each unit's first member
    lead_of[u_order] = by_unit[np.concatenate([[0], np.cumsum(m[u_order])[:-1]]).astype(np.int64)]
    n_units = np.bincount(u_size)
    sizes = np.flatnonzero(n_units)
    n_units = n_units[sizes]
    # a member's design rows are fixed by its subject and observed slots
    bits = None
    if R > 1 and T < 48:
        bits = flat.astype(np.int64) @ (1 << np.arange(T)).astype(np.int64)
    single = R == 1 and X.ndim == 2  # keep the subjects' rows; unit sums when asked for
    groups = []
    first_m = first_u = 0
    for n, k in zip(sizes.tolist(), n_units.tolist(), strict=True):
        ug = u_order[first_u : first_u + k]
        mu = m[ug]
        mem = by_unit[first_m : first_m + int(mu.sum())]
        first_u, first_m = first_u + k, first_m + len(mem)
        rows = where[s_m[mem, None], order[mem, :n]]  # (M, n)
        Xm = X[rows] if X.ndim == 2 else X[r_m[mem, None], rows]
        ym = yw[r_m[mem, None], rows]
        xx = xyy = None
        if not single:
            shared = bits is not None and X.ndim == 2 and len(mem) >= 4 * k
            if shared:
                combo = s_m[mem] * (1 << T) + bits[mem]
                shared = len(mem) >= 4 * len(np.unique(combo)) and k * S < 2e7
            if shared:
                local = np.searchsorted(ug, unit_of[mem])
                xx, xyy = _arrange(*_shared_statistics(X, rows, combo, ym, local, k), n, p)
            else:
                xx, xyy = _unit_statistics(Xm, ym, mu)
        lead = lead_of[ug]
        slots = order[lead, :n]
        Zu = None  # the random-effect rows, unless a random intercept alone
        if Zcube is not None:
            Zu = Z[where[s_m[lead, None], slots]]
        groups.append(
            SizeGroup(
                n=n,
                rep=u_rep[ug],
                m=mu.astype(float),
                slots=slots,
                group=g_subject[s_m[lead]],
                Z=Zu,
                Xs=Xm if single else None,
                ys=ym if single else None,
                member_unit=np.searchsorted(ug, unit_of[mem]) if single else None,
                xx=xx,
                xyy=xyy,
            )
        )
    n_obs = count.sum(axis=1).astype(float)
    n_subjects = (count > 0).sum(axis=1).astype(float)
    return Layout(R, p, groups, n_obs, n_subjects, beta0, P)
