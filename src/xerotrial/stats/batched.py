"""REML fits of many replicate data sets at once: the engine of ``reml.py``, with a leading
replicate axis on every array and no Python loop over replicates.

Every replicate shares the covariance patterns (here: monotone dropout, so a pattern is "the
first k visits observed", k = 1..T), and holds its own sufficient statistics per pattern,

    m (R,), XX (R, k, k, p, p), Xy (R, k, k, p), yy (R, k, k)

(``m`` may be zero: a pattern absent from a replicate contributes nothing). The objective, the
analytic gradient, observed and expected Hessians are those of ``RemlEngine`` (SAS's -2 REML
log-likelihood in SAS's parameterisation), evaluated for all replicates with stacked
``numpy.linalg`` calls. ``newton_raphson_batched`` is ``optimize.newton_raphson`` vectorised:
Fisher scoring for the first three steps, then Newton-Raphson, step-halving per replicate,
random-intercept variances that cross zero fixed on the boundary, SAS's relative Hessian
convergence criterion. ``contrast_tests`` then tests one estimable function l'b per replicate
with any df method (the one-row Satterthwaite and Kenward-Roger formulas of
``inference.t_tests``, computed from quadratic forms only).

Example
-------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> R, S, T = 5, 12, 3
>>> X = np.broadcast_to(np.eye(T)[None], (S, T, T))          # cell means per visit
>>> y = rng.normal(size=(R, S, T)) + rng.normal(size=(R, S, 1))
>>> level = np.full((R, S), T)
>>> stats = pattern_statistics(X, y, level)
>>> cov = BatchedCovariance("cs", T)
>>> fitres = newton_raphson_batched(stats, cov, start_values(stats, cov))
>>> bool(fitres.converged.all())
True
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special

from .covariance import get_structure

__all__ = [
    "BATCHED_COVARIANCES",
    "BatchedCovariance",
    "PatternStats",
    "BatchFit",
    "pattern_statistics",
    "start_values",
    "evaluate",
    "newton_raphson_batched",
    "contrast_tests",
]

LOG2PI = float(np.log(2.0 * np.pi))
SAS_CRITERION = 1e-8
BATCHED_COVARIANCES = ("un", "cs", "ar1", "random-intercept")


# ---------------------------------------------------------------------- covariance
class BatchedCovariance:
    """V (R, T, T), dV and d2V over all T visits for stacked parameters theta (R, K).

    ``un``, ``cs`` and ``ar1`` are SAS's REPEATED structures (``covariance.py``);
    ``random-intercept`` is SAS's RANDOM int: V = s2_u J + s2 I, parameters (Intercept,
    Residual), the first a G-side variance that may sit on the boundary zero.

    >>> import numpy as np
    >>> cov = BatchedCovariance("ar1", 3)
    >>> V, dV, d2V = cov.matrices(np.array([[0.5, 2.0]]))
    >>> V[0, 0, 2], dV.shape, d2V.shape
    (np.float64(0.5), (1, 2, 3, 3), (1, 2, 2, 3, 3))
    """

    def __init__(self, name: str, n_times: int) -> None:
        if name not in BATCHED_COVARIANCES:
            raise ValueError(
                f"covariance {name!r} is not one of {', '.join(BATCHED_COVARIANCES)}"
            )
        self.name = name
        self.t = n_times
        t = n_times
        if name == "random-intercept":
            self.kinds = ["gvar", "var"]
            self.param_names = ["Intercept", "Residual"]
            self.linear = True
            self._basis = np.stack([np.ones((t, t)), np.eye(t)])
        else:
            s = get_structure(name)
            self.structure = s
            self.kinds = s.kinds(t)
            self.param_names = s.param_names(t)
            self.linear = s.linear
            self._basis = s.jacobian(np.ones(len(self.kinds)), t) if s.linear else None
        self.K = len(self.kinds)
        idx = np.arange(t)
        self._lag = np.abs(idx[:, None] - idx[None, :]).astype(float)

    def matrices(self, theta: np.ndarray):
        """V (R, T, T), dV (R, K, T, T) and d2V (R, K, K, T, T) or None when linear."""
        theta = np.atleast_2d(theta)
        R = theta.shape[0]
        t = self.t
        if self.linear:
            E = self._basis
            V = (theta @ E.reshape(self.K, -1)).reshape(R, t, t)
            return V, np.broadcast_to(E, (R, *E.shape)), None
        rho = theta[:, 0][:, None, None]
        s2 = theta[:, 1][:, None, None]
        lag = self._lag
        P = _pow(rho, lag)
        d1 = np.where(lag >= 1, lag * _pow(rho, np.maximum(lag - 1, 0)), 0.0)
        d2 = np.where(lag >= 2, lag * (lag - 1) * _pow(rho, np.maximum(lag - 2, 0)), 0.0)
        V = s2 * P
        dV = np.stack([s2 * d1, P], axis=1)
        d2V = np.zeros((R, 2, 2, t, t))
        d2V[:, 0, 0] = s2 * d2
        d2V[:, 0, 1] = d2V[:, 1, 0] = d1
        return V, dV, d2V


def _pow(rho: np.ndarray, lag: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(lag == 0, 1.0, np.sign(rho) ** lag * np.abs(rho) ** lag)


# ---------------------------------------------------------------------- statistics
@dataclass
class PatternStats:
    """Per-pattern sufficient statistics with a leading replicate axis.

    ``k[j]`` visits observed in pattern j; ``m[j]`` (R,), ``XX[j]`` (R, k, k, p, p),
    ``Xy[j]`` (R, k, k, p), ``yy[j]`` (R, k, k); ``N`` (R,) observations, ``S`` subjects.
    """

    k: list[int]
    m: list[np.ndarray]
    XX: list[np.ndarray]
    Xy: list[np.ndarray]
    yy: list[np.ndarray]
    N: np.ndarray
    S: int
    p: int

    @property
    def R(self) -> int:
        return len(self.N)

    def take(self, idx: np.ndarray) -> PatternStats:
        """The statistics of a subset of replicates."""
        return PatternStats(self.k, [a[idx] for a in self.m], [a[idx] for a in self.XX],
                            [a[idx] for a in self.Xy], [a[idx] for a in self.yy],
                            self.N[idx], self.S, self.p)


def pattern_statistics(X: np.ndarray, y: np.ndarray, level: np.ndarray) -> PatternStats:
    """Sufficient statistics per monotone-dropout pattern, for all replicates at once.

    ``X`` is (S, T, p) (the same design rows in every replicate) or (R, S, T, p);
    ``y`` (R, S, T); ``level`` (R, S): the number of visits subject s has in replicate r
    (visits 1..level observed, the rest missing).

    >>> import numpy as np
    >>> X = np.ones((4, 2, 1)); y = np.ones((3, 4, 2)); level = np.array([[2, 2, 1, 2]] * 3)
    >>> st = pattern_statistics(X, y, level)
    >>> st.k, st.N.tolist(), st.m[1].tolist()
    ([1, 2], [7.0, 7.0, 7.0], [3.0, 3.0, 3.0])
    """
    y = np.asarray(y, dtype=float)
    R, S, T = y.shape
    p = X.shape[-1]
    level = np.asarray(level)
    out_k, ms, XXs, Xys, yys = [], [], [], [], []
    for k in range(1, T + 1):
        W = (level == k).astype(float)  # (R, S)
        m = W.sum(axis=1)
        if not m.any():
            continue
        Bk = X[..., :k, :].reshape(*X.shape[:-3], S, k * p)
        yk = y[:, :, :k]
        Aw = W[:, :, None] * Bk  # (R, S, kp)
        At = np.swapaxes(Aw, 1, 2)
        XX = (At @ Bk).reshape(R, k, p, k, p).transpose(0, 1, 3, 2, 4)
        Xy = (At @ yk).reshape(R, k, p, k).transpose(0, 1, 3, 2)
        yy = np.swapaxes(W[:, :, None] * yk, 1, 2) @ yk
        out_k.append(k)
        ms.append(m)
        XXs.append(np.ascontiguousarray(XX))
        Xys.append(np.ascontiguousarray(Xy))
        yys.append(yy)
    N = sum(k * m for k, m in zip(out_k, ms, strict=True))
    return PatternStats(out_k, ms, XXs, Xys, yys, np.asarray(N, dtype=float), S, p)


def _residual_cross(st: PatternStats, j: int, beta: np.ndarray):
    """RR = sum_i r_i r_i' and XR = sum_i X_ia r_ib for pattern j at beta (R, p)."""
    XX, Xy, yy = st.XX[j], st.Xy[j], st.yy[j]
    XXb = np.einsum("rabij,rj->rabi", XX, beta)
    Xyb = np.einsum("rabi,ri->rab", Xy, beta)
    RR = yy - Xyb - np.swapaxes(Xyb, 1, 2) + np.einsum("rabi,ri->rab", XXb, beta)
    return RR, Xy - XXb


