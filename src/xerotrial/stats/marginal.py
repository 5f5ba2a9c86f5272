"""The marginal covariance of one subject, V_i = Z_i G Z_i' + R_i, and its derivatives.

Two families serve every model xerotrial fits:

* ``RandomEffectsCovariance``: G is unstructured over the random-effect columns (one column
  for a random intercept), R_i = sigma^2 I. SAS: ``RANDOM int x / SUBJECT=s TYPE=UN``.
* ``RepeatedCovariance``: no G; R_i is a structured ``t x t`` matrix (``covariance.py``)
  restricted to the time levels subject i has, optionally one parameter set per level of a
  group factor. SAS: ``REPEATED time / SUBJECT=s TYPE=... GROUP=g``.

Subjects that share V_i form a *pattern* (``patterns.py``). ``unit_matrices`` returns V,
dV/dtheta and (for non-linear structures) d2V/dtheta2 for a stack of patterns of one size,
each evaluated at the parameters of its own replicate: ``prepare`` takes ``theta`` (R, K)
once per evaluation and ``pos`` says which replicate each pattern belongs to.

Example
-------
>>> import numpy as np
>>> cov = RandomEffectsCovariance(n_random=1)
>>> cov.param_names
['Intercept', 'Residual']
>>> slots = np.array([[0, 1]])                          # one pattern of 2 visits
>>> V, dV, d2V = cov.unit_matrices(cov.prepare(np.array([[2.0, 1.0]])), np.zeros(1, int),
...                                slots=slots)
>>> V[0]
array([[3., 2.],
       [2., 3.]])
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from .covariance import G_SIDE, CovarianceStructure, LinearStructure, get_structure

__all__ = [
    "MarginalCovariance",
    "RandomEffectsCovariance",
    "RepeatedCovariance",
    "SpatialCovariance",
    "CombinedCovariance",
]


@lru_cache(maxsize=64)
def _intercept_derivatives(n: int) -> np.ndarray:
    out = np.stack([np.ones((n, n)), np.eye(n)])  # dV/d(intercept variance), dV/d(residual)
    out.flags.writeable = False
    return out


class MarginalCovariance:
    """Interface: parameter names and kinds, start values and per-pattern matrices."""

    param_names: list[str]
    kinds: list[str]
    linear: bool
    label: str
    uses_time: bool = True  # False: V_i depends only on Z_i, not on which times were observed
    random: bool = False  # a G-side part (random effects): the fixed df follow SAS's RANDOM

    def prepare(self, theta: np.ndarray, order: int = 2):
        """What ``unit_matrices`` needs at ``theta`` (R, K), computed once per evaluation."""
        return theta

    def unit_matrices(
        self,
        prepared,
        pos: np.ndarray,
        *,
        slots=None,
        group=None,
        Z=None,
        dV=None,
        order: int = 2,
    ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:  # pragma: no cover
        raise NotImplementedError

    def constant_derivatives(self, *, slots=None, group=None, Z=None) -> np.ndarray | None:
        """dV per pattern when it does not depend on theta (linear covariances), else None."""
        return None

    def full_matrix(self, theta: np.ndarray, group: int = 0) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    def start(self, moments: dict[str, np.ndarray]) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError


class RandomEffectsCovariance(MarginalCovariance):
    """G unstructured over ``n_random`` random-effect columns plus a residual variance."""

    linear = True
    uses_time = False
    random = True

    def __init__(self, n_random: int = 1, random_names: list[str] | None = None) -> None:
        self.q = n_random
        self.pairs = [(i, j) for i in range(n_random) for j in range(i + 1)]
        if n_random == 1:
            self.param_names = [(random_names or ["Intercept"])[0], "Residual"]
        else:
            self.param_names = [f"UN({i + 1},{j + 1})" for i, j in self.pairs] + ["Residual"]
        self.kinds = ["gvar" if i == j else "cov" for i, j in self.pairs] + ["var"]
        self.label = G_SIDE if n_random == 1 else "random-coefficients (UN)"

    def constant_derivatives(self, *, slots=None, group=None, Z=None) -> np.ndarray:
        """dV_k = Z E_k Z' for the elements of G, and I for the residual: (U, K, n, n)
        (``Z`` None: a random intercept alone, dV = J and I for every pattern)."""
        if Z is None:
            U, n = slots.shape
            base = _intercept_derivatives(n)
            return base[None] if U == 1 else np.broadcast_to(base, (U, 2, n, n))
        U, n, _ = Z.shape
        dV = np.empty((U, len(self.param_names), n, n))
        for k, (i, j) in enumerate(self.pairs):
            outer = Z[:, :, i, None] * Z[:, None, :, j]
            dV[:, k] = outer if i == j else outer + np.swapaxes(outer, 1, 2)
        dV[:, -1] = np.eye(n)
        return dV

    def unit_matrices(self, theta, pos, *, slots=None, group=None, Z=None, dV=None, order=2):
        # V is linear in theta: V = sum_k theta_k dV_k, with dV fixed for the pattern
        if dV is None:
            dV = self.constant_derivatives(slots=slots, Z=Z)
        U, K, n = dV.shape[:3]
        V = (theta[pos][:, None, :] @ dV.reshape(U, K, n * n)).reshape(U, n, n)
        return V, dV, None

    def full_matrix(self, theta, group=0):  # pragma: no cover - needs Z; see model
        raise NotImplementedError

    def start(self, moments):
        """ANOVA moments of OLS residuals: ``total``, ``within``, ``between`` (R,), ``z_var``
        (R, q)."""
        total = moments["total"]
        within = moments["within"]
        between = np.maximum(moments["between"], 0.1 * total)
        cols = []
        for i, j in self.pairs:
            if i != j:
                cols.append(np.zeros_like(total))
            elif i == 0:
                cols.append(between)
            else:
                cols.append(0.1 * total / np.maximum(moments["z_var"][:, i], 1e-12))
        return np.stack([*cols, np.maximum(within, 0.1 * total)], axis=-1)


class RepeatedCovariance(MarginalCovariance):
    """An R-side structure over ``n_times`` time levels, one parameter set per group."""

    def __init__(
        self,
        structure: str | CovarianceStructure,
        n_times: int,
        group_labels: list[str] | None = None,
    ) -> None:
        self.structure = get_structure(structure) if isinstance(structure, str) else structure
        self.t = n_times
        self.groups = group_labels or [""]
        self.k = self.structure.n_params(n_times)
        base = self.structure.param_names(n_times)
        if len(self.groups) == 1:
            self.param_names = list(base)
        else:
            self.param_names = [f"{name} {g}" for g in self.groups for name in base]
        self.kinds = self.structure.kinds(n_times) * len(self.groups)
        self.linear = self.structure.linear
        self.label = self.structure.name

    def full_matrix(self, theta, group=0):
        return self.structure.matrix(theta[group * self.k : (group + 1) * self.k], self.t)

    def full_derivatives(self, prepared, order: int = 2):
        """dV (G, K, t, t) and, for non-linear structures at order 2, d2V (G, K, K, t, t)
        over all time levels of each group, for the first replicate of ``prepared``: every
        pattern's derivatives are these restricted to its slots."""
        G, t = len(self.groups), self.t
        slots = np.tile(np.arange(t), (G, 1))
        group = np.arange(G)
        dV = self.constant_derivatives(slots=slots, group=group)
        _, dV, d2V = self.unit_matrices(
            prepared, np.zeros(G, dtype=np.int64), slots=slots, group=group, dV=dV, order=order
        )
        return dV, d2V

    def _by_group(self, theta: np.ndarray) -> np.ndarray:
        return theta.reshape(len(theta), len(self.groups), self.k)

    def _embed(self, blocks: np.ndarray, group: np.ndarray, second: bool) -> np.ndarray:
        """Per-group derivative blocks (U, k[, k], n, n) placed in the full parameter vector."""
        G = len(self.groups)
        if G == 1:
            return blocks
        U, k, n = len(blocks), self.k, blocks.shape[-1]
        ar = np.arange(U)
        if not second:
            out = np.zeros((U, G, k, n, n))
            out[ar, group] = blocks
            return out.reshape(U, G * k, n, n)
        out = np.zeros((U, G, k, G, k, n, n))
        out[ar, group, :, group] = blocks
        return out.reshape(U, G * k, G * k, n, n)

    def constant_derivatives(self, *, slots=None, group=None, Z=None):
        if not isinstance(self.structure, LinearStructure):
            return None
        E = self.structure.basis(self.t)
        blocks = E[:, slots[:, :, None], slots[:, None, :]].transpose(1, 0, 2, 3)
        return self._embed(np.ascontiguousarray(blocks), group, second=False)

    def prepare(self, theta, order=2):
        """V (R, G, t, t) over all time levels, and its derivatives when they depend on theta."""
        th = self._by_group(theta)
        s, t = self.structure, self.t
        J = s.jacobian(th, t) if order >= 1 and not self.linear else None
        H = s.hessian(th, t) if order >= 2 and not self.linear else None
        return s.matrix(th, t), J, H

    def unit_matrices(self, prepared, pos, *, slots=None, group=None, Z=None, dV=None, order=2):
        Vfull, J, Hs = prepared
        ia, ib = slots[:, :, None], slots[:, None, :]
        p3, g3 = pos[:, None, None], group[:, None, None]
        V = Vfull[p3, g3, ia, ib]
        if order < 1:
            return V, dV, None
        d2V = None
        if dV is None:
            kk = np.arange(self.k)[None, :, None, None]
            p4, g4 = pos[:, None, None, None], group[:, None, None, None]
            dV = self._embed(J[p4, g4, kk, ia[:, None], ib[:, None]], group, second=False)
        if order >= 2 and not self.linear:
            k1 = np.arange(self.k)[None, :, None, None, None]
            k2 = np.arange(self.k)[None, None, :, None, None]
            p5, g5 = pos[:, None, None, None, None], group[:, None, None, None, None]
            d2V = self._embed(
                Hs[p5, g5, k1, k2, ia[:, None, None], ib[:, None, None]], group, second=True
            )
        return V, dV, d2V

    def start(self, moments):
        """Start values from ``resid_cov`` (R, groups, t, t), the empirical covariances of OLS
        residuals."""
        start = self.structure.start(moments["resid_cov"])  # (R, G, k)
        return start.reshape(len(start), -1)


