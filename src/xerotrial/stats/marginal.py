"""The marginal covariance of one subject, V_i = Z_i G Z_i' + R_i, and its derivatives.

Two families serve every model xerotrial fits:

* ``RandomEffectsCovariance``: G is unstructured over the random-effect columns (one column
  for a random intercept), R_i = sigma^2 I. SAS: ``RANDOM int x / SUBJECT=s TYPE=UN``.
* ``RepeatedCovariance``: no G; R_i is a structured ``t x t`` matrix restricted to the time
  levels subject i has, optionally one parameter set per level of a group factor.
  SAS: ``REPEATED time / SUBJECT=s TYPE=... GROUP=g``.

A *pattern* is what makes two subjects share V_i: the group, the time levels observed and the
random-effect design rows. ``pattern_matrices`` returns V, dV/dtheta and (for non-linear
structures) d2V/dtheta2 for one pattern.

Example
-------
>>> import numpy as np
>>> cov = RandomEffectsCovariance(n_random=1)
>>> cov.param_names
['Intercept', 'Residual']
>>> V, dV, d2V = cov.pattern_matrices(np.array([2.0, 1.0]), Pattern(0, (0, 1), np.ones((2, 1))))
>>> V
array([[3., 2.],
       [2., 3.]])
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .covariance import CovarianceStructure, get_structure

__all__ = ["Pattern", "RandomEffectsCovariance", "RepeatedCovariance", "MarginalCovariance"]


@dataclass(frozen=True)
class Pattern:
    """What determines V_i: group index, observed time indices, random-effect design rows."""

    group: int
    times: tuple[int, ...]
    Z: np.ndarray | None = field(default=None, compare=False)


class MarginalCovariance:
    """Interface: parameter names and kinds, start values and per-pattern matrices."""

    param_names: list[str]
    kinds: list[str]
    linear: bool
    label: str
    uses_time: bool = True  # False: V_i depends only on Z_i, not on which times were observed

    def pattern_matrices(
        self, theta: np.ndarray, pattern: Pattern
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:  # pragma: no cover - abstract
        raise NotImplementedError

    def full_matrix(self, theta: np.ndarray, group: int = 0) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    def start(self, resid_cov: list[np.ndarray], extra: dict) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError


class RandomEffectsCovariance(MarginalCovariance):
    """G unstructured over ``n_random`` random-effect columns plus a residual variance."""

    linear = True
    uses_time = False

    def __init__(self, n_random: int = 1, random_names: list[str] | None = None) -> None:
        self.q = n_random
        self.pairs = [(i, j) for i in range(n_random) for j in range(i + 1)]
        if n_random == 1:
            self.param_names = [(random_names or ["Intercept"])[0], "Residual"]
        else:
            self.param_names = [f"UN({i + 1},{j + 1})" for i, j in self.pairs] + ["Residual"]
        self.kinds = ["gvar" if i == j else "cov" for i, j in self.pairs] + ["var"]
        self.label = "random-intercept" if n_random == 1 else "random-coefficients (UN)"
        self._dG = []
        for i, j in self.pairs:
            e = np.zeros((self.q, self.q))
            e[i, j] = e[j, i] = 1.0
            self._dG.append(e)

    def G(self, theta: np.ndarray) -> np.ndarray:
        g = np.zeros((self.q, self.q))
        for v, (i, j) in zip(theta[:-1], self.pairs, strict=True):
            g[i, j] = g[j, i] = v
        return g

    def pattern_matrices(self, theta, pattern):
        # V is linear in theta: V = sum_k theta_k dV_k, with dV fixed for the pattern
        dV = self._derivative_stack(pattern)
        V = np.tensordot(theta, dV, axes=1)
        return V, dV, None

    def _derivative_stack(self, pattern: Pattern) -> np.ndarray:
        cache = self.__dict__.setdefault("_dv_cache", {})
        key = id(pattern)
        if key not in cache:
            Z = pattern.Z
            n = Z.shape[0]
            dV = np.empty((len(self.param_names), n, n))
            for k, e in enumerate(self._dG):
                dV[k] = Z @ e @ Z.T
            dV[-1] = np.eye(n)
            cache[key] = (pattern, dV)  # keep the pattern alive so its id stays unique
        return cache[key][1]

    def full_matrix(self, theta, group=0):  # pragma: no cover - needs Z; see model
        raise NotImplementedError

    def start(self, resid_cov, extra):
        total = extra["total_var"]
        within = extra.get("within_var", 0.5 * total)
        between = max(extra.get("between_var", total - within), 0.1 * total)
        g = []
        for i, j in self.pairs:
            if i != j:
                g.append(0.0)
            elif i == 0:
                g.append(between)
            else:
                g.append(0.1 * total / max(extra["z_var"][i], 1e-12))
        return np.array(g + [max(within, 0.1 * total)])


class RepeatedCovariance(MarginalCovariance):
    """An R-side structure over ``n_times`` time levels, one parameter set per group."""

    def __init__(
        self,
        structure: str | CovarianceStructure,
        n_times: int,
        group_labels: list[str] | None = None,
    ) -> None:
        self.structure = (
            get_structure(structure) if isinstance(structure, str) else structure
        )
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

    def pattern_matrices(self, theta, pattern):
        g = pattern.group
        th = theta[g * self.k : (g + 1) * self.k]
        idx = np.asarray(pattern.times)
        ix = np.ix_(idx, idx)
        n = len(idx)
        K = len(theta)
        V = self.structure.matrix(th, self.t)[ix]
        dV = np.zeros((K, n, n))
        dV[g * self.k : (g + 1) * self.k] = self.structure.jacobian(th, self.t)[:, idx][:, :, idx]
        d2V = None
        if not self.linear:
            h = self.structure.hessian(th, self.t)
            d2V = np.zeros((K, K, n, n))
            sl = slice(g * self.k, (g + 1) * self.k)
            d2V[sl, sl] = h[:, :, idx][:, :, :, idx]
        return V, dV, d2V

    def start(self, resid_cov, extra):
        return np.concatenate([self.structure.start(c) for c in resid_cov])
