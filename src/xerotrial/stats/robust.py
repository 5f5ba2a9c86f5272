"""Empirical ("sandwich") covariance of the fixed effects and its Satterthwaite df.

With A_i A_i' = V_i^-1 and B_i = X_i' A_i, the estimators are

    Phi_E = Phi (sum_i B_i a_i A_i' e_i e_i' A_i a_i' B_i') Phi,   Phi = (X'V^-1X)^-1,

with e_i = y_i - X_i b and the subject's leverage H_ii = B_i' Phi B_i:

* ``empirical`` (SAS EMPIRICAL, mmrm "Empirical", CR0): a_i = I;
* ``empirical-jackknife`` (mmrm "Empirical-Jackknife", CR3): a_i = (I - H_ii)^-1, without the
  factor (n - 1)/n of McCaffrey & Bell (2003), as mmrm;
* ``empirical-bias-reduced`` (mmrm "Empirical-Bias-Reduced", CR2): a_i = (I - H_ii)^-1/2, the
  symmetric square root of the pseudo-inverse.

None depends on which square root A_i is taken. A weighted fit enters as its transformed
model (rows of y and X times sqrt(w)), which is what mmrm computes too.

Satterthwaite df of l'b (Bell & McCaffrey 2002, as mmrm computes them): with
v_i = a_i' B_i' Phi l, the n x n matrix M = G'G of g_i = (I - H)_{., i} v_i is
diag(v_i'v_i) - W' Phi W (W's columns w_i = B_i v_i, since I - H is a projection), and
df = tr(M)^2 / ||M||_F^2, formed from p x p sums without any N x N matrix.

Example
-------
>>> import numpy as np
>>> from xerotrial.stats.subject_blocks import SubjectBlock
>>> X = np.ones((4, 1)); e = np.array([1.0, -1.0, 2.0, -2.0])
>>> block = SubjectBlock(1, np.arange(4)[:, None], np.arange(4), np.ones((4, 1, 1)))
>>> rob = sandwich([block], X, e, np.array([[0.25]]), "empirical")
>>> float(rob.Phi[0, 0])                     # sum e^2 / 16: the CR0 variance of a mean
0.625
>>> float(rob.df(np.array([[1.0]]))[0])      # equal leverages: n - 1
3.0
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import DataValidationError
from .options import VCOV_METHODS
from .subject_blocks import SubjectBlock

__all__ = ["EMPIRICAL", "Sandwich", "sandwich"]

EMPIRICAL = VCOV_METHODS[1:]  # the sandwich estimators


@dataclass
class _Part:
    B: np.ndarray  # (S, p, n)
    a: np.ndarray | None  # (S, n, n) the adjustment; None: the identity


@dataclass
class Sandwich:
    """The empirical covariance ``Phi`` (p, p) of one fit and what its df need."""

    method: str
    Phi: np.ndarray
    bread: np.ndarray
    parts: list[_Part]

    def df(self, L: np.ndarray) -> np.ndarray:
        """Satterthwaite df of each row l of ``L`` (rows, p): tr(M)^2 / ||M||_F^2."""
        L = np.atleast_2d(np.asarray(L, dtype=float))
        Phi = self.bread
        c = Phi @ L.T  # (p, q)
        q = L.shape[0]
        trace = np.zeros(q)
        diag_sq = np.zeros(q)
        cross = np.zeros(q)
        S = np.zeros((q, Phi.shape[0], Phi.shape[0]))
        for part in self.parts:
            v = np.swapaxes(part.B, 1, 2) @ c  # a'B'Phi l with a = I: (S, n, q)
            if part.a is not None:
                v = np.swapaxes(part.a, 1, 2) @ v
            s = (v * v).sum(axis=1)  # (S, q)
            w = part.B @ v  # (S, p, q)
            wPw = (w * (Phi @ w)).sum(axis=1)  # (S, q)
            trace += (s - wPw).sum(axis=0)
            diag_sq += (s * s).sum(axis=0)
            cross += (s * wPw).sum(axis=0)
            S += np.einsum("spq,srq->qpr", w, w)
        PS = Phi[None] @ S  # (q, p, p)
        frob = diag_sq - 2.0 * cross + np.einsum("qab,qba->q", PS, PS)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(frob > 0, trace**2 / frob, np.inf)


def _pinv_sqrt(M: np.ndarray) -> np.ndarray:
    """Symmetric square root of the pseudo-inverse of each symmetric PSD matrix (S, n, n),
    eigenvalues below n * eps * the largest treated as zero (mmrm's tolerance)."""
    lam, U = np.linalg.eigh(M)
    tol = np.finfo(float).eps * M.shape[-1] * np.abs(lam).max(axis=-1, keepdims=True)
    with np.errstate(divide="ignore"):
        root = np.where(lam > tol, 1.0 / np.sqrt(np.where(lam > tol, lam, 1.0)), 0.0)
    return (U * root[:, None, :]) @ np.swapaxes(U, 1, 2)


def sandwich(
    blocks: list[SubjectBlock],
    X: np.ndarray,
    residual: np.ndarray,
    Phi: np.ndarray,
    method: str = "empirical",
) -> Sandwich:
    """The ``method`` estimator (one of ``EMPIRICAL``) from each subject's block, the rows of
    ``X`` (rows, p) and ``residual`` y - X b (rows,), and the model-based ``Phi``."""
    if method not in EMPIRICAL:
        raise DataValidationError(
            f"unknown empirical covariance {method!r}; choose one of {', '.join(EMPIRICAL)}"
        )
    p = X.shape[1]
    meat = np.zeros((p, p))
    parts = []
    for block in blocks:
        Lc = np.linalg.cholesky(block.V)
        A = np.swapaxes(np.linalg.inv(Lc), 1, 2)  # A A' = V^-1
        B = np.swapaxes(X[block.rows], 1, 2) @ A  # (S, p, n)
        r = (np.swapaxes(A, 1, 2) @ residual[block.rows][..., None])[..., 0]  # A'e: (S, n)
        a = None
        if method != "empirical":
            ImH = np.eye(block.n) - np.swapaxes(B, 1, 2) @ Phi @ B
            if method == "empirical-jackknife":
                a = np.linalg.inv(ImH)
            else:
                a = _pinv_sqrt(0.5 * (ImH + np.swapaxes(ImH, 1, 2)))
            r = (a @ r[..., None])[..., 0]
        z = (B @ r[..., None])[..., 0]  # the subject's score: (S, p)
        meat += z.T @ z
        parts.append(_Part(B, a))
    Phi_E = Phi @ meat @ Phi
    return Sandwich(method, 0.5 * (Phi_E + Phi_E.T), Phi, parts)