def start_values(st: PatternStats, cov: BatchedCovariance) -> np.ndarray:
    """Moment estimates from OLS residuals, per replicate: ``model._start_values`` batched.

    >>> import numpy as np
    >>> X = np.broadcast_to(np.eye(2)[None], (6, 2, 2))
    >>> y = np.random.default_rng(1).normal(size=(2, 6, 2))
    >>> start_values(pattern_statistics(X, y, np.full((2, 6), 2)), BatchedCovariance("un", 2)).shape
    (2, 3)
    """
    R, p, T = st.R, st.p, cov.t
    MI = np.zeros((R, p, p))
    cI = np.zeros((R, p))
    for j, k in enumerate(st.k):
        ar = np.arange(k)
        MI += st.XX[j][:, ar, ar].sum(axis=1)
        cI += st.Xy[j][:, ar, ar].sum(axis=1)
    beta = np.linalg.solve(MI + 1e-300 * np.eye(p), cI[..., None])[..., 0]
    full = np.zeros((R, T, T))
    npair = np.zeros((R, T, T))
    within_ss = np.zeros(R)
    mean_sq = np.zeros(R)
    inv_n = np.zeros(R)
    for j, k in enumerate(st.k):
        RR, _ = _residual_cross(st, j, beta)
        full[:, :k, :k] += RR
        npair[:, :k, :k] += st.m[j][:, None, None]
        tot = RR.sum(axis=(1, 2))
        within_ss += np.trace(RR, axis1=1, axis2=2) - tot / k
        mean_sq += tot / k**2
        inv_n += st.m[j] / k
    total = np.trace(full, axis1=1, axis2=2) / st.N
    total = np.where(total > 0, total, 1.0)
    if cov.name == "random-intercept":
        within = within_ss / np.maximum(st.N - st.S, 1)
        between = mean_sq / st.S - within * inv_n / st.S
        between = np.maximum(between, 0.1 * total)
        return np.column_stack([between, np.maximum(within, 0.1 * total)])
    with np.errstate(invalid="ignore", divide="ignore"):
        c = np.where(npair >= 2, full / np.maximum(npair - 1, 1), 0.0)
        d = np.diagonal(full, axis1=1, axis2=2) / np.diagonal(npair, axis1=1, axis2=2)
    d = np.where(np.isfinite(d) & (d > 0), d, total[:, None])
    ar = np.arange(T)
    c[:, ar, ar] = d
    v = d.mean(axis=1)
    if cov.name == "un":
        return np.stack([d[:, i] if i == jj else np.zeros(R)
                         for i in range(T) for jj in range(i + 1)], axis=1)
    if cov.name == "cs":
        off = ~np.eye(T, dtype=bool)
        cc = c[:, off].mean(axis=1) if T > 1 else np.zeros(R)
        cc = np.minimum(np.maximum(cc, -0.4 * v / max(T - 1, 1)), 0.9 * v)
        return np.column_stack([cc, v - cc])
    # ar1: mean lag-1 correlation
    if T < 2:
        return np.column_stack([np.zeros(R), v])
    sd = np.sqrt(np.clip(d, 1e-12, None))
    corr = c / (sd[:, :, None] * sd[:, None, :])
    r1 = np.clip(np.diagonal(corr, offset=1, axis1=1, axis2=2).mean(axis=1), -0.5, 0.8)
    return np.column_stack([r1, v])


