"""Degrees of freedom and Wald tests for estimable functions L b, for one fit or for many
replicate fits at once (a leading replicate axis on every array).

This module is the one place that chooses among the df methods (``check_df_method``,
``t_tests``, ``f_test``); the per-term df of the fixed-df methods come from ``fixed_df.py``.
Methods (names as on the command line, SAS's DDFM= in brackets):

* ``residual`` (RESIDUAL), ``containment`` (CONTAIN), ``between-within`` (BW): fixed df per
  model term, see ``fixed_df.py``.
* ``satterthwaite`` (SATTERTHWAITE): Satterthwaite (1946) with the observed information of the
  covariance parameters, and for F tests the eigen-decomposition approach SAS and lmerTest use.
* ``kenward-roger`` (KR): Kenward & Roger (1997): adjusted covariance Phi_A of b (with the second
  derivative terms of V) and the scaled F with its df.
* ``kenward-roger-linear`` (KR(LINEAR)): the same without second derivatives of V.

Kenward-Roger needs REML: asking for it after an ML fit is a ``DataValidationError``.

Example
-------
>>> sorted(DF_METHODS)[:3]
['between-within', 'containment', 'kenward-roger']
>>> m, lam = kr_df(np.array([0.02]), np.array([0.02]), 1)   # one row: A1 = A2
>>> round(float(m[0]), 4)
100.0
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from scipy import special

from .errors import DataValidationError
from .options import DF_METHODS

__all__ = [
    "DF_METHODS",
    "KR_METHODS",
    "FIXED_DF_METHODS",
    "Test",
    "Estimates",
    "check_df_method",
    "kr_df",
    "t_tests",
    "f_test",
]

KR_METHODS = ("kenward-roger", "kenward-roger-linear")
FIXED_DF_METHODS = ("residual", "containment", "between-within")


def check_df_method(df_method: str, method: str = "REML") -> str:
    """``df_method`` if it can be used after a ``method`` (REML or ML) fit, else a
    ``DataValidationError`` that says what to change.

    >>> check_df_method("kenward-roger", "ML")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    xerotrial.stats.errors.DataValidationError: Kenward-Roger df are defined for REML fits ...
    """
    if df_method not in DF_METHODS:
        raise DataValidationError(
            f"unknown df method {df_method!r}; choose one of {', '.join(DF_METHODS)}"
        )
    if df_method in KR_METHODS and str(method).upper() != "REML":
        others = ", ".join(m for m in DF_METHODS if m not in KR_METHODS)
        raise DataValidationError(
            "Kenward-Roger df are defined for REML fits only: refit with method='REML' "
            f"(--method REML) or choose another df method ({others})"
        )
    return df_method


@dataclass(frozen=True)
class Test:
    """Result of testing L b = 0 (one row: a t test; several: an F test)."""

    estimate: np.ndarray
    se: np.ndarray
    num_df: int
    den_df: float
    statistic: float  # t for one row, F for several
    p_value: float


@dataclass
class Estimates:
    """What inference needs from fitted replicates (leading axis R).

    ``P`` are Kenward-Roger's P_k = X' dV^-1/dtheta_k X, ``W`` the asymptotic covariance of
    the covariance parameters (2 H^-1 from the observed Hessian, as SAS and lmerTest) and
    ``W_kr`` the one the Kenward-Roger adjustment uses (observed: SAS; expected: pbkrtest);
    parameters on the boundary have zero rows and columns in both. ``kr_sums(W, second)``
    gives sum_kl W_kl Q_kl and sum_kl W_kl R_kl (``RemlEngine.kr_sums``)."""

    beta: np.ndarray  # (R, p)
    Phi: np.ndarray  # (R, p, p)
    P: np.ndarray  # (R, K, p, p)
    W: np.ndarray  # (R, K, K)
    W_kr: np.ndarray  # (R, K, K)
    method: str
    linear: bool  # V linear in theta: KR and KR(LINEAR) coincide
    kr_sums: Callable[[np.ndarray, bool], tuple[np.ndarray, np.ndarray | None]]
    #: per replicate, the empirical covariance of b (``robust.Sandwich``) that replaces Phi in
    #: every test; None: the model-based Phi
    empirical: list | None = None
    _adjusted: dict = field(default_factory=dict, repr=False)

    def empirical_Phi(self) -> np.ndarray:  # noqa: N802 - Phi as in the formulas
        """The empirical covariances of b (R, p, p)."""
        if "empirical" not in self._adjusted:
            self._adjusted["empirical"] = np.stack([e.Phi for e in self.empirical])
        return self._adjusted["empirical"]

    def check_empirical(self, df_method: str) -> None:
        """Refuse Kenward-Roger with an empirical covariance (it adjusts the model-based one;
        SAS and mmrm refuse it too)."""
        if self.empirical is not None and df_method in KR_METHODS:
            raise DataValidationError(
                "Kenward-Roger adjusts the model-based covariance of the fixed effects: with an "
                "empirical covariance (--vcov) choose satterthwaite, residual, between-within "
                "or containment df, or --vcov model"
            )

    def phi_adjusted(self, linear: bool) -> np.ndarray:
        """Kenward-Roger's adjusted covariance of b, Phi_A = Phi + 2 Phi Lambda Phi with
        Lambda = sum_ij W_ij (Q_ij - P_i Phi P_j - R_ij / 4) (R_ij left out when linear)."""
        linear = linear or self.linear
        if linear not in self._adjusted:
            WQ, WR = self.kr_sums(self.W_kr, not linear)
            R, K, p = self.P.shape[:3]
            PW = (self.W_kr @ self.P.reshape(R, K, p * p)).reshape(R, K, p, p)  # sum_l W_kl P_l
            Lam = WQ - ((self.P @ self.Phi[:, None]) @ PW).sum(axis=1)
            if WR is not None:
                Lam = Lam - 0.25 * WR
            Phi_A = self.Phi + 2.0 * self.Phi @ Lam @ self.Phi
            self._adjusted[linear] = 0.5 * (Phi_A + np.swapaxes(Phi_A, 1, 2))
        return self._adjusted[linear]


def kr_df(A1: np.ndarray, A2: np.ndarray, q: int) -> tuple[np.ndarray, np.ndarray]:
    """Kenward & Roger's (1997) denominator df m and scale lambda of the F test of q rows.

    For one row A1 = A2 = g'Wg / (l'Phi l)^2 with g_k = l'Phi P_k Phi l."""
    with np.errstate(divide="ignore", invalid="ignore"):
        B = (A1 + 6.0 * A2) / (2.0 * q)
        g = ((q + 1.0) * A1 - (q + 4.0) * A2) / ((q + 2.0) * A2)
        d = 3.0 * q + 2.0 * (1.0 - g)
        Estar = 1.0 / (1.0 - A2 / q)
        Vstar = (
            (2.0 / q)
            * (1.0 + g / d * B)
            / ((1.0 - (q - g) / d * B) ** 2 * (1.0 - (q + 2.0 - g) / d * B))
        )
        rho = Vstar / (2.0 * Estar**2)
        m = 4.0 + (q + 2.0) / (q * rho - 1.0)
        lam = m / (Estar * (m - 2.0))
    flat = np.asarray(A2 == 0)  # the variance does not depend on theta: the normal reference
    if flat.any():
        m, lam = np.where(flat, np.inf, m), np.where(flat, 1.0, lam)
    return m, lam