class SpatialCovariance(RepeatedCovariance):
    """A spatial structure (``covariance.Spatial``: SAS SP(EXP|GAU|POW)(c1 c2 ...)) over the
    distinct coordinate points of the data, which are the "time levels" of the layout: a
    subject's V_i comes from the distances between its points, computed per pattern.

    >>> cov = SpatialCovariance("sp-exp", np.array([[0.0], [1.0], [3.0]]))
    >>> np.round(cov.full_matrix(np.array([2.0, 5.0])), 4).tolist()[0]
    [5.0, 3.0327, 1.1157]
    """

    def __init__(self, structure, points: np.ndarray, group_labels=None) -> None:
        super().__init__(structure, len(points), group_labels)
        self.points = np.asarray(points, dtype=float).reshape(len(points), -1)

    def distances(self, slots: np.ndarray) -> np.ndarray:
        """Euclidean distances (U, n, n) between the points ``slots`` (U, n)."""
        P = self.points[slots]
        return np.sqrt(((P[:, :, None, :] - P[:, None, :, :]) ** 2).sum(axis=-1))

    def full_matrix(self, theta, group=0):
        D = self.distances(np.arange(self.t)[None])[0]
        return self.structure.matrix_d(theta[group * self.k : (group + 1) * self.k], D)

    def prepare(self, theta, order=2):
        return self._by_group(theta)  # (R, G, k)

    def unit_matrices(self, prepared, pos, *, slots=None, group=None, Z=None, dV=None, order=2):
        theta = prepared[pos, group]  # (U, k)
        D = self.distances(slots)
        s = self.structure
        V = s.matrix_d(theta, D)
        if order < 1:
            return V, None, None
        dV = self._embed(s.jacobian_d(theta, D), group, second=False)
        d2V = self._embed(s.hessian_d(theta, D), group, second=True) if order >= 2 else None
        return V, dV, d2V

    def start(self, moments):
        D = self.distances(np.arange(self.t)[None])[0]
        start = self.structure.start_d(moments["resid_cov"], moments["resid_pairs"], D)
        return start.reshape(len(start), -1)


