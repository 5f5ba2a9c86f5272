"""REML (and ML) objective with analytic gradient and Hessians, for many replicates at once.

The data are the units of ``patterns.py`` (one covariance pattern in one replicate, reduced
to sufficient statistics), stacked by size, so an evaluation costs a few array operations
per pattern size, O(units * (n^3 + n^2 p^2)) arithmetic, whatever the number of subjects,
patterns or replicates. A single fit is one replicate; on an R-side structure it takes the
time-level path (``_derivatives_by_time``): sums over its subjects' rows, with every trace
against dV_k done once over the full t x t matrices rather than once per pattern.

The objective is SAS's: -2 REML log-likelihood
    (N - p) log(2 pi) + sum_i log|V_i| + log|X'V^-1 X| + r'V^-1 r,
and for ML  N log(2 pi) + sum_i log|V_i| + r'V^-1 r  (b profiled out in both).

Example
-------
>>> import numpy as np
>>> from xerotrial.stats.marginal import RandomEffectsCovariance
>>> from xerotrial.stats.patterns import build_layout
>>> rng = np.random.default_rng(0)
>>> subj = np.repeat(np.arange(8), 3); y = rng.normal(size=24) + rng.normal(size=8)[subj]
>>> lay = build_layout(y, np.ones((24, 1)), subj, np.tile(np.arange(3), 8), Z=np.ones((24, 1)),
...                    uses_time=False)
>>> eng = RemlEngine(lay, RandomEffectsCovariance())
>>> ev = eng.evaluate(np.array([1.0, 1.0]), order=2)
>>> ev.gradient.shape, ev.hessian.shape
((2,), (2, 2))
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np

from .errors import DataValidationError
from .linalg import chol_inverse
from .marginal import MarginalCovariance, RepeatedCovariance
from .patterns import Layout, SizeGroup

if TYPE_CHECKING:  # imported where used: scipy.sparse costs 0.15 s at start-up
    import scipy.sparse

__all__ = ["RemlEngine", "Evaluation"]

LOG2PI = float(np.log(2.0 * np.pi))
BY_TIME_MAX_LEVELS = 24  # time levels up to which one data set's derivatives sum over them


@dataclass
class Evaluation:
    """Objective and (optionally) derivatives, per replicate (leading axis), or for one
    replicate without that axis when ``evaluate`` was given one parameter vector.

    ``ok`` is False where V_i or X'V^-1X is not positive definite (the objective is then
    inf and the other fields are meaningless)."""

    theta: np.ndarray
    ok: np.ndarray
    objective: np.ndarray
    beta: np.ndarray
    Phi: np.ndarray  # (X'V^-1X)^-1
    gradient: np.ndarray | None = None
    hessian: np.ndarray | None = None  # observed Hessian of -2 log-lik
    expected: np.ndarray | None = None  # expected Hessian (Fisher scoring)
    B: np.ndarray | None = None  # X'V^-1 V_k V^-1 X (K, p, p): -dPhi^-1/dtheta_k

    def take(self, r: int) -> Evaluation:
        """The evaluation of replicate ``r`` (no replicate axis)."""
        return Evaluation(
            **{
                f.name: (None if getattr(self, f.name) is None else getattr(self, f.name)[r])
                for f in fields(self)
            }
        )

    def merge(self, rows: np.ndarray, other: Evaluation, sel=slice(None)) -> None:
        """Copy ``other``'s replicates ``sel`` into this evaluation's ``rows``."""
        for name in _FIELDS:
            src = getattr(other, name)
            if src is not None:
                getattr(self, name)[rows] = src[sel]


_FIELDS = tuple(f.name for f in fields(Evaluation))


def _sandwich(A: np.ndarray, T: np.ndarray) -> np.ndarray:
    """out[u, a, b, ...] = sum_cd A[u, a, c] A[u, b, d] T[u, c, d, ...] (A symmetric)."""
    U, n = A.shape[:2]
    rest = T.shape[3:]
    tmp = (A @ T.reshape(U, n, -1)).reshape(U, n, n, -1)  # (u, a, d, r)
    return (A[:, None] @ tmp).reshape(U, n, n, *rest)


def _trace_pairs(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """out[u, k, l] = tr(A_uk B_ul) for stacks A (U, K, n, n) and B (U, L, n, n)."""
    U, K = A.shape[:2]
    return A.reshape(U, K, -1) @ np.swapaxes(B, 2, 3).reshape(U, B.shape[1], -1).swapaxes(1, 2)


def _placed(positions: list[np.ndarray], values: list[np.ndarray], width: int) -> np.ndarray:
    """Rows stacked from pieces, each row's values put at its ``positions`` (rows, m) along
    an axis of ``width`` (zeros elsewhere): values (rows, m, ...) -> (all rows, width, ...)."""
    rows = sum(len(pos) for pos in positions)
    out = np.zeros((rows, width, *values[0].shape[2:]))
    start = 0
    for pos, val in zip(positions, values, strict=True):
        out[(start + np.arange(len(pos)))[:, None], pos] = val
        start += len(pos)
    return out


class _Segments:
    """Sums over the units of each replicate (units sorted by replicate)."""

    def __init__(self, pos: np.ndarray, R: int) -> None:
        self.R = R
        self.pos = pos
        increasing = len(pos) < 2 or bool(np.all(pos[1:] > pos[:-1]))  # one unit a replicate
        if increasing and len(pos) == R:
            self.kind = "same"
        elif R == 1:
            self.kind = "sum"
        else:
            self.kind = "scatter" if increasing else "csr"
        if self.kind == "csr":
            indptr = np.searchsorted(pos, np.arange(R + 1))
            import scipy.sparse as sp

            self.E = sp.csr_array(
                (np.ones(len(pos)), np.arange(len(pos)), indptr), shape=(R, len(pos))
            )

    def add(self, acc: np.ndarray, values: np.ndarray) -> None:
        """acc[r] += the sum of ``values`` over replicate r's units (in place)."""
        if self.kind == "sum":
            acc += values.sum(axis=0).reshape(acc.shape[1:])
        elif self.kind == "same":
            acc += values.reshape(acc.shape)
        elif self.kind == "scatter":
            acc[self.pos] += values.reshape(len(values), *acc.shape[1:])
        else:
            acc += np.asarray(self.E @ values.reshape(len(values), -1)).reshape(acc.shape)


