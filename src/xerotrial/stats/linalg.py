"""Linear algebra on stacks of small symmetric matrices: Cholesky with a per-matrix
success flag, inverse and log-determinant, and solves.

A stack of a few matrices goes one by one through the LAPACK routines numpy's stacked
functions call (so the numbers are the same), which costs less than numpy's fixed overhead.

Example
-------
>>> import numpy as np
>>> inv, logdet, ok = chol_inverse(np.array([[[4.0]], [[-1.0]]]))
>>> inv[:, 0, 0].tolist(), ok.tolist()
([0.25, 1.0], [True, False])
"""

from __future__ import annotations

import contextlib

import numpy as np
from scipy.linalg import lapack

__all__ = ["SMALL_STACK", "cholesky", "solve", "solve_spd", "chol_inverse"]

#: Stacks of at most this many matrices go one by one through LAPACK (the same routines, so the
#: same numbers, as numpy's stacked linalg, whose fixed cost is larger for a few matrices).
SMALL_STACK = 8


def cholesky(A: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Stacked lower Cholesky factors and a per-matrix success flag (failures: identity).

    >>> cholesky(np.array([[[4.0]], [[-1.0]]]))[1].tolist()
    [True, False]
    """
    if len(A) <= SMALL_STACK:
        L = np.empty_like(A)
        ok = np.ones(len(A), dtype=bool)
        for i, a in enumerate(A):
            c, info = lapack.dpotrf(a, lower=True, clean=True)
            if info != 0:
                ok[i], c = False, np.eye(len(a))
            L[i] = c
        ok &= np.isfinite(L).all(axis=(1, 2))
        return L, ok
    try:
        return np.linalg.cholesky(A), np.ones(len(A), dtype=bool)
    except np.linalg.LinAlgError:
        pass
    # some matrix is not positive definite (or not finite): screen by the smallest
    # eigenvalue, then factor the rest (bisection for a matrix the screen let through)
    eye = np.eye(A.shape[-1])
    ok = np.isfinite(A).all(axis=(1, 2))
    A = np.where(ok[:, None, None], A, eye)
    with contextlib.suppress(np.linalg.LinAlgError):
        ok &= np.linalg.eigvalsh(A)[:, 0] > 0
    return _bisect(np.where(ok[:, None, None], A, eye), ok)


def solve(A: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``np.linalg.solve`` for stacks A (R, n, n), b (R, n, k), looping through LAPACK for a
    small stack (identical results)."""
    if len(A) <= SMALL_STACK:
        out = np.empty(b.shape)
        for i in range(len(A)):
            _, _, out[i], info = lapack.dgesv(A[i], b[i])
            if info > 0:
                raise np.linalg.LinAlgError("Singular matrix")
        return out
    return np.linalg.solve(A, b)


def _bisect(A: np.ndarray, ok: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    try:
        return np.linalg.cholesky(A), ok
    except np.linalg.LinAlgError:
        if len(A) == 1:
            return np.eye(A.shape[-1])[None], np.zeros(1, dtype=bool)
    half = len(A) // 2
    L1, ok1 = _bisect(A[:half], ok[:half])
    L2, ok2 = _bisect(A[half:], ok[half:])
    return np.concatenate([L1, L2]), np.concatenate([ok1, ok2])


def solve_spd(A: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Solve A x = b by Cholesky for stacks A (R, n, n), b (R, n); ok False (and x
    meaningless) where A is not positive definite.

    >>> solve_spd(np.array([[[2.0]], [[-1.0]]]), np.array([[1.0], [1.0]]))[1].tolist()
    [True, False]
    """
    if len(A) <= SMALL_STACK:
        x = np.zeros(b.shape)
        ok = np.ones(len(A), dtype=bool)
        for i in range(len(A)):
            c, info = lapack.dpotrf(A[i], lower=True, clean=True)
            if info == 0:
                x[i] = lapack.dpotrs(c, b[i], lower=True)[0]
            else:
                ok[i] = False
        return x, ok & np.isfinite(x).all(axis=1)
    L, ok = cholesky(A)
    x = np.linalg.solve(np.swapaxes(L, 1, 2), np.linalg.solve(L, b[..., None]))[..., 0]
    return x, ok & np.isfinite(x).all(axis=1)


def chol_inverse(A: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Inverse, log-determinant and success flag of stacked symmetric positive definite
    matrices (``(..., n, n)``); where a matrix is not positive definite: identity, 0, False.

    >>> import numpy as np
    >>> inv, logdet, ok = chol_inverse(np.array([[[4.0]], [[-1.0]]]))
    >>> inv[:, 0, 0].tolist(), ok.tolist()
    ([0.25, 1.0], [True, False])
    """
    shape = A.shape
    n = shape[-1]
    A = A.reshape(-1, n, n)
    if len(A) <= SMALL_STACK:
        inv = np.empty_like(A)
        diag = np.ones((len(A), n))
        ok = np.ones(len(A), dtype=bool)
        for i, a in enumerate(A):
            c, info = lapack.dpotrf(a, lower=True, clean=True)
            if info != 0:
                ok[i], inv[i] = False, np.eye(n)
                continue
            Linv, _ = lapack.dtrtri(c, lower=True)
            inv[i] = Linv.T @ Linv
            diag[i] = c.diagonal()
        ok &= np.isfinite(diag).all(axis=1)
    else:
        L, ok = cholesky(A)
        diag = np.diagonal(L, axis1=1, axis2=2)
        Linv = np.linalg.inv(L)
        inv = np.swapaxes(Linv, 1, 2) @ Linv
    return (
        inv.reshape(shape),
        2.0 * np.log(diag).sum(axis=1).reshape(shape[:-2]),
        ok.reshape(shape[:-2]),
    )