# ---------------------------------------------------------------------- evaluation
@dataclass
class BatchEvaluation:
    """Objective and derivatives for a stack of replicates; ``ok`` False where V or X'V^-1X
    is not positive definite (the other fields are then meaningless)."""

    theta: np.ndarray
    ok: np.ndarray
    objective: np.ndarray
    beta: np.ndarray
    Phi: np.ndarray
    gradient: np.ndarray | None = None
    hessian: np.ndarray | None = None
    expected: np.ndarray | None = None


def _chol_inv(A: np.ndarray):
    """Inverse and log-determinant of stacked SPD matrices; ok False (and identity) where a
    matrix is not positive definite."""
    R, n = A.shape[0], A.shape[-1]
    ok = np.all(np.isfinite(A), axis=(1, 2))
    A = np.where(ok[:, None, None], A, np.eye(n))
    try:
        L = np.linalg.cholesky(A)
    except np.linalg.LinAlgError:
        L = np.empty_like(A)
        for r in range(R):
            try:
                L[r] = np.linalg.cholesky(A[r])
            except np.linalg.LinAlgError:
                ok[r] = False
                L[r] = np.eye(n)
    diag = np.diagonal(L, axis1=1, axis2=2)
    good = np.all(diag > 0, axis=1) & np.all(np.isfinite(L), axis=(1, 2))
    ok &= good
    L = np.where(ok[:, None, None], L, np.eye(n))
    diag = np.where(ok[:, None], diag, 1.0)
    Linv = np.linalg.inv(L)
    return np.swapaxes(Linv, 1, 2) @ Linv, 2.0 * np.log(diag).sum(axis=1), ok