class _SparseDV:
    """The non-zero elements of a size group's constant dV (U, K, n, n), to contract dV with
    per-unit tensors as one sparse product (UN's dV_k has two non-zero elements)."""

    def __init__(self, dV: np.ndarray) -> None:
        U, K, n = dV.shape[:3]
        flat = dV.reshape(U, K, n * n)
        self.unit, self.k, self.ab = np.nonzero(flat)
        self.val = flat[self.unit, self.k, self.ab]
        self.offs = np.searchsorted(self.unit, np.arange(U + 1))
        self.K, self.nn = K, n * n
        self.full = self._matrix(np.arange(U))
        self.nnz = len(self.val) / max(U, 1)

    def _matrix(self, sel: np.ndarray) -> scipy.sparse.csr_array:
        lengths = self.offs[sel + 1] - self.offs[sel]
        starts = np.repeat(self.offs[sel] - np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths)
        idx = starts + np.arange(int(lengths.sum()))
        local = np.repeat(np.arange(len(sel)), lengths)
        rows = local * self.K + self.k[idx]
        indptr = np.searchsorted(rows, np.arange(len(sel) * self.K + 1))
        import scipy.sparse as sp

        return sp.csr_array(
            (self.val[idx], local * self.nn + self.ab[idx], indptr),
            shape=(len(sel) * self.K, len(sel) * self.nn),
        )

    def matrix(self, sel) -> scipy.sparse.csr_array:
        return self.full if isinstance(sel, slice) else self._matrix(sel)


