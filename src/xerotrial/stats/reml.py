"""REML (and ML) objective with analytic gradient and Hessian, batched by covariance pattern.

Subjects that share a pattern (group, observed time levels, random-effect rows) share V_i.
For each pattern the data are reduced once to sufficient statistics,

    XX[a,b] = sum_i X_ia X_ib'   (n x n x p x p),   Xy[a,b] = sum_i X_ia y_ib,   yy = sum_i y_i y_i'

so every evaluation costs O(patterns * (n^3 + n^4 p^2)) whatever the number of subjects.

The objective is SAS's: -2 REML log-likelihood
    (N - p) log(2 pi) + sum_i log|V_i| + log|X'V^-1 X| + r'V^-1 r,
and for ML  N log(2 pi) + sum_i log|V_i| + r'V^-1 r  (b profiled out in both).

Example
-------
>>> import numpy as np
>>> from xerotrial.stats.marginal import RandomEffectsCovariance
>>> rng = np.random.default_rng(0)
>>> subj = np.repeat(np.arange(8), 3); y = rng.normal(size=24) + rng.normal(size=8)[subj]
>>> X = np.ones((24, 1)); Z = np.ones((24, 1))
>>> eng = RemlEngine(y, X, subj, np.tile(np.arange(3), 8), None, Z, RandomEffectsCovariance())
>>> ev = eng.evaluate(np.array([1.0, 1.0]), order=1)
>>> round(float(ev.objective), 4) == round(float(eng.evaluate(np.array([1.0, 1.0])).objective), 4)
True
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .marginal import MarginalCovariance, Pattern

__all__ = ["RemlEngine", "Evaluation", "PatternData"]

LOG2PI = float(np.log(2.0 * np.pi))


class NotPositiveDefiniteError(ArithmeticError):
    """V_i or X'V^-1X is not positive definite at the requested parameters."""


@dataclass
class PatternData:
    """Sufficient statistics of the subjects that share one covariance pattern."""

    pattern: Pattern
    m: int
    XX: np.ndarray
    Xy: np.ndarray
    yy: np.ndarray
    rows: np.ndarray  # (m, n) row indices into the data, for residuals


@dataclass
class Evaluation:
    """Objective and (optionally) derivatives at one theta."""

    theta: np.ndarray
    objective: float
    beta: np.ndarray
    Phi: np.ndarray  # (X'V^-1X)^-1
    logdet_xvx: float
    gradient: np.ndarray | None = None
    hessian: np.ndarray | None = None  # observed Hessian of -2 log-lik
    expected: np.ndarray | None = None  # expected Hessian (Fisher scoring)