class CombinedCovariance(MarginalCovariance):
    """RANDOM and REPEATED together: V_i = Z_i G Z_i' + R_i, G unstructured over the random
    columns (an intercept, then any slopes) and R_i an R-side structure (``repeated``).
    Parameters in SAS's order: G's (``Intercept``, or ``UN(1,1)``, ``UN(2,1)``, ...), then
    R's (``AR(1)``, ``Residual``, ...).

    >>> cov = CombinedCovariance(RepeatedCovariance("ar1", 3))
    >>> cov.param_names
    ['Intercept', 'AR(1)', 'Residual']
    >>> V, _, _ = cov.unit_matrices(cov.prepare(np.array([[1.0, 0.5, 2.0]])), np.zeros(1, int),
    ...                             slots=np.array([[0, 2]]), group=np.zeros(1, int),
    ...                             Z=np.ones((1, 2, 1)), order=0)
    >>> V[0].tolist()
    [[3.0, 1.5], [1.5, 3.0]]
    """

    random = True

    def __init__(self, repeated: RepeatedCovariance, n_random: int = 1) -> None:
        self.repeated = repeated
        self.q = n_random
        self.pairs = [(i, j) for i in range(n_random) for j in range(i + 1)]
        g_names = (
            ["Intercept"] if n_random == 1 else [f"UN({i + 1},{j + 1})" for i, j in self.pairs]
        )
        self.kg = len(g_names)
        self.param_names = g_names + repeated.param_names
        self.kinds = ["gvar" if i == j else "cov" for i, j in self.pairs] + repeated.kinds
        self.linear = repeated.linear
        self.label = f"random effects + {repeated.label}"
        self.t = repeated.t
        self.groups = repeated.groups

    def _g_derivatives(self, Z: np.ndarray) -> np.ndarray:
        """dV/dG_k = Z E_k Z' (U, kg, n, n); ``Z`` (U, n, q), None: an intercept alone."""
        U, n, _ = Z.shape
        out = np.empty((U, self.kg, n, n))
        for k, (i, j) in enumerate(self.pairs):
            outer = Z[:, :, i, None] * Z[:, None, :, j]
            out[:, k] = outer if i == j else outer + np.swapaxes(outer, 1, 2)
        return out

    def constant_derivatives(self, *, slots=None, group=None, Z=None):
        dR = self.repeated.constant_derivatives(slots=slots, group=group)
        if dR is None:
            return None
        return np.concatenate([self._g_derivatives(_ones(Z, slots)), dR], axis=1)

    def prepare(self, theta, order=2):
        return theta, self.repeated.prepare(theta[:, self.kg :], order)

    def unit_matrices(self, prepared, pos, *, slots=None, group=None, Z=None, dV=None, order=2):
        theta, prep_r = prepared
        dG = self._g_derivatives(_ones(Z, slots))
        U, kg, n = dG.shape[:3]
        VG = (theta[pos][:, None, : self.kg] @ dG.reshape(U, kg, n * n)).reshape(U, n, n)
        dR_given = None if dV is None else dV[:, kg:]
        VR, dR, d2R = self.repeated.unit_matrices(
            prep_r, pos, slots=slots, group=group, dV=dR_given, order=order
        )
        V = VG + VR
        if order < 1:
            return V, None, None
        dV = np.concatenate([dG, dR], axis=1) if dV is None else dV
        d2V = None
        if d2R is not None:
            K = len(self.param_names)
            d2V = np.zeros((U, K, K, n, n))
            d2V[:, kg:, kg:] = d2R
        return V, dV, d2V

    def full_matrix(self, theta, group=0):
        """V over all time levels for a subject whose Z rows are a 1 (a random intercept)."""
        if self.q > 1:
            raise ValueError("the covariance over time depends on the slopes' values")
        R = self.repeated.full_matrix(theta[self.kg :], group)
        return theta[0] + R

    def start(self, moments):
        """R from the residual covariances; G's variances a tenth of the mean variance."""
        r = self.repeated.start(moments)
        total = moments["total"]
        cols = [0.1 * total if i == j else np.zeros_like(total) for i, j in self.pairs]
        return np.concatenate([np.stack(cols, axis=-1), r], axis=-1)


def _ones(Z, slots) -> np.ndarray:
    """The random-effect rows, or a column of ones (a random intercept alone) (U, n, 1)."""
    return np.ones((*slots.shape, 1)) if Z is None else Z