def _gWg(U: np.ndarray, P: np.ndarray, W: np.ndarray) -> np.ndarray:
    """g'Wg per replicate and row, g_k = -d(l'Phi l)/dtheta_k = l'Phi P_k Phi l, for
    U = L Phi (R, rows, p)."""
    g = ((U[:, None] @ P) * U[:, None]).sum(axis=-1)  # (R, K, rows)
    return ((W @ g) * g).sum(axis=1)


def t_tests(
    L: np.ndarray,
    est: Estimates,
    df_method: str,
    fixed_df: np.ndarray | None = None,
    level: float = 0.95,
) -> dict[str, np.ndarray]:
    """t tests of each row l of ``L`` ((rows, p), or (R, rows, p) per replicate) in every
    replicate: estimate, se, df, t, p and CI, each (R, rows).

    The fixed-df methods take ``fixed_df`` (R, rows); Satterthwaite's df is
    2 (l'Phi l)^2 / g'Wg, Kenward-Roger's ``kr_df`` with A1 = A2 = g'Wg / (l'Phi l)^2.
    """
    check_df_method(df_method, est.method)
    with np.errstate(divide="ignore", invalid="ignore"):
        return _t_tests(np.asarray(L, dtype=float), est, df_method, fixed_df, level)


def _empirical_df(L: np.ndarray, est: Estimates) -> np.ndarray:
    """Satterthwaite df (R, rows) of the rows of L under each replicate's empirical
    covariance (``robust.Sandwich.df``)."""
    return np.stack([e.df(L if L.ndim == 2 else L[r]) for r, e in enumerate(est.empirical)])