def _sandwich(A: np.ndarray, T: np.ndarray) -> np.ndarray:
    """out[r, a, b, ...] = sum_cd A[r, a, c] A[r, b, d] T[r, c, d, ...] (A symmetric)."""
    R, n = A.shape[:2]
    rest = T.shape[3:]
    tmp = (A @ T.reshape(R, n, -1)).reshape(R, n, n, -1)
    return (A[:, None] @ tmp).reshape(R, n, n, *rest)


def evaluate(
    st: PatternStats, cov: BatchedCovariance, theta: np.ndarray, order: int = 0
) -> BatchEvaluation:
    """-2 REML log-likelihood for every replicate; order 2 adds gradient and Hessians.

    >>> import numpy as np
    >>> X = np.ones((6, 2, 1)); y = np.random.default_rng(2).normal(size=(3, 6, 2))
    >>> st = pattern_statistics(X, y, np.full((3, 6), 2))
    >>> ev = evaluate(st, BatchedCovariance("cs", 2), np.tile([0.3, 1.0], (3, 1)), order=2)
    >>> ev.objective.shape, ev.hessian.shape
    ((3,), (3, 2, 2))
    """
    theta = np.atleast_2d(np.asarray(theta, dtype=float))
    R, p = st.R, st.p
    V, dV, d2V = cov.matrices(theta)
    M = np.zeros((R, p, p))
    c = np.zeros((R, p))
    yVy = np.zeros(R)
    logdet = np.zeros(R)
    ok = np.ones(R, dtype=bool)
    facs = []
    for j, k in enumerate(st.k):
        Vinv, ld, okk = _chol_inv(V[:, :k, :k])
        m = st.m[j]
        ok &= okk | (m == 0)
        kk = k * k
        vf = Vinv.reshape(R, 1, kk)
        M += (vf @ st.XX[j].reshape(R, kk, p * p)).reshape(R, p, p)
        c += (vf @ st.Xy[j].reshape(R, kk, p))[:, 0]
        yVy += np.einsum("rab,rab->r", Vinv, st.yy[j])
        logdet += m * ld
        facs.append(Vinv)
    Phi, ldm, okm = _chol_inv(M)
    ok &= okm
    beta = (Phi @ c[..., None])[..., 0]
    obj = (st.N - p) * LOG2PI + logdet + ldm + yVy - np.einsum("ri,ri->r", beta, c)
    obj = np.where(ok, obj, np.inf)
    ev = BatchEvaluation(theta, ok, obj, beta, Phi)
    if order >= 1:
        _derivatives(st, cov, ev, facs, dV, d2V)
    return ev