class RemlEngine:
    """Holds the data grouped by pattern and evaluates -2 (RE)ML and its derivatives."""

    def __init__(
        self,
        y: np.ndarray,
        X: np.ndarray,
        subject: np.ndarray,
        time: np.ndarray,
        group: np.ndarray | None,
        Z: np.ndarray | None,
        covariance: MarginalCovariance,
        method: str = "REML",
    ) -> None:
        self.y = np.asarray(y, dtype=float)
        self.X = np.asarray(X, dtype=float)
        self.N, self.p = self.X.shape
        self.cov = covariance
        self.method = method.upper()
        if self.method not in ("REML", "ML"):
            raise ValueError("method must be 'REML' or 'ML'")
        # The sufficient statistics hold y minus its least-squares fit X b0: REML and ML are
        # invariant to that shift (beta moves by b0), and without it y'V^-1 y - beta'c
        # cancels catastrophically when the mean is large next to the residual SD (a mean of
        # 25 and an SD of 0.02 leave -2 log L with noise above the last Newton decrements).
        # Any b0 will do (its own rounding cancels exactly), so the normal equations suffice.
        self._beta0 = np.zeros(self.p)
        if self.N and np.isfinite(self.y).all() and np.isfinite(self.X).all():
            try:
                self._beta0 = np.linalg.solve(self.X.T @ self.X, self.X.T @ self.y)
            except np.linalg.LinAlgError:
                self._beta0 = np.full(self.p, np.nan)
            if not np.isfinite(self._beta0).all():
                self._beta0 = np.linalg.lstsq(self.X, self.y, rcond=None)[0]
        self._y_work = self.y - self.X @ self._beta0
        self.patterns = self._build_patterns(
            np.asarray(subject), np.asarray(time), group, Z
        )

    # ------------------------------------------------------------------ set-up
    def _build_patterns(self, subject, time, group, Z) -> list[PatternData]:
        groups = self._subject_patterns(subject, time, group, Z, self.cov.uses_time)
        out = []
        for pattern, rows in groups:
            m, n = rows.shape
            Xs = self.X[rows]  # (m, n, p)
            ys = self._y_work[rows]  # (m, n)
            B = Xs.reshape(m, n * self.p)
            out.append(
                PatternData(
                    pattern=pattern,
                    m=m,
                    XX=(B.T @ B).reshape(n, self.p, n, self.p).transpose(0, 2, 1, 3).copy(),
                    Xy=(B.T @ ys).reshape(n, self.p, n).transpose(0, 2, 1).copy(),
                    yy=ys.T @ ys,
                    rows=rows,
                )
            )
        return out

    @staticmethod
    def _subject_patterns(
        subject, time, group, Z, uses_time: bool = True
    ) -> list[tuple[Pattern, np.ndarray]]:
        """Group subjects by pattern; each group's rows as an (m, n) index array in time order.

        When V_i does not depend on the observed times (random effects), subjects with the
        same Z_i rows share a pattern whatever their visits."""
        if Z is None and len(time) and time.min() >= 0:
            # R-side models: a subject's pattern is its set of time levels (and group)
            _, subj = np.unique(subject, return_inverse=True)
            S, T = int(subj.max()) + 1, int(time.max()) + 1
            where = np.full((S, T), -1, dtype=np.int64)
            where[subj, time] = np.arange(len(time))
            if int((where >= 0).sum()) != len(time):
                raise ValueError("a subject has two observations at one time level")
            g = np.zeros(S, dtype=np.int64)
            if group is not None:
                g[subj] = group
            keys = np.column_stack([g, where >= 0])
            uniq, inverse = np.unique(keys, axis=0, return_inverse=True)
            out = []
            for u, key in enumerate(uniq):
                times = np.flatnonzero(key[1:])
                members = np.flatnonzero(inverse.ravel() == u)
                out.append((Pattern(int(key[0]), tuple(int(t) for t in times)),
                            where[np.ix_(members, times)]))
            return out
        order = np.lexsort((time, subject))
        subj_sorted = subject[order]
        starts = np.flatnonzero(np.r_[True, subj_sorted[1:] != subj_sorted[:-1]])
        ends = np.r_[starts[1:], len(order)]
        buckets: dict[tuple, list[np.ndarray]] = {}
        keys: dict[tuple, Pattern] = {}
        for s, e in zip(starts, ends, strict=True):
            rows = order[s:e]
            g = int(group[rows[0]]) if group is not None else 0
            t = tuple(int(v) for v in time[rows]) if uses_time else tuple(range(len(rows)))
            zr = Z[rows] if Z is not None else None
            key = (g, t, zr.tobytes() if zr is not None else b"")
            if key not in keys:
                keys[key] = Pattern(g, t, zr)
                buckets[key] = []
            buckets[key].append(rows)
        return [(keys[k], np.stack(v)) for k, v in buckets.items()]

    # ------------------------------------------------------------------ evaluation
    def _factor(self, theta):
        """Per pattern: V, dV, d2V, V^-1, log|V|. Raises NotPositiveDefiniteError.

        The last result is kept, so inference at the estimate reuses the final factorisation.
        """
        key = theta.tobytes()
        if getattr(self, "_last_key", None) == key:
            return self._last_facs
        facs = self._factor_new(theta)
        self._last_key, self._last_facs = key, facs
        return facs

    def _factor_new(self, theta):
        facs = []
        for pd in self.patterns:
            V, dV, d2V = self.cov.pattern_matrices(theta, pd.pattern)
            try:
                chol = np.linalg.cholesky(V)
            except np.linalg.LinAlgError:
                raise NotPositiveDefiniteError("V is not positive definite") from None
            diag = np.diag(chol)
            if not (diag > 0).all():  # also catches NaN
                raise NotPositiveDefiniteError("V is not positive definite")
            Linv = np.linalg.inv(chol)
            Vinv = Linv.T @ Linv
            facs.append((V, dV, d2V, Vinv, 2.0 * float(np.sum(np.log(diag)))))
        return facs

    def evaluate(self, theta: np.ndarray, order: int = 0) -> Evaluation:
        """-2 (RE)ML log-likelihood at ``theta``; with order 1 the gradient, 2 the Hessian."""
        theta = np.asarray(theta, dtype=float)
        facs = self._factor(theta)
        p = self.p
        M = np.zeros((p, p))
        c = np.zeros(p)
        yVy = 0.0
        logdet = 0.0
        for pd, (_, _, _, Vinv, ld) in zip(self.patterns, facs, strict=True):
            v = Vinv.ravel()
            M += (v @ pd.XX.reshape(len(v), -1)).reshape(p, p)
            c += v @ pd.Xy.reshape(len(v), -1)
            yVy += float(v @ pd.yy.ravel())
            logdet += pd.m * ld
        try:
            cm = np.linalg.cholesky(M)
        except np.linalg.LinAlgError:
            raise NotPositiveDefiniteError("X'V^-1X is not positive definite") from None
        Linv = np.linalg.inv(cm)
        Phi = Linv.T @ Linv
        beta = Phi @ c
        logdet_m = 2.0 * float(np.sum(np.log(np.diag(cm))))
        rVr = yVy - float(beta @ c)
        if self.method == "REML":
            obj = (self.N - p) * LOG2PI + logdet + logdet_m + rVr
        else:
            obj = self.N * LOG2PI + logdet + rVr
        ev = Evaluation(theta, float(obj), beta + self._beta0, Phi, logdet_m)
        if order >= 1:
            self._derivatives(ev, facs, order)
        return ev

    def _pattern_pieces(self, pd: PatternData, Vinv: np.ndarray, beta: np.ndarray):
        """AA = sum_i A_i (x) A_i with A_i = V^-1 X_i, S_u = sum u_i u_i', AU = sum A_i (x) u_i."""
        n, p = Vinv.shape[0], len(beta)
        XXb = (pd.XX.reshape(-1, p) @ beta).reshape(n, n, p)
        Xyb = (pd.Xy.reshape(-1, p) @ beta).reshape(n, n)
        RR = pd.yy - Xyb - Xyb.T + (XXb.reshape(-1, p) @ beta).reshape(n, n)
        XR = pd.Xy - XXb  # sum_i X_ia r_ib
        AA = _sandwich(Vinv, pd.XX)
        Su = Vinv @ RR @ Vinv
        AU = np.moveaxis(_sandwich(Vinv, XR), 2, 0)
        return AA, Su, AU

    def _derivatives(self, ev: Evaluation, facs, order: int) -> None:
        K = len(ev.theta)
        reml = self.method == "REML"
        Phi = ev.Phi
        grad = np.zeros(K)
        B = np.zeros((K, self.p, self.p))
        a = np.zeros((K, self.p))
        hess_local = np.zeros((K, K))  # pattern-local parts of -tr(PVkPVl)
        quad = np.zeros((K, K))
        second = np.zeros((K, K))
        p = self.p
        for pd, (_, dV, d2V, Vinv, _) in zip(self.patterns, facs, strict=True):
            AA, Su, AU = self._pattern_pieces(pd, Vinv, ev.beta - self._beta0)
            nn = Vinv.size
            AAf = AA.reshape(nn, p * p)
            dVf = dV.reshape(K, nn)
            H = (AAf @ Phi.ravel()).reshape(Vinv.shape)
            w = pd.m * Vinv - Su - (H if reml else 0.0)
            grad += dVf @ w.ravel()
            if order < 2:
                continue
            B += (dVf @ AAf).reshape(K, p, p)
            a += dVf @ AU.reshape(p, nn).T
            D = Vinv @ dV  # (K, n, n): V^-1 V_k
            hess_local += pd.m * _trace_pairs(D, D)
            quad += _trace_pairs(dV, D @ Su)  # tr(V_k V^-1 V_l S_u)
            if reml:
                hess_local -= 2.0 * _trace_pairs(H @ dV, D)
            if d2V is not None:
                second += (d2V.reshape(K * K, nn) @ w.ravel()).reshape(K, K)
        ev.gradient = grad
        if order >= 2:
            PhiB = Phi @ B  # (K, p, p)
            trPP = hess_local.copy()
            if reml:
                trPP += _trace_pairs(PhiB, PhiB)
            quad_full = quad - a @ Phi @ a.T
            hess = -trPP + 2.0 * quad_full + second
            ev.hessian = 0.5 * (hess + hess.T)
            ev.expected = 0.5 * (trPP + trPP.T)

    # ------------------------------------------------------------------ Kenward-Roger pieces
    def kr_pieces(self, theta: np.ndarray):
        """Kenward-Roger's P_k = X' dV^-1/dtheta_k X, Q_kl = X'V^-1 V_k V^-1 V_l V^-1 X and
        R_kl = X'V^-1 V_kl V^-1 X, summed over subjects."""
        facs = self._factor(np.asarray(theta, dtype=float))
        K = len(theta)
        p = self.p
        P = np.zeros((K, p, p))
        Q = np.zeros((K, K, p, p))
        R = np.zeros((K, K, p, p))
        for pd, (_, dV, d2V, Vinv, _) in zip(self.patterns, facs, strict=True):
            nn = Vinv.size
            AAf = _sandwich(Vinv, pd.XX).reshape(nn, p * p)
            P -= (dV.reshape(K, nn) @ AAf).reshape(K, p, p)
            VkVinvVl = (dV @ Vinv)[:, None] @ dV[None]  # (K, K, n, n)
            Q += (VkVinvVl.reshape(K * K, nn) @ AAf).reshape(K, K, p, p)
            if d2V is not None:
                R += (d2V.reshape(K * K, nn) @ AAf).reshape(K, K, p, p)
        return P, Q, R



def _sandwich(A: np.ndarray, T: np.ndarray) -> np.ndarray:
    """out[a, b, ...] = sum_cd A[a, c] A[b, d] T[c, d, ...] (A symmetric), by two matmuls."""
    n = A.shape[0]
    rest = T.shape[2:]
    tmp = (A @ T.reshape(n, -1)).reshape(n, n, -1)  # (a, d, r)
    out = A @ tmp  # (a, b, r): for each a, sum_d A[b, d] tmp[a, d, r]
    return out.reshape((n, n, *rest))


def _trace_pairs(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """out[k, l] = tr(A_k B_l) for stacks A (K, n, n) and B (L, n, n)."""
    return A.reshape(len(A), -1) @ np.swapaxes(B, 1, 2).reshape(len(B), -1).T