def _t_tests(L, est, df_method, fixed_df, level):
    estimate = (L @ est.beta[..., None])[..., 0]  # (R, rows); L (rows, p) broadcasts
    est.check_empirical(df_method)
    U = L @ est.Phi
    c = (U * L).sum(axis=-1)
    if est.empirical is not None:
        var = ((L @ est.empirical_Phi()) * L).sum(axis=-1)
        if df_method == "satterthwaite":
            df = _empirical_df(L, est)
        else:
            if fixed_df is None:
                raise DataValidationError(f"df method {df_method!r} needs the fixed df of each row")
            df = np.broadcast_to(np.asarray(fixed_df, dtype=float), estimate.shape).astype(float)
    elif df_method in KR_METHODS:
        Phi_A = est.phi_adjusted(df_method == "kenward-roger-linear")
        var = ((L @ Phi_A) * L).sum(axis=-1)
        a = _gWg(U, est.P, est.W_kr) / c**2
        df = kr_df(a, a, 1)[0]
    elif df_method == "satterthwaite":
        var = c
        gWg = _gWg(U, est.P, est.W)
        df = np.where(gWg > 0, 2.0 * c**2 / gWg, np.inf)
    else:
        if fixed_df is None:
            raise DataValidationError(f"df method {df_method!r} needs the fixed df of each row")
        var = c
        df = np.broadcast_to(np.asarray(fixed_df, dtype=float), estimate.shape).astype(float)
    se = np.sqrt(np.clip(var, 0.0, None))
    t = np.where(se > 0, estimate / se, np.nan)
    p = 2.0 * special.stdtr(df, -np.abs(t))
    q = np.where(
        np.isfinite(df), special.stdtrit(df, 0.5 + level / 2.0), special.ndtri(0.5 + level / 2.0)
    )
    return {
        "estimate": estimate,
        "se": se,
        "df": df,
        "t": t,
        "p": p,
        "lower": estimate - q * se,
        "upper": estimate + q * se,
    }


def independent_rows(L: np.ndarray, tol: float = 1e-9) -> np.ndarray:
    """A maximal set of linearly independent rows of ``L``, in order."""
    keep: list[np.ndarray] = []
    for row in L:
        cand = np.array(keep + [row])
        if np.linalg.matrix_rank(cand, tol=tol * max(1.0, np.abs(cand).max())) == len(cand):
            keep.append(row)
    return np.array(keep) if keep else np.zeros((0, L.shape[1]))