def _derivatives(st, cov, ev: BatchEvaluation, facs, dV, d2V) -> None:
    R, p, K = st.R, st.p, cov.K
    Phi, beta = ev.Phi, ev.beta
    grad = np.zeros((R, K))
    B = np.zeros((R, K, p, p))
    a = np.zeros((R, K, p))
    hess_local = np.zeros((R, K, K))
    quad = np.zeros((R, K, K))
    second = np.zeros((R, K, K))
    for j, k in enumerate(st.k):
        Vinv = facs[j]
        m = st.m[j]
        dVk = dV[:, :, :k, :k]
        RR, XR = _residual_cross(st, j, beta)
        kk = k * k
        XXf = st.XX[j].reshape(R, kk, p * p)
        # sum_ab dV_k[a,b] (V^-1 X_i)_a (V^-1 X_i)_b' = sum_cd (V^-1 dV_k V^-1)[c,d] X_ic X_id'
        D = Vinv[:, None] @ dVk  # (R, K, k, k): V^-1 V_k
        G = (D @ Vinv[:, None]).reshape(R, K, kk)
        Su = Vinv @ RR @ Vinv
        H = Vinv @ (XXf @ Phi.reshape(R, p * p, 1)).reshape(R, k, k) @ Vinv
        w = m[:, None, None] * Vinv - Su - H
        dVf = dVk.reshape(R, K, kk)
        grad += (dVf @ w.reshape(R, kk, 1))[..., 0]
        B += (G @ XXf).reshape(R, K, p, p)
        a += G @ XR.reshape(R, kk, p)
        hess_local += m[:, None, None] * _trace_pairs(D, D)
        quad += _trace_pairs(dVk, D @ Su[:, None])
        hess_local -= 2.0 * _trace_pairs(H[:, None] @ dVk, D)
        if d2V is not None:
            d2 = d2V[:, :, :, :k, :k].reshape(R, K * K, kk)
            second += (d2 @ w.reshape(R, kk, 1)).reshape(R, K, K)
    ev.gradient = grad
    PhiB = Phi[:, None] @ B
    trPP = hess_local + _trace_pairs(PhiB, PhiB)
    quad_full = quad - a @ Phi @ np.swapaxes(a, 1, 2)
    hess = -trPP + 2.0 * quad_full + second
    ev.hessian = 0.5 * (hess + np.swapaxes(hess, 1, 2))
    ev.expected = 0.5 * (trPP + np.swapaxes(trPP, 1, 2))


