"""Degrees of freedom and Wald tests for estimable functions L b of a fitted mixed model.

Methods (names as on the command line, SAS's DDFM= in brackets):

* ``residual`` (RESIDUAL): N - rank(X) for every test.
* ``containment`` (CONTAIN, SAS's default with RANDOM): a fixed term whose variables all lie in
  the subject effect (the intercept, or a subject-level variable named in the subject) gets the
  rank contribution of the containing random effect to [X Z]; any other term gets
  N - rank([X Z]). Without random effects: N - rank(X).
* ``between-within`` (BW, SAS's default with REPEATED only): between-subject df
  = subjects - rank(between-subject columns); within-subject df = N - subjects - rank of the
  within-subject columns. With an unstructured R every term gets the between-subject df, as in
  SAS. (SAS's further split of within df by subject-by-effect interaction is not done.)
* ``satterthwaite`` (SATTERTHWAITE): Satterthwaite (1946) with the observed information of the
  covariance parameters, and for F tests the eigen-decomposition approach SAS and lmerTest use.
* ``kenward-roger`` (KR): Kenward & Roger (1997): adjusted covariance Phi_A of b (with the second
  derivative terms of V) and the scaled F with its df.
* ``kenward-roger-linear`` (KR(LINEAR)): the same without second derivatives of V.

Example
-------
>>> sorted(DF_METHODS)[:3]
['between-within', 'containment', 'kenward-roger']
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special, stats

from ._einsum import einsum
from .options import DF_METHODS

__all__ = ["DF_METHODS", "Test", "KRAdjustment", "kr_adjustment", "t_tests", "wald_test"]


@dataclass(frozen=True)
class Test:
    """Result of testing L b = 0 (one row: a t test; several: an F test)."""

    estimate: np.ndarray
    se: np.ndarray
    num_df: int
    den_df: float
    statistic: float  # t for one row, F for several
    p_value: float


@dataclass(frozen=True)
class KRAdjustment:
    """Kenward-Roger ingredients: adjusted covariance of b and the derivative matrices."""

    Phi_A: np.ndarray
    P: np.ndarray  # (K, p, p)
    W: np.ndarray  # (K, K)


def kr_adjustment(Phi: np.ndarray, W: np.ndarray, P, Q, R, linear: bool) -> KRAdjustment:
    """Phi_A = Phi + 2 Phi Lambda Phi, Lambda = sum_ij W_ij (Q_ij - P_i Phi P_j - R_ij / 4)."""
    PPhiP = (P @ Phi)[:, None] @ P[None]  # (K, K, p, p): P_i Phi P_j
    inner = Q - PPhiP
    if not linear:
        inner = inner - 0.25 * R
    Lam = einsum("ij,ijab->ab", W, inner)
    Phi_A = Phi + 2.0 * Phi @ Lam @ Phi
    return KRAdjustment(0.5 * (Phi_A + Phi_A.T), P, W)


def _independent_rows(L: np.ndarray, tol: float = 1e-9) -> np.ndarray:
    keep: list[np.ndarray] = []
    for row in L:
        cand = np.array(keep + [row])
        if np.linalg.matrix_rank(cand, tol=tol * max(1.0, np.abs(cand).max())) == len(cand):
            keep.append(row)
    return np.array(keep) if keep else np.zeros((0, L.shape[1]))


def satterthwaite_df(L: np.ndarray, Phi: np.ndarray, P: np.ndarray, W: np.ndarray) -> float:
    """Satterthwaite df for L b (one row) or the F test of L b = 0 (several rows)."""
    C = L @ Phi @ L.T
    q = L.shape[0]
    if q == 1:
        l = L[0]
        v = l @ Phi
        g = -einsum("a,kab,b->k", v, P, v)  # d(l' Phi l)/dtheta = l' Phi B_k Phi l
        denom = g @ W @ g
        return float(2.0 * C[0, 0] ** 2 / denom) if denom > 0 else np.inf
    evals, evecs = np.linalg.eigh(C)
    nus = []
    for m in range(q):
        lm = evecs[:, m] @ L
        nus.append(satterthwaite_df(lm[None, :], Phi, P, W))
    nus = np.array(nus)
    E = float(np.sum(np.where(nus > 2, nus / (nus - 2.0), 0.0)))
    return float(2.0 * E / (E - q)) if q < E else 0.0


def kenward_roger_test(L: np.ndarray, beta: np.ndarray, Phi: np.ndarray, kr: KRAdjustment):
    """KR-scaled F (t^2 for one row) and its df, following Kenward & Roger (1997)."""
    q = L.shape[0]
    # As SAS and mmrm do, Theta (and so the df and lambda) uses the unadjusted Phi;
    # only the F statistic itself uses the adjusted Phi_A.
    Theta = L.T @ np.linalg.solve(L @ Phi @ L.T, L)
    Cinv = np.linalg.inv(L @ kr.Phi_A @ L.T)
    M = einsum("ab,bc,kcd,de->kae", Theta, Phi, kr.P, Phi)  # Theta Phi P_k Phi
    tr = einsum("kaa->k", M)
    A1 = float(tr @ kr.W @ tr)
    A2 = float(einsum("ij,iab,jba->", kr.W, M, M))
    B = (A1 + 6.0 * A2) / (2.0 * q)
    g = ((q + 1.0) * A1 - (q + 4.0) * A2) / ((q + 2.0) * A2)
    d = 3.0 * q + 2.0 * (1.0 - g)
    c1, c2, c3 = g / d, (q - g) / d, (q + 2.0 - g) / d
    Estar = 1.0 / (1.0 - A2 / q)
    Vstar = (2.0 / q) * (1.0 + c1 * B) / ((1.0 - c2 * B) ** 2 * (1.0 - c3 * B))
    rho = Vstar / (2.0 * Estar**2)
    m = 4.0 + (q + 2.0) / (q * rho - 1.0)
    lam = m / (Estar * (m - 2.0))
    est = L @ beta
    F = float(est @ Cinv @ est) / q
    return lam * F, m, lam


def wald_test(
    L: np.ndarray,
    beta: np.ndarray,
    Phi: np.ndarray,
    df_method: str,
    fixed_df: float | None = None,
    P: np.ndarray | None = None,
    W: np.ndarray | None = None,
    kr: KRAdjustment | None = None,
) -> Test:
    """Test L b = 0 with the given df method (the df itself for fixed-df methods)."""
    L = np.atleast_2d(np.asarray(L, dtype=float))
    if L.shape[0] > 1:
        L = _independent_rows(L)
    q = L.shape[0]
    est = L @ beta
    cov = L @ (kr.Phi_A if kr is not None else Phi) @ L.T
    se = np.sqrt(np.clip(np.diag(cov), 0.0, None))
    if df_method in ("kenward-roger", "kenward-roger-linear"):
        Fstar, df, _ = kenward_roger_test(L, beta, Phi, kr)
        if q == 1:
            stat = float(est[0] / se[0]) if se[0] > 0 else float("nan")
            p = float(2.0 * stats.t.sf(abs(stat), df))
        else:
            stat = Fstar
            p = float(stats.f.sf(Fstar, q, df))
        return Test(est, se, q, float(df), stat, p)
    sat = df_method == "satterthwaite"
    df = satterthwaite_df(L, Phi, P, W) if sat else float(fixed_df)
    if q == 1:
        stat = float(est[0] / se[0]) if se[0] > 0 else float("nan")
        p = float(2.0 * stats.t.sf(abs(stat), df))
    else:
        stat = float(est @ np.linalg.solve(cov, est)) / q
        p = float(stats.f.sf(stat, q, df))
    return Test(est, se, q, float(df), stat, p)


def t_tests(
    L: np.ndarray,
    beta: np.ndarray,
    Phi: np.ndarray,
    df_method: str,
    fixed_df: np.ndarray | float | None = None,
    P: np.ndarray | None = None,
    W: np.ndarray | None = None,
    kr: KRAdjustment | None = None,
    level: float = 0.95,
) -> dict[str, np.ndarray]:
    """Vectorised t tests of each row l of ``L``: estimate, se, df, t, p and CI.

    For one row Kenward-Roger's A1 = A2 = g'Wg / (l'Phi l)^2 with g_k = l'Phi P_k Phi l, so
    the df need no matrix algebra per row; Satterthwaite's df is 2 (l'Phi l)^2 / g'Wg.
    """
    L = np.atleast_2d(np.asarray(L, dtype=float))
    est = L @ beta
    U = L @ Phi
    c = np.einsum("ra,ra->r", U, L)
    if df_method in ("kenward-roger", "kenward-roger-linear", "satterthwaite"):
        g = np.einsum("ra,kab,rb->rk", U, P if kr is None else kr.P, U)
        gWg = np.einsum("rk,kl,rl->r", g, W if kr is None else kr.W, g)
    if df_method in ("kenward-roger", "kenward-roger-linear"):
        var = np.einsum("ra,ab,rb->r", L, kr.Phi_A, L)
        with np.errstate(divide="ignore", invalid="ignore"):
            a = gWg / c**2
            B = 3.5 * a
            c1, c2, c3 = -1.0 / 7.0, 2.0 / 7.0, 4.0 / 7.0
            Estar = 1.0 / (1.0 - a)
            Vstar = 2.0 * (1.0 + c1 * B) / ((1.0 - c2 * B) ** 2 * (1.0 - c3 * B))
            rho = Vstar / (2.0 * Estar**2)
            df = 4.0 + 3.0 / (rho - 1.0)
    else:
        var = c
        if df_method == "satterthwaite":
            with np.errstate(divide="ignore", invalid="ignore"):
                df = np.where(gWg > 0, 2.0 * c**2 / gWg, np.inf)
        else:
            df = np.broadcast_to(np.asarray(fixed_df, dtype=float), est.shape).astype(float)
    se = np.sqrt(np.clip(var, 0.0, None))
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(se > 0, est / se, np.nan)
    p = 2.0 * special.stdtr(df, -np.abs(t))
    q = np.where(np.isfinite(df), special.stdtrit(df, 0.5 + level / 2.0),
                 special.ndtri(0.5 + level / 2.0))
    return {"estimate": est, "se": se, "df": df, "t": t, "p": p,
            "lower": est - q * se, "upper": est + q * se}