def f_test(
    L: np.ndarray, est: Estimates, df_method: str, fixed_df: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """Wald test of L b = 0 in every replicate (t test for one independent row, F test for
    several): estimate and se (R, q), num_df, den_df (R,), statistic (t or F) and p (R,)."""
    check_df_method(df_method, est.method)
    L = np.atleast_2d(np.asarray(L, dtype=float))
    if L.shape[0] > 1:
        L = independent_rows(L)
    q = L.shape[0]
    if q == 1:
        t = t_tests(L, est, df_method, None if fixed_df is None else np.asarray(fixed_df)[:, None])
        return {
            "estimate": t["estimate"],
            "se": t["se"],
            "num_df": 1,
            "den_df": t["df"][:, 0],
            "statistic": t["t"][:, 0],
            "p": t["p"][:, 0],
        }
    R = len(est.beta)
    est.check_empirical(df_method)
    if est.empirical is not None:
        return _empirical_f_test(L, est, df_method, fixed_df)
    estimate = est.beta @ L.T  # (R, q)
    C = L @ est.Phi @ L.T  # (R, q, q)
    if df_method in KR_METHODS:
        Phi_A = est.phi_adjusted(df_method == "kenward-roger-linear")
        cov = L @ Phi_A @ L.T
        # As SAS and mmrm do, Theta (and so the df and lambda) uses the unadjusted Phi;
        # only the F statistic itself uses the adjusted Phi_A.
        Theta = L.T @ np.linalg.solve(C, np.broadcast_to(L, (R, *L.shape)))
        M = Theta[:, None] @ est.Phi[:, None] @ est.P @ est.Phi[:, None]  # Theta Phi P_k Phi
        tr = np.einsum("rkaa->rk", M)
        A1 = np.einsum("rk,rkl,rl->r", tr, est.W_kr, tr)
        A2 = np.einsum("rij,riab,rjba->r", est.W_kr, M, M)
        df, lam = kr_df(A1, A2, q)
        F = np.einsum("ri,rij,rj->r", estimate, np.linalg.inv(cov), estimate) / q
        stat = lam * F
    else:
        cov = C
        if df_method == "satterthwaite":
            _, evecs = np.linalg.eigh(C)
            rows = np.swapaxes(evecs, 1, 2) @ L  # (R, q, p): one row per eigenvector
            U = rows @ est.Phi
            c = (U * rows).sum(axis=-1)
            gWg = _gWg(U, est.P, est.W)
            with np.errstate(divide="ignore", invalid="ignore"):
                nus = np.where(gWg > 0, 2.0 * c**2 / gWg, np.inf)
                E = np.sum(np.where(nus > 2, nus / (nus - 2.0), 0.0), axis=1)
                df = np.where(q < E, 2.0 * E / (E - q), 0.0)
        else:
            if fixed_df is None:
                raise DataValidationError(f"df method {df_method!r} needs the fixed df")
            df = np.broadcast_to(np.asarray(fixed_df, dtype=float), (R,)).astype(float)
        stat = np.einsum("ri,ri->r", estimate, np.linalg.solve(cov, estimate[..., None])[..., 0])
        stat = stat / q
    se = np.sqrt(np.clip(np.diagonal(cov, axis1=1, axis2=2), 0.0, None))
    p = special.fdtrc(q, df, stat)  # F survival function (scipy.stats.f.sf)
    return {
        "estimate": estimate,
        "se": se,
        "num_df": q,
        "den_df": df,
        "statistic": stat,
        "p": np.asarray(p, dtype=float),
    }


def _combined_df(nus: np.ndarray) -> float:
    """mmrm's denominator df of an F test from the df of its rank-one components: their mean
    when all agree (to sqrt(eps)), 2 when one is 2 or less, else 2E/(E - q) with
    E = sum nu/(nu - 2)."""
    if len(nus) == 1 or np.all(np.abs(np.diff(nus)) < np.sqrt(np.finfo(float).eps)):
        return float(np.mean(nus))
    if np.any(nus <= 2):
        return 2.0
    E = float(np.sum(nus / (nus - 2.0)))
    return 2.0 * E / (E - len(nus))


def _empirical_f_test(L, est, df_method, fixed_df):
    """The Wald F test of L b = 0 under the empirical covariance. Satterthwaite (as mmrm):
    the eigenvectors of L Phi_E L' (rank by mmrm's tolerance sqrt(eps) x the largest) split
    the test into independent rows, whose df combine by ``_combined_df``."""
    R = len(est.beta)
    C = L @ est.empirical_Phi() @ L.T
    estimate = est.beta @ L.T
    stat, den, ranks = np.empty(R), np.empty(R), set()
    for r in range(R):
        lam, vec = np.linalg.eigh(C[r])
        keep = lam > max(np.sqrt(np.finfo(float).eps) * lam.max(), 0.0)
        rows = vec[:, keep].T @ L
        ranks.add(int(keep.sum()))
        stat[r] = float(((rows @ est.beta[r]) ** 2 / lam[keep]).sum()) / keep.sum()
        if df_method == "satterthwaite":
            den[r] = _combined_df(est.empirical[r].df(rows))
        elif fixed_df is None:
            raise DataValidationError(f"df method {df_method!r} needs the fixed df")
        else:
            den[r] = float(np.broadcast_to(np.asarray(fixed_df, dtype=float), (R,))[r])
    if len(ranks) > 1:
        raise DataValidationError(
            "the empirical covariance of the contrast has a different rank in different "
            "replicates: test them one by one"
        )
    q = ranks.pop()
    return {
        "estimate": estimate,
        "se": np.sqrt(np.clip(np.diagonal(C, axis1=1, axis2=2), 0.0, None)),
        "num_df": q,
        "den_df": den,
        "statistic": stat,
        "p": np.asarray(special.fdtrc(q, den, stat), dtype=float),
    }