def _trace_pairs(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """out[r, k, l] = tr(A_rk B_rl) for stacks A (R, K, n, n) and B (R, L, n, n)."""
    R, K = A.shape[:2]
    return A.reshape(R, K, -1) @ np.swapaxes(B, 2, 3).reshape(R, B.shape[1], -1).swapaxes(1, 2)


# ---------------------------------------------------------------------- Newton-Raphson
@dataclass
class BatchFit:
    """Per replicate: estimates at the optimum, convergence and boundary information."""

    evaluation: BatchEvaluation
    free: np.ndarray  # (R, K) parameters not fixed on the boundary
    converged: np.ndarray  # (R,)
    failed: np.ndarray  # (R,) no valid estimate at all (start not positive definite)
    iterations: np.ndarray
    criterion: np.ndarray


def _feasible(theta: np.ndarray, kinds: list[str]) -> np.ndarray:
    ok = np.all(np.isfinite(theta), axis=1)
    for i, k in enumerate(kinds):
        v = theta[:, i]
        if k == "var":
            ok &= v > 0
        elif k == "gvar":
            ok &= v >= 0
        elif k == "corr":
            ok &= (v > -1) & (v < 1)
    return ok


def _masked_solve(H: np.ndarray, g: np.ndarray, free: np.ndarray):
    """Solve H_ff s = g_f per replicate (zeros for fixed parameters); ok False where H_ff is not
    positive definite."""
    K = H.shape[-1]
    eye = np.eye(K)
    both = free[:, :, None] & free[:, None, :]
    Hm = np.where(both, H, eye)
    gm = np.where(free, g, 0.0)
    Hinv, _, ok = _chol_inv(Hm)
    s = (Hinv @ gm[..., None])[..., 0]
    return np.where(free, s, 0.0), ok


def _merge(dst: BatchEvaluation, idx: np.ndarray, src: BatchEvaluation, sel=None) -> None:
    sel = slice(None) if sel is None else sel
    for name in ("theta", "ok", "objective", "beta", "Phi", "gradient", "hessian", "expected"):
        s = getattr(src, name)
        if s is not None:
            getattr(dst, name)[idx] = s[sel]


def newton_raphson_batched(
    st: PatternStats,
    cov: BatchedCovariance,
    theta0: np.ndarray,
    max_iter: int = 200,
    scoring_steps: int = 3,
    tol: float = 1e-20,
) -> BatchFit:
    """``optimize.newton_raphson`` for all replicates at once, each masked when it stops.

    >>> import numpy as np
    >>> X = np.ones((10, 3, 1)); rng = np.random.default_rng(4)
    >>> y = rng.normal(size=(4, 10, 3)) + rng.normal(size=(4, 10, 1))
    >>> st = pattern_statistics(X, y, np.full((4, 10), 3))
    >>> cov = BatchedCovariance("random-intercept", 3)
    >>> newton_raphson_batched(st, cov, start_values(st, cov)).converged.tolist()
    [True, True, True, True]
    """
    kinds = cov.kinds
    R, K = st.R, cov.K
    theta = np.array(theta0, dtype=float, copy=True)
    free = np.ones((R, K), dtype=bool)
    ev = evaluate(st, cov, theta, order=2)
    failed = ~ev.ok
    active = ev.ok.copy()
    iters = np.zeros(R, dtype=int)
    gvar = np.array([k == "gvar" for k in kinds])
    for it in range(1, max_iter + 1):
        idx = np.flatnonzero(active)
        if not len(idx):
            break
        iters[idx] = it
        g = ev.gradient[idx]
        Hs = ev.expected[idx] if it <= scoring_steps else ev.hessian[idx]
        fr = free[idx]
        step, ok = _masked_solve(Hs, g, fr)
        if not ok.all():
            step2, ok2 = _masked_solve(ev.expected[idx], g, fr)
            step = np.where(ok[:, None], step, step2)
            bad = ~ok & ~ok2
            if bad.any():
                scale = np.maximum(np.abs(np.diagonal(Hs, axis1=1, axis2=2)).max(axis=1), 1.0)
                step[bad] = np.where(fr[bad], g[bad], 0.0) / scale[bad, None]
        obj = ev.objective[idx]
        crit = np.abs(np.einsum("rk,rk->r", g, step)) / np.maximum(np.abs(obj), 1e-300)
        done = crit < tol
        active[idx[done]] = False
        keep = ~done
        idx, step, crit, obj, fr = idx[keep], step[keep], crit[keep], obj[keep], fr[keep]
        final = (crit < 1e-10) & (it > scoring_steps)
        th = theta[idx]
        # step-halving, each replicate on its own
        pending = np.ones(len(idx), dtype=bool)
        accepted = np.zeros(len(idx), dtype=bool)
        full_step = np.zeros(len(idx), dtype=bool)
        new_obj = np.full(len(idx), np.inf)
        lam = 1.0
        while pending.any() and lam > 1e-12:
            pi = np.flatnonzero(pending)
            cand = th[pi] - lam * step[pi]
            crossing = gvar[None, :] & fr[pi] & (cand < 0)
            cand = np.where(crossing, 0.0, cand)
            feas = _feasible(cand, kinds)
            fi = pi[feas]
            if len(fi):
                order = 2 if lam == 1.0 else 0
                sub = st.take(idx[fi])
                new = evaluate(sub, cov, cand[feas], order=order)
                good = new.ok & (new.objective <= obj[fi] + 1e-12 * np.abs(obj[fi]))
                gi = fi[good]
                if len(gi):
                    rows = idx[gi]
                    theta[rows] = cand[feas][good]
                    cr = crossing[feas][good]
                    below = (new.objective[good] <= obj[gi])[:, None]
                    free[rows] &= ~(cr & below)
                    accepted[gi] = True
                    pending[gi] = False
                    new_obj[gi] = new.objective[good]
                    if order == 2:
                        _merge(ev, rows, new, good)
                        full_step[gi] = True
                    else:
                        ev.objective[rows] = new.objective[good]
            lam /= 2.0
        # not accepted: stop
        active[idx[~accepted]] = False
        halved = accepted & ~full_step
        if halved.any():
            rows = idx[halved]
            _merge(ev, rows, evaluate(st.take(rows), cov, theta[rows], order=2))
        fin = accepted & final
        active[idx[fin]] = False
        small = accepted & (np.abs(obj - new_obj) <= 1e-15 * np.maximum(np.abs(new_obj), 1.0))
        small &= crit < 1e-14
        active[idx[small]] = False
    # final criterion at the returned point
    step, ok = _masked_solve(ev.hessian, ev.gradient, free)
    crit = np.abs(np.einsum("rk,rk->r", ev.gradient, step)) / np.maximum(
        np.abs(ev.objective), 1e-300
    )
    crit = np.where(ok & ~failed, crit, np.inf)
    converged = ok & ~failed & (crit <= SAS_CRITERION)
    return BatchFit(ev, free, converged, failed, iters, crit)


# ---------------------------------------------------------------------- inference
def _theta_cov(H: np.ndarray, free: np.ndarray) -> np.ndarray:
    """2 H_ff^-1 per replicate, zero rows/columns for boundary parameters."""
    K = H.shape[-1]
    both = free[:, :, None] & free[:, None, :]
    Hm = np.where(both, H, np.eye(K))
    with np.errstate(all="ignore"):
        try:
            W = 2.0 * np.linalg.inv(Hm)
        except np.linalg.LinAlgError:
            W = 2.0 * np.linalg.pinv(Hm)
    return np.where(both, W, 0.0)


def contrast_tests(
    st: PatternStats,
    cov: BatchedCovariance,
    fitres: BatchFit,
    l: np.ndarray,
    df_method: str,
    fixed_df: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """t test of l'b in every replicate: estimate, se, df, t and two-sided p.

    ``df_method`` is one of ``inference.DF_METHODS``; the fixed-df methods take ``fixed_df``
    (R,). Kenward-Roger uses the observed information, as SAS (and ``fit``) do.

    >>> import numpy as np
    >>> X = np.broadcast_to(np.eye(2)[None], (8, 2, 2)); rng = np.random.default_rng(5)
    >>> st = pattern_statistics(X, rng.normal(size=(3, 8, 2)), np.full((3, 8), 2))
    >>> cov = BatchedCovariance("un", 2)
    >>> fr = newton_raphson_batched(st, cov, start_values(st, cov))
    >>> out = contrast_tests(st, cov, fr, np.array([0.0, 1.0]), "kenward-roger")
    >>> np.allclose(out["df"], 7.0)
    True
    """
    ev = fitres.evaluation
    R, K = st.R, cov.K
    l = np.asarray(l, dtype=float)
    Phi = ev.Phi
    est = ev.beta @ l
    u = Phi @ l  # (R, p)
    c = u @ l
    if df_method in ("satterthwaite", "kenward-roger", "kenward-roger-linear"):
        W = _theta_cov(ev.hessian, fitres.free)
        V, dV, d2V = cov.matrices(ev.theta)
        Pu = np.zeros((R, K, st.p))
        Qq = np.zeros((R, K, K))
        Rq = np.zeros((R, K, K))
        for j, k in enumerate(st.k):
            Vinv, _, _ = _chol_inv(V[:, :k, :k])
            dVk = dV[:, :, :k, :k]
            XXu = np.einsum("rabij,rj->rabi", st.XX[j], u)
            G = Vinv[:, None] @ dVk @ Vinv[:, None]
            Pu -= np.einsum("rkab,rabi->rki", G, XXu)
            uAAu = Vinv @ np.einsum("rabi,ri->rab", XXu, u) @ Vinv
            VkVinvVl = (dVk @ Vinv[:, None])[:, :, None] @ dVk[:, None]
            Qq += np.einsum("rklad,rad->rkl", VkVinvVl, uAAu)
            if d2V is not None:
                Rq += np.einsum("rklad,rad->rkl", d2V[..., :k, :k], uAAu)
        g = np.einsum("rki,ri->rk", Pu, u)
        gWg = np.einsum("rk,rkl,rl->r", g, W, g)
        if df_method == "satterthwaite":
            var = c
            with np.errstate(divide="ignore", invalid="ignore"):
                df = np.where(gWg > 0, 2.0 * c**2 / gWg, np.inf)
        else:
            inner = Qq - np.einsum("rki,rij,rlj->rkl", Pu, Phi, Pu)
            if df_method == "kenward-roger" and not cov.linear:
                inner = inner - 0.25 * Rq
            var = c + 2.0 * np.einsum("rkl,rkl->r", W, inner)
            with np.errstate(divide="ignore", invalid="ignore"):
                a = gWg / c**2
                Bq = 3.5 * a
                Estar = 1.0 / (1.0 - a)
                Vstar = 2.0 * (1.0 - Bq / 7.0) / ((1.0 - 2.0 * Bq / 7.0) ** 2
                                                  * (1.0 - 4.0 * Bq / 7.0))
                rho = Vstar / (2.0 * Estar**2)
                df = 4.0 + 3.0 / (rho - 1.0)
    else:
        if fixed_df is None:
            raise ValueError(f"df method {df_method!r} needs fixed_df")
        var = c
        df = np.broadcast_to(np.asarray(fixed_df, dtype=float), (R,)).astype(float)
    se = np.sqrt(np.clip(var, 0.0, None))
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(se > 0, est / se, np.nan)
    p = 2.0 * special.stdtr(df, -np.abs(t))
    return {"estimate": est, "se": se, "df": df, "t": t, "p": p}