class _Part:
    """The units of one size group that belong to the replicates being evaluated."""

    def __init__(self, g: SizeGroup, sel, pos: np.ndarray, R: int) -> None:
        self.g, self.sel, self.pos = g, sel, pos
        self.seg = _Segments(pos, R)
        self.whole = isinstance(sel, slice)
        for name in ("m", "slots", "group", "Z", "dV"):
            value = getattr(g, name)
            setattr(self, name, value if value is None or self.whole else value[sel])
        self.sparse = g.sparse.matrix(sel) if g.sparse is not None else None

    @cached_property
    def XX(self) -> np.ndarray:  # the units' sums, formed when first needed
        return self.g.XX if self.whole else self.g.XX[self.sel]

    @cached_property
    def Xyy(self) -> np.ndarray:
        return self.g.Xyy if self.whole else self.g.Xyy[self.sel]

    @property
    def Xy(self) -> np.ndarray:
        return self.Xyy[..., :-1]

    @property
    def yy(self) -> np.ndarray:
        return self.Xyy[..., -1]

    def contract(self, T: np.ndarray, dV: np.ndarray) -> np.ndarray:
        """sum_ab dV[u, k, a, b] T[u, a, b, ...] -> (U, K, ...)."""
        U, nn = len(T), T.shape[1] * T.shape[2]
        rest = T.shape[3:]
        if self.sparse is not None:
            flat = self.sparse @ T.reshape(U * nn, -1)
            return np.asarray(flat).reshape(U, -1, *rest)
        return (dV.reshape(U, -1, nn) @ T.reshape(U, nn, -1)).reshape(U, -1, *rest)


