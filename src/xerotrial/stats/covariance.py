"""Covariance structures over the levels of a repeated (time) factor, parameterised as SAS does.

Each structure maps a parameter vector ``theta`` (in the order and on the scale that SAS
PROC MIXED prints in "Covariance Parameter Estimates") to a ``t x t`` covariance matrix, with
analytic first and second derivatives. Those derivatives are what REML Newton steps,
Satterthwaite and Kenward-Roger need; Kenward-Roger depends on the parameterisation, so it
must be SAS's.

Example
-------
>>> import numpy as np
>>> s = get_structure("ar1")
>>> s.param_names(3)
['AR(1)', 'Residual']
>>> np.round(s.matrix(np.array([0.5, 2.0]), 3), 3)
array([[2. , 1. , 0.5],
       [1. , 2. , 1. ],
       [0.5, 1. , 2. ]])
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "CovarianceStructure",
    "STRUCTURES",
    "get_structure",
]

Array = np.ndarray


@dataclass(frozen=True)
class CovarianceStructure:
    """Base class: a named family of ``t x t`` covariance matrices.

    Subclasses implement ``param_names``, ``matrix``, ``jacobian`` (``k x t x t``),
    ``hessian`` (``k x k x t x t``, or None when the matrix is linear in ``theta``),
    ``start`` and ``kinds`` (per parameter: 'var' for a variance, 'corr' for a correlation in
    (-1, 1), 'cov' for an unbounded covariance).
    """

    name: str = ""
    linear: bool = True

    def n_params(self, t: int) -> int:
        return len(self.param_names(t))

    def param_names(self, t: int) -> list[str]:  # pragma: no cover - abstract
        raise NotImplementedError

    def kinds(self, t: int) -> list[str]:  # pragma: no cover - abstract
        raise NotImplementedError

    def matrix(self, theta: Array, t: int) -> Array:  # pragma: no cover - abstract
        raise NotImplementedError

    def jacobian(self, theta: Array, t: int) -> Array:  # pragma: no cover - abstract
        raise NotImplementedError

    def hessian(self, theta: Array, t: int) -> Array | None:
        return None

    def start(self, cov: Array) -> Array:  # pragma: no cover - abstract
        """Starting values from an empirical covariance matrix of OLS residuals."""
        raise NotImplementedError


def _unit(t: int, i: int, j: int) -> Array:
    e = np.zeros((t, t))
    e[i, j] = 1.0
    e[j, i] = 1.0
    return e


@dataclass(frozen=True)
class Unstructured(CovarianceStructure):
    """SAS TYPE=UN: one parameter UN(i,j) per element of the lower triangle, row by row."""

    name: str = "un"

    def _pairs(self, t: int) -> list[tuple[int, int]]:
        return [(i, j) for i in range(t) for j in range(i + 1)]

    def param_names(self, t: int) -> list[str]:
        return [f"UN({i + 1},{j + 1})" for i, j in self._pairs(t)]

    def kinds(self, t: int) -> list[str]:
        return ["var" if i == j else "cov" for i, j in self._pairs(t)]

    def matrix(self, theta: Array, t: int) -> Array:
        m = np.zeros((t, t))
        for v, (i, j) in zip(theta, self._pairs(t), strict=True):
            m[i, j] = m[j, i] = v
        return m

    def jacobian(self, theta: Array, t: int) -> Array:
        return np.stack([_unit(t, i, j) for i, j in self._pairs(t)])

    def start(self, cov: Array) -> Array:
        t = cov.shape[0]
        return np.array([cov[i, i] if i == j else 0.0 for i, j in self._pairs(t)])


@dataclass(frozen=True)
class Diagonal(CovarianceStructure):
    """A separate variance per time level, no correlation (SAS TYPE=UN(1))."""

    name: str = "diag"

    def param_names(self, t: int) -> list[str]:
        return [f"Var({i + 1})" for i in range(t)]

    def kinds(self, t: int) -> list[str]:
        return ["var"] * t

    def matrix(self, theta: Array, t: int) -> Array:
        return np.diag(np.asarray(theta, dtype=float))

    def jacobian(self, theta: Array, t: int) -> Array:
        return np.stack([_unit(t, i, i) for i in range(t)])

    def start(self, cov: Array) -> Array:
        return np.diag(cov).copy()


@dataclass(frozen=True)
class CompoundSymmetry(CovarianceStructure):
    """SAS TYPE=CS: ``CS`` (common covariance) and ``Residual``; V = CS * J + Residual * I."""

    name: str = "cs"

    def param_names(self, t: int) -> list[str]:
        return ["CS", "Residual"]

    def kinds(self, t: int) -> list[str]:
        return ["cov", "var"]

    def matrix(self, theta: Array, t: int) -> Array:
        return theta[0] * np.ones((t, t)) + theta[1] * np.eye(t)

    def jacobian(self, theta: Array, t: int) -> Array:
        return np.stack([np.ones((t, t)), np.eye(t)])

    def start(self, cov: Array) -> Array:
        t = cov.shape[0]
        v = float(np.mean(np.diag(cov)))
        c = float(np.mean(cov[~np.eye(t, dtype=bool)])) if t > 1 else 0.0
        c = min(max(c, -0.4 * v / max(t - 1, 1)), 0.9 * v)
        return np.array([c, v - c])


@dataclass(frozen=True)
class Toeplitz(CovarianceStructure):
    """SAS TYPE=TOEP: ``TOEP(2)``..``TOEP(t)`` (covariance at lag 1..t-1) and ``Residual``."""

    name: str = "toep"

    def param_names(self, t: int) -> list[str]:
        return [f"TOEP({k + 1})" for k in range(1, t)] + ["Residual"]

    def kinds(self, t: int) -> list[str]:
        return ["cov"] * (t - 1) + ["var"]

    def _lag(self, t: int) -> Array:
        idx = np.arange(t)
        return np.abs(idx[:, None] - idx[None, :])

    def matrix(self, theta: Array, t: int) -> Array:
        values = np.concatenate([[theta[-1]], theta[:-1]])
        return values[self._lag(t)]

    def jacobian(self, theta: Array, t: int) -> Array:
        lag = self._lag(t)
        mats = [(lag == k).astype(float) for k in range(1, t)]
        return np.stack(mats + [np.eye(t)])

    def start(self, cov: Array) -> Array:
        t = cov.shape[0]
        v = float(np.mean(np.diag(cov)))
        return np.array([0.0] * (t - 1) + [v])


@dataclass(frozen=True)
class Autoregressive(CovarianceStructure):
    """SAS TYPE=AR(1): ``AR(1)`` correlation rho and ``Residual``; V_ij = s2 * rho^|i-j|."""

    name: str = "ar1"
    linear: bool = False

    def param_names(self, t: int) -> list[str]:
        return ["AR(1)", "Residual"]

    def kinds(self, t: int) -> list[str]:
        return ["corr", "var"]

    def _lag(self, t: int) -> Array:
        idx = np.arange(t)
        return np.abs(idx[:, None] - idx[None, :]).astype(float)

    def matrix(self, theta: Array, t: int) -> Array:
        rho, s2 = theta
        return s2 * _power(rho, self._lag(t))

    def jacobian(self, theta: Array, t: int) -> Array:
        rho, s2 = theta
        lag = self._lag(t)
        return np.stack([s2 * _dpower(rho, lag, 1), _power(rho, lag)])

    def hessian(self, theta: Array, t: int) -> Array:
        rho, s2 = theta
        lag = self._lag(t)
        h = np.zeros((2, 2, t, t))
        h[0, 0] = s2 * _dpower(rho, lag, 2)
        h[0, 1] = h[1, 0] = _dpower(rho, lag, 1)
        return h

    def start(self, cov: Array) -> Array:
        v = float(np.mean(np.diag(cov)))
        return np.array([_lag1_corr(cov), v])


def _power(rho: float, lag: Array) -> Array:
    return np.where(lag == 0, 1.0, np.sign(rho) ** lag * np.abs(rho) ** lag)


def _dpower(rho: float, lag: Array, order: int) -> Array:
    """d^order/drho^order of rho**lag, elementwise, valid for rho == 0 too."""
    if order == 1:
        return np.where(lag >= 1, lag * _power(rho, np.maximum(lag - 1, 0)), 0.0)
    return np.where(lag >= 2, lag * (lag - 1) * _power(rho, np.maximum(lag - 2, 0)), 0.0)


def _lag1_corr(cov: Array) -> float:
    t = cov.shape[0]
    if t < 2:
        return 0.0
    sd = np.sqrt(np.clip(np.diag(cov), 1e-12, None))
    corr = cov / np.outer(sd, sd)
    return float(np.clip(np.mean(np.diag(corr, 1)), -0.5, 0.8))


@dataclass(frozen=True)
class Heterogeneous(CovarianceStructure):
    """V_ij = sqrt(Var(i) Var(j)) C_ij(rho): a variance per time level times a correlation.

    Subclasses give the correlation matrix ``C(rho)`` and its derivatives.
    """

    linear: bool = False

    def corr_names(self, t: int) -> list[str]:  # pragma: no cover - abstract
        raise NotImplementedError

    def corr(self, rho: Array, t: int) -> tuple[Array, Array, Array]:  # pragma: no cover
        """Return C (t x t), dC (r x t x t), d2C (r x r x t x t)."""
        raise NotImplementedError

    def param_names(self, t: int) -> list[str]:
        return [f"Var({i + 1})" for i in range(t)] + self.corr_names(t)

    def kinds(self, t: int) -> list[str]:
        return ["var"] * t + ["corr"] * len(self.corr_names(t))

    def matrix(self, theta: Array, t: int) -> Array:
        v, rho = theta[:t], theta[t:]
        s = np.sqrt(v)
        c, _, _ = self.corr(rho, t)
        return np.outer(s, s) * c

    def jacobian(self, theta: Array, t: int) -> Array:
        v, rho = theta[:t], theta[t:]
        s = np.sqrt(v)
        ss = np.outer(s, s)
        c, dc, _ = self.corr(rho, t)
        out = np.empty((t + len(rho), t, t))
        eye = np.eye(t)
        for k in range(t):
            a = eye[k][:, None] + eye[k][None, :]
            out[k] = c * ss * a / (2.0 * v[k])
        out[t:] = ss[None] * dc
        return out

    def hessian(self, theta: Array, t: int) -> Array:
        v, rho = theta[:t], theta[t:]
        r = len(rho)
        s = np.sqrt(v)
        ss = np.outer(s, s)
        c, dc, d2c = self.corr(rho, t)
        eye = np.eye(t)
        a = [eye[k][:, None] + eye[k][None, :] for k in range(t)]
        h = np.zeros((t + r, t + r, t, t))
        for k in range(t):
            for m in range(t):
                term = (a[k] / 2.0) * (a[m] / 2.0) * ss / (v[k] * v[m])
                if k == m:
                    term = term - (a[k] / 2.0) * ss / v[k] ** 2
                h[k, m] = c * term
            for q in range(r):
                h[k, t + q] = h[t + q, k] = (a[k] / 2.0) * ss / v[k] * dc[q]
        h[t:, t:] = ss[None, None] * d2c
        return h

    def start(self, cov: Array) -> Array:
        v = np.clip(np.diag(cov), 1e-8 * max(float(np.max(np.diag(cov))), 1e-300), None)
        return np.concatenate([v, self.corr_start(cov)])

    def corr_start(self, cov: Array) -> Array:
        return np.zeros(len(self.corr_names(cov.shape[0])))


@dataclass(frozen=True)
class HeteroCS(Heterogeneous):
    """SAS TYPE=CSH: ``Var(1)``..``Var(t)`` and one correlation ``CSH``."""

    name: str = "csh"

    def corr_names(self, t: int) -> list[str]:
        return ["CSH"]

    def corr(self, rho: Array, t: int) -> tuple[Array, Array, Array]:
        off = 1.0 - np.eye(t)
        c = np.eye(t) + rho[0] * off
        return c, off[None], np.zeros((1, 1, t, t))

    def corr_start(self, cov: Array) -> Array:
        t = cov.shape[0]
        if t < 2:
            return np.zeros(1)
        sd = np.sqrt(np.clip(np.diag(cov), 1e-12, None))
        corr = cov / np.outer(sd, sd)
        lo = -0.9 / (t - 1)
        return np.array([float(np.clip(np.mean(corr[~np.eye(t, dtype=bool)]), lo, 0.8))])


@dataclass(frozen=True)
class HeteroAR1(Heterogeneous):
    """SAS TYPE=ARH(1): ``Var(1)``..``Var(t)`` and one correlation ``ARH(1)``."""

    name: str = "arh1"

    def corr_names(self, t: int) -> list[str]:
        return ["ARH(1)"]

    def corr(self, rho: Array, t: int) -> tuple[Array, Array, Array]:
        idx = np.arange(t)
        lag = np.abs(idx[:, None] - idx[None, :]).astype(float)
        r = rho[0]
        return _power(r, lag), _dpower(r, lag, 1)[None], _dpower(r, lag, 2)[None, None]

    def corr_start(self, cov: Array) -> Array:
        return np.array([_lag1_corr(cov)])


@dataclass(frozen=True)
class HeteroToeplitz(Heterogeneous):
    """SAS TYPE=TOEPH: ``Var(1)``..``Var(t)`` and ``TOEPH(1)``..``TOEPH(t-1)`` by lag."""

    name: str = "toeph"
    linear: bool = False

    def corr_names(self, t: int) -> list[str]:
        return [f"TOEPH({k})" for k in range(1, t)]

    def corr(self, rho: Array, t: int) -> tuple[Array, Array, Array]:
        idx = np.arange(t)
        lag = np.abs(idx[:, None] - idx[None, :])
        values = np.concatenate([[1.0], rho])
        dc = np.stack([(lag == k).astype(float) for k in range(1, t)]) if t > 1 else np.zeros(
            (0, t, t)
        )
        return values[lag], dc, np.zeros((t - 1, t - 1, t, t))


@dataclass(frozen=True)
class AnteDependence(Heterogeneous):
    """SAS TYPE=ANTE(1): ``Var(1)``..``Var(t)`` and ``Rho(1)``..``Rho(t-1)``.

    The correlation between times i < j is the product Rho(i) * ... * Rho(j-1).
    """

    name: str = "adh"

    def corr_names(self, t: int) -> list[str]:
        return [f"Rho({k})" for k in range(1, t)]

    def corr(self, rho: Array, t: int) -> tuple[Array, Array, Array]:
        r = len(rho)
        c = np.eye(t)
        dc = np.zeros((r, t, t))
        d2c = np.zeros((r, r, t, t))
        for i in range(t):
            for j in range(i + 1, t):
                factors = list(range(i, j))
                c[i, j] = c[j, i] = float(np.prod(rho[factors]))
                for a in factors:
                    others = [f for f in factors if f != a]
                    dc[a, i, j] = dc[a, j, i] = float(np.prod(rho[others]))
                    for b in others:
                        rest = [f for f in others if f != b]
                        d2c[a, b, i, j] = d2c[a, b, j, i] = float(np.prod(rho[rest]))
        return c, dc, d2c

    def corr_start(self, cov: Array) -> Array:
        t = cov.shape[0]
        return np.full(t - 1, _lag1_corr(cov))


STRUCTURES: dict[str, CovarianceStructure] = {
    s.name: s
    for s in (
        Unstructured(),
        Diagonal(),
        CompoundSymmetry(),
        Toeplitz(),
        Autoregressive(),
        HeteroCS(),
        HeteroAR1(),
        HeteroToeplitz(),
        AnteDependence(),
    )
}


def get_structure(name: str) -> CovarianceStructure:
    """Look up an R-side covariance structure by its name (``un``, ``cs``, ``ar1``, ...)."""
    try:
        return STRUCTURES[name]
    except KeyError:
        known = ", ".join(sorted(STRUCTURES))
        raise ValueError(f"unknown covariance structure {name!r}; choose one of {known}") from None