class RemlEngine:
    """The data of all replicates by pattern; evaluates -2 (RE)ML and its derivatives."""

    def __init__(self, layout: Layout, covariance: MarginalCovariance, method: str = "REML"):
        self.layout = layout
        self.cov = covariance
        self.method = str(method).upper()
        if self.method not in ("REML", "ML"):
            raise DataValidationError(f"method {method!r} is not 'REML' or 'ML'")
        self.R, self.p = layout.R, layout.p
        self.K = len(covariance.param_names)
        self.N = layout.n_obs
        p, K = self.p, self.K
        self._all: list[_Part] | None = None
        self._factors: tuple[bytes, list] | None = None
        for g in layout.groups:
            g.dV = covariance.constant_derivatives(slots=g.slots, group=g.group, Z=g.Z)
            g.sparse = None
            if g.dV is not None and K > 2:
                # B_k = X'V^-1 V_k V^-1 X: from AA = sum_i A_i (x) A_i (A = V^-1 X) and a
                # sparse dV, or from V^-1 V_k V^-1 and XX; take the cheaper
                sparse = _SparseDV(g.dV)
                n = g.n
                if 2 * n**3 * p * p + sparse.nnz * p * p < 0.7 * K * n * n * (n + p * p):
                    g.sparse = sparse

        # one data set on an R-side structure: sums over the time levels (see
        # _derivatives_by_time) instead of per-pattern contractions with dV, where the
        # t^2 x t^2 sums stay small (spatial models over many distinct points do not)
        self._by_time = (
            self.R == 1
            and isinstance(covariance, RepeatedCovariance)  # R-side alone (spatial too)
            and covariance.t <= BY_TIME_MAX_LEVELS
            and all(g.Xs is not None for g in layout.groups)
        )

    @property
    def n_patterns(self) -> int:
        return self.layout.n_patterns

    # ------------------------------------------------------------------ selection
    def _parts(self, reps: np.ndarray | None) -> tuple[list[_Part], int]:
        if reps is None or len(reps) == self.R:  # reps are sorted and distinct
            if self._all is None:
                self._all = [_Part(g, slice(None), g.rep, self.R) for g in self.layout.groups]
            return self._all, self.R
        R = len(reps)
        index = np.full(self.R, -1)
        index[reps] = np.arange(R)
        parts = []
        for g in self.layout.groups:
            sel = np.flatnonzero(index[g.rep] >= 0)
            if len(sel):
                parts.append(_Part(g, sel, index[g.rep[sel]], R))
        return parts, R

    def _matrices(self, part: _Part, prepared, order: int):
        return self.cov.unit_matrices(
            prepared,
            part.pos,
            slots=part.slots,
            group=part.group,
            Z=part.Z,
            dV=part.dV,
            order=order,
        )

    # ------------------------------------------------------------------ evaluation
    def evaluate(
        self, theta: np.ndarray, order: int = 0, reps: np.ndarray | None = None
    ) -> Evaluation:
        """-2 (RE)ML log-likelihood at ``theta`` (R, K) for replicates ``reps`` (default:
        all); order 1 adds the gradient, 2 the observed and expected Hessians. A single
        parameter vector (K,) evaluates a one-replicate engine and drops the replicate axis.
        """
        theta = np.asarray(theta, dtype=float)
        if theta.ndim == 1:
            return self.evaluate(theta[None], order, reps).take(0)
        parts, R = self._parts(reps)
        p = self.p
        M = np.zeros((R, p, p))
        cy = np.zeros((R, p + 1))  # X'V^-1 y and y'V^-1 y
        logdet = np.zeros(R)  # sum log|V_i|
        bad = np.zeros(R)  # patterns whose V is not positive definite
        facs = []
        by_time = parts is self._all and self._by_time
        subjects = []  # by_time: each subject's V_i^-1 X_i and V_i^-1 y_i
        prepared = self.cov.prepare(theta, order)
        for part in parts:
            V, dV, d2V = self._matrices(part, prepared, order)
            Vinv, ld, ok = chol_inverse(V)
            U, n = len(V), V.shape[-1]
            add = part.seg.add
            if by_time:  # sums over the subjects' rows
                Xs, ys = part.g.Xs, part.g.ys
                Vs = Vinv[part.g.member_unit]
                A = Vs @ Xs
                vy = (Vs @ ys[..., None])[..., 0]
                Af = A.reshape(-1, p)
                M[0] += Af.T @ Xs.reshape(-1, p)
                cy[0, :p] += Af.T @ ys.reshape(-1)
                cy[0, p] += float((ys * vy).sum())
                subjects.append((A, vy))
            else:
                vf = Vinv.reshape(U, 1, n * n)
                add(M, vf @ part.XX.reshape(U, n * n, p * p))
                add(cy, vf @ part.Xyy.reshape(U, n * n, p + 1))
            add(logdet, part.m * ld)
            if not ok.all():
                add(bad, (~ok).astype(float))
            facs.append((part, Vinv, dV, d2V))
        if parts is self._all and order >= 2:  # kept: Kenward-Roger at the estimate reuses it
            self._factors = (theta.tobytes(), facs)
        c, yVy = cy[:, :p], cy[:, p]
        if by_time:
            M = 0.5 * (M + np.swapaxes(M, 1, 2))
        Phi, logdet_m, ok_m = chol_inverse(M)
        ok = ok_m & (bad == 0)
        beta = (Phi @ c[..., None])[..., 0]
        rVr = yVy - (beta * c).sum(axis=1)
        N = self.N if reps is None else self.N[reps]
        if self.method == "REML":
            obj = (N - p) * LOG2PI + logdet + logdet_m + rVr
        else:
            obj = N * LOG2PI + logdet + rVr
        obj = np.where(ok, obj, np.inf)
        beta0 = self.layout.beta0 if reps is None else self.layout.beta0[reps]
        ev = Evaluation(theta, ok, obj, beta + beta0, Phi)
        if order >= 1:
            if by_time:
                self._derivatives_by_time(ev, beta, facs, subjects, order, prepared)
            else:
                self._derivatives(ev, beta, facs, R, order)
        return ev

    def _derivatives(self, ev: Evaluation, beta: np.ndarray, facs, R: int, order: int):
        K, p = self.K, self.p
        reml = self.method == "REML"
        Phi = ev.Phi
        grad = np.zeros((R, K))
        B = np.zeros((R, K, p, p))
        a = np.zeros((R, K, p))
        hess_local = np.zeros((R, K, K))  # pattern-local parts of -tr(PVkPVl)
        quad = np.zeros((R, K, K))
        second = np.zeros((R, K, K))
        for part, Vinv, dV, d2V in facs:
            U, n = Vinv.shape[:2]
            nn = n * n
            bu = beta[part.pos]
            XXf = part.XX.reshape(U, nn * p, p)
            XXb = (XXf @ bu[..., None]).reshape(U, n, n, p)
            Xyb = (part.Xy.reshape(U, nn, p) @ bu[..., None]).reshape(U, n, n)
            RR = (
                part.yy
                - Xyb
                - np.swapaxes(Xyb, 1, 2)
                + (XXb.reshape(U, nn, p) @ bu[..., None]).reshape(U, n, n)
            )
            Su = Vinv @ RR @ Vinv
            w = part.m[:, None, None] * Vinv - Su
            if reml:
                XXPhi = part.XX.reshape(U, nn, p * p) @ Phi[part.pos].reshape(U, p * p, 1)
                H = Vinv @ XXPhi.reshape(U, n, n) @ Vinv
                w = w - H
            add = part.seg.add
            add(grad, part.contract(w[..., None], dV))
            if order < 2:
                continue
            XR = part.Xy - XXb  # sum_i X_ia r_ib
            D = Vinv[:, None] @ dV  # (U, K, n, n): V^-1 V_k
            if part.sparse is not None:
                add(B, part.contract(_sandwich(Vinv, part.XX), dV))
                add(a, part.contract(_sandwich(Vinv, XR), dV))
            else:
                G = (D @ Vinv[:, None]).reshape(U, K, nn)  # V^-1 V_k V^-1
                add(B, G @ part.XX.reshape(U, nn, p * p))
                add(a, G @ XR.reshape(U, nn, p))
            hl = part.m[:, None, None] * _trace_pairs(D, D)
            if reml:
                hl -= 2.0 * _trace_pairs(H[:, None] @ dV, D)
            add(hess_local, hl)
            add(quad, _trace_pairs(dV, D @ Su[:, None]))
            if d2V is not None:
                add(second, d2V.reshape(U, K * K, nn) @ w.reshape(U, nn, 1))
        ev.gradient = grad
        if order < 2:
            return
        PhiB = Phi[:, None] @ B  # (R, K, p, p)
        trPP = hess_local + (_trace_pairs(PhiB, PhiB) if reml else 0.0)
        quad_full = quad - a @ Phi @ np.swapaxes(a, 1, 2)
        hess = -trPP + 2.0 * quad_full + second
        ev.hessian = 0.5 * (hess + np.swapaxes(hess, 1, 2))
        ev.expected = 0.5 * (trPP + np.swapaxes(trPP, 1, 2))
        ev.B = B

    def _derivatives_by_time(
        self, ev: Evaluation, beta, facs, subjects, order: int, prepared
    ) -> None:
        """The derivatives of ``_derivatives`` for one data set on an R-side structure, where
        every pattern's dV_k is the full dV_k (t x t per group) restricted to its slots: the
        per-pattern pieces are placed at their time levels and summed, and each trace with
        dV becomes a product with the full dV_k, once per evaluation,

            tr(P_u dV_k Q_u dV_l) = sum_abcd dV_k[a,b] dV_l[c,d] (sum_u P_u[d,a] Q_u[b,c]),

        while the terms in X come from the subjects' rows, A_i = V_i^-1 X_i and
        s_i = V_i^-1 r_i embedded at their time levels: sum_i A_i (x) A_i and sum_i A_i (x) s_i
        are one matrix product over the subjects. The arithmetic no longer grows with
        patterns x parameters (UN over 10 visits: 55 parameters, 107 patterns on bcva)."""
        K, p = self.K, self.p
        cov = self.cov
        t, G = cov.t, len(cov.groups)
        reml = self.method == "REML"
        Phi, b = ev.Phi[0], beta[0]
        dVf, d2Vf = cov.full_derivatives(prepared, order)
        F = dVf.reshape(G, K, t * t)
        wsum = np.zeros((G, t * t))
        blocks: list[list[tuple[np.ndarray, ...]]] = [[] for _ in range(G)]
        subj: list[list[tuple[np.ndarray, ...]]] = [[] for _ in range(G)]
        for (part, Vinv, _, _), (A, vy) in zip(facs, subjects, strict=True):
            U, n = Vinv.shape[:2]
            nn = n * n
            starts = part.g.starts
            s_i = vy - A @ b  # V_i^-1 r_i
            Su = np.add.reduceat(s_i[:, :, None] * s_i[:, None, :], starts)
            mV = part.m[:, None, None] * Vinv
            w = mV - Su
            P = mV
            if reml:  # H = V^-1 (sum_i X_i Phi X_i') V^-1
                H = np.add.reduceat(A @ Phi @ np.swapaxes(A, 1, 2), starts)
                w = w - H
                P = mV - 2.0 * H
            g_unit = part.group
            flat = (part.slots[:, :, None] * t + part.slots[:, None, :]).reshape(U, nn)
            g_sub = g_unit[part.g.member_unit]
            slots_s = part.slots[part.g.member_unit]
            for g in range(G):
                uu = slice(None) if G == 1 else np.flatnonzero(g_unit == g)
                ss = slice(None) if G == 1 else np.flatnonzero(g_sub == g)
                fl = flat[uu]
                wsum[g] += np.bincount(fl.ravel(), w[uu].reshape(-1), minlength=t * t)
                blocks[g].append((fl, P[uu].reshape(-1, nn), Su[uu].reshape(-1, nn),
                                  Vinv[uu].reshape(-1, nn)))  # fmt: skip
                subj[g].append((slots_s[ss], A[ss], s_i[ss]))
        grad = np.zeros((1, K))
        B = np.zeros((1, K, p, p))
        a = np.zeros((1, K, p))
        hess_local = np.zeros((K, K))
        quad = np.zeros((K, K))
        second = np.zeros((K, K))
        for g in range(G):
            Fg = F[g]
            grad[0] += Fg @ wsum[g]
            if order < 2:
                continue
            Y_P, Y_S = self._time_pairs(blocks[g], t)
            hess_local += Fg @ Y_P @ Fg.T
            quad += Fg @ Y_S @ Fg.T
            AA, AR = self._subject_sums(subj[g], t, p)
            B[0] += (Fg @ AA).reshape(K, p, p)
            a[0] += Fg @ AR
            if d2Vf is not None:
                second += (d2Vf[g].reshape(K * K, t * t) @ wsum[g]).reshape(K, K)
        ev.gradient = grad
        if order < 2:
            return
        PhiB = Phi[None, None] @ B  # (1, K, p, p)
        trPP = hess_local[None] + (_trace_pairs(PhiB, PhiB) if reml else 0.0)
        quad_full = quad[None] - a @ Phi[None] @ np.swapaxes(a, 1, 2)
        hess = -trPP + 2.0 * quad_full + second[None]
        ev.hessian = 0.5 * (hess + np.swapaxes(hess, 1, 2))
        ev.expected = 0.5 * (trPP + np.swapaxes(trPP, 1, 2))
        ev.B = B

    @staticmethod
    def _time_pairs(blocks, t: int) -> tuple[np.ndarray, np.ndarray]:
        """Y[(a,b),(c,d)] = sum_u P_u[d,a] V_u[b,c] for P = ``P`` and for P = ``Su``, from the
        units' matrices placed at their time levels (t^2 x t^2 each)."""
        tt = t * t
        flat = [b[0] for b in blocks]
        Pe, Se, Ve = (_placed(flat, [b[i] for b in blocks], tt) for i in (1, 2, 3))
        out = []
        for E in (Pe, Se):
            Z = (E.T @ Ve).reshape(t, t, t, t)  # [d, a, b, c]
            out.append(np.ascontiguousarray(Z.transpose(1, 2, 3, 0)).reshape(tt, tt))
        return out[0], out[1]

    @staticmethod
    def _subject_sums(subj, t: int, p: int) -> tuple[np.ndarray, np.ndarray]:
        """sum_i A_i[a] (x) A_i[b] (t^2, p^2) and sum_i A_i[a] s_i[b] (t^2, p), the subjects'
        A_i = V_i^-1 X_i and s_i = V_i^-1 r_i placed at their time levels."""
        slots = [x[0] for x in subj]
        Af = _placed(slots, [x[1] for x in subj], t).reshape(-1, t * p)
        Sx = _placed(slots, [x[2] for x in subj], t)
        AA = (Af.T @ Af).reshape(t, p, t, p).transpose(0, 2, 1, 3).reshape(t * t, p * p)
        AR = (Af.T @ Sx).reshape(t, p, t).transpose(0, 2, 1).reshape(t * t, p)
        return AA, AR

    # ------------------------------------------------------------------ Kenward-Roger pieces
    def kr_sums(self, theta: np.ndarray, W: np.ndarray, second: bool):
        """sum_kl W_kl Q_kl and sum_kl W_kl R_kl (None without second derivatives of V), per
        replicate, with Kenward-Roger's Q_kl = X'V^-1 V_k V^-1 V_l V^-1 X and
        R_kl = X'V^-1 V_kl V^-1 X: the weighted sums the adjusted covariance of b needs, without
        forming the K x K stacks of p x p matrices."""
        theta = np.asarray(theta, dtype=float)
        p, K, R = self.p, self.K, self.R
        WQ = np.zeros((R, p, p))
        WR = np.zeros((R, p, p)) if second else None
        if self._factors is not None and self._factors[0] == theta.tobytes():
            facs = self._factors[1]
        else:
            parts, _ = self._parts(None)
            prepared = self.cov.prepare(theta, 2)
            facs = []
            for part in parts:
                V, dV, d2V = self._matrices(part, prepared, 2)
                facs.append((part, chol_inverse(V)[0], dV, d2V))
        for part, Vinv, dV, d2V in facs:
            U, n = Vinv.shape[:2]
            Wu = W[part.pos]
            D = (Vinv[:, None] @ dV).reshape(U, K, n * n)
            Y = (Wu @ D).reshape(U, K, n, n)  # sum_l W_kl V^-1 V_l
            Omega = (dV @ Y).sum(axis=1)  # sum_kl W_kl V_k V^-1 V_l
            Om2 = None
            if second and d2V is not None:
                Om2 = (Wu.reshape(U, 1, K * K) @ d2V.reshape(U, K * K, n * n)).reshape(U, n, n)
            if self._by_time:  # sum_i A_i' Omega A_i over the subjects, A_i = V_i^-1 X_i
                A = Vinv[part.g.member_unit] @ part.g.Xs
                At = np.swapaxes(A, 1, 2)
                WQ[0] += (At @ Omega[part.g.member_unit] @ A).sum(axis=0)
                if Om2 is not None:
                    WR[0] += (At @ Om2[part.g.member_unit] @ A).sum(axis=0)
                continue
            # sum_ab Omega_ab AA[a, b] = sum_cd (V^-1 Omega V^-1)_cd XX[c, d]
            XX = part.XX.reshape(U, 1, n * n, p * p)
            part.seg.add(WQ, (Vinv @ Omega @ Vinv).reshape(U, 1, 1, n * n) @ XX)
            if Om2 is not None:
                part.seg.add(WR, (Vinv @ Om2 @ Vinv).reshape(U, 1, 1, n * n) @ XX)
        return WQ, WR

    # ------------------------------------------------------------------ moments
    def moments(self) -> dict[str, np.ndarray]:
        """Per replicate, moment statistics of the OLS residuals (the centred y) for start
        values: ``total`` (mean square), and ``resid_cov`` (R, groups, t, t) for R-side
        structures or the ANOVA ``within``, ``between`` and ``z_var`` for random effects."""
        R = self.R
        N = self.N
        tr = np.zeros(R)
        for g in self.layout.groups:
            np.add.at(tr, g.rep, np.trace(g.yy, axis1=1, axis2=2))
        with np.errstate(invalid="ignore", divide="ignore"):
            total = np.where(N > 0, tr / np.maximum(N, 1), 1.0)
        total = np.where(total > 0, total, 1.0)
        out = {"total": total}
        if self.cov.uses_time:
            t = self.cov.t
            G = len(self.cov.groups)
            full = np.zeros((R, G, t, t))
            npair = np.zeros((R, G, t, t))
            for g in self.layout.groups:
                idx = (
                    g.rep[:, None, None],
                    g.group[:, None, None],
                    g.slots[:, :, None],
                    g.slots[:, None, :],
                )
                np.add.at(full, idx, g.yy)
                np.add.at(npair, idx, np.broadcast_to(g.m[:, None, None], g.yy.shape))
            with np.errstate(invalid="ignore", divide="ignore"):
                cov = np.where(npair >= 2, full / np.maximum(npair - 1, 1), 0.0)
                v = np.diagonal(full, axis1=2, axis2=3) / np.diagonal(npair, axis1=2, axis2=3)
            v = np.where(np.isfinite(v) & (v > 0), v, total[:, None, None])
            ar = np.arange(t)
            cov[..., ar, ar] = v
            out["resid_cov"] = cov
            out["resid_pairs"] = npair
            return out
        S = self.layout.n_subjects
        within_ss, mean_sq, inv_n = np.zeros(R), np.zeros(R), np.zeros(R)
        q = self.cov.q
        zs, zz = np.zeros((R, q)), np.zeros((R, q))
        for g in self.layout.groups:
            sums = g.yy.sum(axis=(1, 2))
            np.add.at(within_ss, g.rep, np.trace(g.yy, axis1=1, axis2=2) - sums / g.n)
            np.add.at(mean_sq, g.rep, sums / g.n**2)
            np.add.at(inv_n, g.rep, g.m / g.n)
            Zg = np.ones((len(g.m), g.n, 1)) if g.Z is None else g.Z
            np.add.at(zs, g.rep, g.m[:, None] * Zg.sum(axis=1))
            np.add.at(zz, g.rep, g.m[:, None] * (Zg**2).sum(axis=1))
        with np.errstate(invalid="ignore", divide="ignore"):
            within = within_ss / np.maximum(N - S, 1)
            # ANOVA: var(subject means) = s2_u + s2 * mean(1/n_i)
            out["between"] = mean_sq / S - within * inv_n / S
            zbar = zs / N[:, None]
            out["z_var"] = zz / N[:, None] - zbar**2
        out["within"] = within
        return out

    def start_values(self) -> np.ndarray:
        """Moment estimates from OLS residuals, per replicate: a good start saves iterations."""
        return self.cov.start(self.moments())

    # ------------------------------------------------------------------ design ranks
    def gram(self) -> dict[str, np.ndarray]:
        """Per replicate: X'X and X'(I - P_Z)X for Z the subject indicators (R, p, p), from
        the sufficient statistics (for the ranks behind the fixed-df methods)."""
        R, p = self.R, self.p
        XtX = np.zeros((R, p, p))
        within = np.zeros((R, p, p))
        for g in self.layout.groups:
            if g.xx is None and g.Xs is not None:  # one data set: from the subjects' rows
                Xf, sums = g.Xs.reshape(-1, p), g.Xs.sum(axis=1)
                xtx = Xf.T @ Xf
                XtX[0] += xtx
                within[0] += xtx - sums.T @ sums / g.n
                continue
            ar = np.arange(g.n)
            diag = g.XX[:, ar, ar].sum(axis=1)
            np.add.at(XtX, g.rep, diag)
            np.add.at(within, g.rep, diag - g.XX.sum(axis=(1, 2)) / g.n)
        return {"XtX": XtX, "within": within}
