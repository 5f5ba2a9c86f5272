"""Covariance structures over the levels of a repeated (time) factor, parameterised as SAS does.

This is the engine's one list of covariance structures: every R-side structure that ``fit``,
the replicate fits and simulation power accept is registered in ``STRUCTURES`` here, and
``NAMES`` adds the G-side ``random-intercept`` (``marginal.RandomEffectsCovariance``). Adding a
structure means writing its class and adding it to ``STRUCTURES`` (and its name to the
numpy-free ``options.COVARIANCES`` that the command line checks; a test keeps the two equal).

Each structure maps a parameter vector ``theta`` (in the order and on the scale that SAS
PROC MIXED prints in "Covariance Parameter Estimates") to a ``t x t`` covariance matrix, with
analytic first and second derivatives. Those derivatives are what REML Newton steps,
Satterthwaite and Kenward-Roger need; Kenward-Roger depends on the parameterisation, so it
must be SAS's. Every method takes a stack of parameter vectors (``theta`` of shape
``(..., k)``: one per replicate data set) and returns stacked matrices.

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
>>> s.matrix(np.array([[0.5, 2.0], [0.1, 1.0]]), 3).shape
(2, 3, 3)
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import ClassVar

import numpy as np

from .errors import DataValidationError
from .options import MAX_COVARIANCE_PARAMETERS, SPATIAL_COVARIANCES

__all__ = [
    "CovarianceStructure",
    "STRUCTURES",
    "NAMES",
    "G_SIDE",
    "SPATIAL",
    "check_name",
    "check_parameters",
    "get_structure",
    "n_covariance_parameters",
]

Array = np.ndarray

#: The G-side covariance (a random intercept, optionally with random slopes).
G_SIDE = "random-intercept"


@dataclass(frozen=True)
class CovarianceStructure:
    """Base class: a named family of ``t x t`` covariance matrices.

    Subclasses implement ``param_names``, ``kinds`` (per parameter: 'var' for a variance,
    'corr' for a correlation in (-1, 1), 'cov' for an unbounded covariance), ``matrix``
    (``(..., t, t)``), ``jacobian`` (``(..., k, t, t)``), ``hessian`` (``(..., k, k, t, t)``,
    or None when the matrix is linear in ``theta``) and ``start``.
    """

    name: str = ""
    linear: bool = True
    #: The fewest time levels whose covariance the parameters are identifiable from: 2 for a
    #: structure with a covariance or correlation parameter shared by every pair of levels.
    min_times: ClassVar[int] = 1

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
        """Starting values (``(..., k)``) from empirical covariances of OLS residuals
        (``(..., t, t)``)."""
        raise NotImplementedError


def _unit(t: int, i: int, j: int) -> Array:
    e = np.zeros((t, t))
    e[i, j] = 1.0
    e[j, i] = 1.0
    return e


def _lags(t: int) -> Array:
    idx = np.arange(t)
    return np.abs(idx[:, None] - idx[None, :])


def _diag(cov: Array) -> Array:
    return np.diagonal(cov, axis1=-2, axis2=-1)


@lru_cache(maxsize=256)
def _basis(structure: LinearStructure, t: int) -> Array:
    out = structure.make_basis(t)
    out.flags.writeable = False
    return out


@dataclass(frozen=True)
class LinearStructure(CovarianceStructure):
    """A structure linear in theta: V = sum_k theta_k E_k with a fixed basis E (k x t x t)."""

    def make_basis(self, t: int) -> Array:  # pragma: no cover - abstract
        raise NotImplementedError

    def basis(self, t: int) -> Array:
        """The (read-only, cached) basis matrices E_k = dV/dtheta_k."""
        return _basis(self, t)

    def matrix(self, theta: Array, t: int) -> Array:
        theta = np.asarray(theta, dtype=float)
        E = self.basis(t)
        return (theta @ E.reshape(len(E), t * t)).reshape(*theta.shape[:-1], t, t)

    def jacobian(self, theta: Array, t: int) -> Array:
        E = self.basis(t)
        return np.broadcast_to(E, (*np.shape(theta)[:-1], *E.shape))


@dataclass(frozen=True)
class Unstructured(LinearStructure):
    """SAS TYPE=UN: one parameter UN(i,j) per element of the lower triangle, row by row."""

    name: str = "un"

    def _pairs(self, t: int) -> list[tuple[int, int]]:
        return [(i, j) for i in range(t) for j in range(i + 1)]

    def param_names(self, t: int) -> list[str]:
        return [f"UN({i + 1},{j + 1})" for i, j in self._pairs(t)]

    def kinds(self, t: int) -> list[str]:
        return ["var" if i == j else "cov" for i, j in self._pairs(t)]

    def make_basis(self, t: int) -> Array:
        return np.stack([_unit(t, i, j) for i, j in self._pairs(t)])

    def start(self, cov: Array) -> Array:
        t = cov.shape[-1]
        zero = np.zeros(cov.shape[:-2])
        return np.stack([cov[..., i, i] if i == j else zero for i, j in self._pairs(t)], -1)


@dataclass(frozen=True)
class Diagonal(LinearStructure):
    """A separate variance per time level, no correlation (SAS TYPE=UN(1))."""

    name: str = "diag"

    def param_names(self, t: int) -> list[str]:
        return [f"Var({i + 1})" for i in range(t)]

    def kinds(self, t: int) -> list[str]:
        return ["var"] * t

    def make_basis(self, t: int) -> Array:
        return np.stack([_unit(t, i, i) for i in range(t)])

    def start(self, cov: Array) -> Array:
        return _diag(cov).copy()


@dataclass(frozen=True)
class CompoundSymmetry(LinearStructure):
    """SAS TYPE=CS: ``CS`` (common covariance) and ``Residual``; V = CS * J + Residual * I."""

    name: str = "cs"
    min_times: ClassVar[int] = 2

    def param_names(self, t: int) -> list[str]:
        return ["CS", "Residual"]

    def kinds(self, t: int) -> list[str]:
        return ["cov", "var"]

    def make_basis(self, t: int) -> Array:
        return np.stack([np.ones((t, t)), np.eye(t)])

    def start(self, cov: Array) -> Array:
        t = cov.shape[-1]
        v = np.mean(_diag(cov), axis=-1)
        off = ~np.eye(t, dtype=bool)
        c = np.mean(cov[..., off], axis=-1) if t > 1 else np.zeros_like(v)
        c = np.minimum(np.maximum(c, -0.4 * v / max(t - 1, 1)), 0.9 * v)
        return np.stack([c, v - c], -1)


@dataclass(frozen=True)
class Toeplitz(LinearStructure):
    """SAS TYPE=TOEP: ``TOEP(2)``..``TOEP(t)`` (covariance at lag 1..t-1) and ``Residual``."""

    name: str = "toep"

    def param_names(self, t: int) -> list[str]:
        return [f"TOEP({k + 1})" for k in range(1, t)] + ["Residual"]

    def kinds(self, t: int) -> list[str]:
        return ["cov"] * (t - 1) + ["var"]

    def make_basis(self, t: int) -> Array:
        lag = _lags(t)
        return np.stack([(lag == k).astype(float) for k in range(1, t)] + [np.eye(t)])

    def start(self, cov: Array) -> Array:
        t = cov.shape[-1]
        v = np.mean(_diag(cov), axis=-1)
        return np.concatenate([np.zeros((*v.shape, t - 1)), v[..., None]], -1)


def _power(rho: Array, lag: Array) -> Array:
    """rho ** lag elementwise (rho broadcast against lag), 1 at lag 0, valid for rho <= 0."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(lag == 0, 1.0, np.sign(rho) ** lag * np.abs(rho) ** lag)


def _dpower(rho: Array, lag: Array, order: int) -> Array:
    """d^order/drho^order of rho**lag, elementwise, valid for rho == 0 too."""
    if order == 1:
        return np.where(lag >= 1, lag * _power(rho, np.maximum(lag - 1, 0)), 0.0)
    return np.where(lag >= 2, lag * (lag - 1) * _power(rho, np.maximum(lag - 2, 0)), 0.0)


def _lag1_corr(cov: Array) -> Array:
    t = cov.shape[-1]
    if t < 2:
        return np.zeros(cov.shape[:-2])
    sd = np.sqrt(np.clip(_diag(cov), 1e-12, None))
    corr = cov / (sd[..., :, None] * sd[..., None, :])
    return np.clip(np.mean(np.diagonal(corr, 1, -2, -1), axis=-1), -0.5, 0.8)


@dataclass(frozen=True)
class Autoregressive(CovarianceStructure):
    """SAS TYPE=AR(1): ``AR(1)`` correlation rho and ``Residual``; V_ij = s2 * rho^|i-j|."""

    name: str = "ar1"
    min_times: ClassVar[int] = 2
    linear: bool = False

    def param_names(self, t: int) -> list[str]:
        return ["AR(1)", "Residual"]

    def kinds(self, t: int) -> list[str]:
        return ["corr", "var"]

    @staticmethod
    def _split(theta: Array) -> tuple[Array, Array]:
        theta = np.asarray(theta, dtype=float)
        return theta[..., 0, None, None], theta[..., 1, None, None]

    def matrix(self, theta: Array, t: int) -> Array:
        rho, s2 = self._split(theta)
        return s2 * _power(rho, _lags(t).astype(float))

    def jacobian(self, theta: Array, t: int) -> Array:
        rho, s2 = self._split(theta)
        lag = _lags(t).astype(float)
        d1 = s2 * _dpower(rho, lag, 1)
        return np.stack([d1, np.broadcast_to(_power(rho, lag), d1.shape)], -3)

    def hessian(self, theta: Array, t: int) -> Array:
        rho, s2 = self._split(theta)
        lag = _lags(t).astype(float)
        d1 = _dpower(rho, lag, 1)
        h = np.zeros((*d1.shape[:-2], 2, 2, t, t))
        h[..., 0, 0, :, :] = s2 * _dpower(rho, lag, 2)
        h[..., 0, 1, :, :] = h[..., 1, 0, :, :] = d1
        return h

    def start(self, cov: Array) -> Array:
        v = np.mean(_diag(cov), axis=-1)
        return np.stack([_lag1_corr(cov), v], -1)


@lru_cache(maxsize=64)
def _row_col(t: int) -> Array:
    """a_k = e_k 1' + 1 e_k' for k = 0..t-1 (t x t x t): d(s_i s_j)/dv_k = s_i s_j a_k / 2 v_k."""
    eye = np.eye(t)
    out = eye[:, :, None] + eye[:, None, :]
    out.flags.writeable = False
    return out


@dataclass(frozen=True)
class Heterogeneous(CovarianceStructure):
    """V_ij = sqrt(Var(i) Var(j)) C_ij(rho): a variance per time level times a correlation.

    Subclasses give the correlation matrix ``C(rho)`` and its derivatives.
    """

    linear: bool = False

    def corr_names(self, t: int) -> list[str]:  # pragma: no cover - abstract
        raise NotImplementedError

    def corr(self, rho: Array, t: int) -> tuple[Array, Array, Array]:  # pragma: no cover
        """Return C (..., t, t), dC (..., r, t, t), d2C (..., r, r, t, t)."""
        raise NotImplementedError

    def param_names(self, t: int) -> list[str]:
        return [f"Var({i + 1})" for i in range(t)] + self.corr_names(t)

    def kinds(self, t: int) -> list[str]:
        return ["var"] * t + ["corr"] * len(self.corr_names(t))

    @staticmethod
    def _parts(theta: Array, t: int):
        theta = np.asarray(theta, dtype=float)
        v, rho = theta[..., :t], theta[..., t:]
        s = np.sqrt(v)
        return v, rho, s[..., :, None] * s[..., None, :]

    def matrix(self, theta: Array, t: int) -> Array:
        _, rho, ss = self._parts(theta, t)
        c, _, _ = self.corr(rho, t)
        return ss * c

    def jacobian(self, theta: Array, t: int) -> Array:
        v, rho, ss = self._parts(theta, t)
        c, dc, _ = self.corr(rho, t)
        a = _row_col(t)
        dv = (c * ss)[..., None, :, :] * a / (2.0 * v[..., :, None, None])
        return np.concatenate([dv, ss[..., None, :, :] * dc], axis=-3)

    def hessian(self, theta: Array, t: int) -> Array:
        v, rho, ss = self._parts(theta, t)
        r = rho.shape[-1]
        c, dc, d2c = self.corr(rho, t)
        half = _row_col(t) / 2.0
        vv = v[..., :, None, None, None] * v[..., None, :, None, None]
        term = half[:, None] * half[None, :] * ss[..., None, None, :, :] / vv
        ar = np.arange(t)
        term[..., ar, ar, :, :] -= half * ss[..., None, :, :] / v[..., :, None, None] ** 2
        h = np.zeros((*ss.shape[:-2], t + r, t + r, t, t))
        h[..., :t, :t, :, :] = c[..., None, None, :, :] * term
        cross = (half * ss[..., None, :, :] / v[..., :, None, None])[..., :, None, :, :] * dc[
            ..., None, :, :, :
        ]
        h[..., :t, t:, :, :] = cross
        h[..., t:, :t, :, :] = np.swapaxes(cross, -3, -4)
        h[..., t:, t:, :, :] = ss[..., None, None, :, :] * d2c
        return h

    def start(self, cov: Array) -> Array:
        d = _diag(cov)
        floor = 1e-8 * np.maximum(np.max(d, axis=-1), 1e-300)
        v = np.maximum(d, floor[..., None])
        return np.concatenate([v, self.corr_start(cov)], -1)

    def corr_start(self, cov: Array) -> Array:
        t = cov.shape[-1]
        return np.zeros((*cov.shape[:-2], len(self.corr_names(t))))


@dataclass(frozen=True)
class HeteroCS(Heterogeneous):
    """SAS TYPE=CSH: ``Var(1)``..``Var(t)`` and one correlation ``CSH``."""

    name: str = "csh"
    min_times: ClassVar[int] = 2

    def corr_names(self, t: int) -> list[str]:
        return ["CSH"]

    def corr(self, rho: Array, t: int) -> tuple[Array, Array, Array]:
        off = 1.0 - np.eye(t)
        c = np.eye(t) + rho[..., 0, None, None] * off
        lead = rho.shape[:-1]
        return c, np.broadcast_to(off, (*lead, 1, t, t)), np.zeros((*lead, 1, 1, t, t))

    def corr_start(self, cov: Array) -> Array:
        t = cov.shape[-1]
        if t < 2:
            return np.zeros((*cov.shape[:-2], 1))
        sd = np.sqrt(np.clip(_diag(cov), 1e-12, None))
        corr = cov / (sd[..., :, None] * sd[..., None, :])
        lo = -0.9 / (t - 1)
        mean = np.mean(corr[..., ~np.eye(t, dtype=bool)], axis=-1)
        return np.clip(mean, lo, 0.8)[..., None]


@dataclass(frozen=True)
class HeteroAR1(Heterogeneous):
    """SAS TYPE=ARH(1): ``Var(1)``..``Var(t)`` and one correlation ``ARH(1)``."""

    name: str = "arh1"
    min_times: ClassVar[int] = 2

    def corr_names(self, t: int) -> list[str]:
        return ["ARH(1)"]

    def corr(self, rho: Array, t: int) -> tuple[Array, Array, Array]:
        lag = _lags(t).astype(float)
        r = rho[..., 0, None, None]
        return (
            _power(r, lag),
            _dpower(r, lag, 1)[..., None, :, :],
            _dpower(r, lag, 2)[..., None, None, :, :],
        )

    def corr_start(self, cov: Array) -> Array:
        return _lag1_corr(cov)[..., None]


@dataclass(frozen=True)
class HeteroToeplitz(Heterogeneous):
    """SAS TYPE=TOEPH: ``Var(1)``..``Var(t)`` and ``TOEPH(1)``..``TOEPH(t-1)`` by lag."""

    name: str = "toeph"

    def corr_names(self, t: int) -> list[str]:
        return [f"TOEPH({k})" for k in range(1, t)]

    def corr(self, rho: Array, t: int) -> tuple[Array, Array, Array]:
        lag = _lags(t)
        lead = rho.shape[:-1]
        values = np.concatenate([np.ones((*lead, 1)), rho], -1)
        dc = (
            np.stack([(lag == k).astype(float) for k in range(1, t)])
            if t > 1
            else np.zeros((0, t, t))
        )
        return (
            values[..., lag],
            np.broadcast_to(dc, (*lead, *dc.shape)),
            np.zeros((*lead, t - 1, t - 1, t, t)),
        )


@lru_cache(maxsize=64)
def _ante_factors(t: int) -> Array:
    """F[f, i, j]: Rho(f+1) is a factor of the correlation of times i and j (i != j)."""
    idx = np.arange(t)
    lo, hi = np.minimum(idx[:, None], idx[None, :]), np.maximum(idx[:, None], idx[None, :])
    f = np.arange(t - 1)[:, None, None]
    out = (lo[None] <= f) & (f < hi[None])
    out.flags.writeable = False
    return out


@dataclass(frozen=True)
class AnteDependence(Heterogeneous):
    """SAS TYPE=ANTE(1): ``Var(1)``..``Var(t)`` and ``Rho(1)``..``Rho(t-1)``.

    The correlation between times i < j is the product Rho(i) * ... * Rho(j-1).
    """

    name: str = "adh"

    def corr_names(self, t: int) -> list[str]:
        return [f"Rho({k})" for k in range(1, t)]

    def corr(self, rho: Array, t: int) -> tuple[Array, Array, Array]:
        F = _ante_factors(t)  # (r, t, t)
        r = len(F)
        lead = rho.shape[:-1]
        factor = np.where(F, rho[..., :, None, None], 1.0)  # (..., r, t, t)
        c = np.prod(factor, axis=-3)
        dc = np.zeros((*lead, r, t, t))
        d2c = np.zeros((*lead, r, r, t, t))
        for a in range(r):
            keep = np.arange(r) != a
            dc[..., a, :, :] = np.where(F[a], np.prod(factor[..., keep, :, :], axis=-3), 0.0)
            for b in range(r):
                if b == a:
                    continue
                both = keep & (np.arange(r) != b)
                d2c[..., a, b, :, :] = np.where(
                    F[a] & F[b], np.prod(factor[..., both, :, :], axis=-3), 0.0
                )
        return c, dc, d2c

    def corr_start(self, cov: Array) -> Array:
        t = cov.shape[-1]
        return np.repeat(_lag1_corr(cov)[..., None], t - 1, axis=-1)


@dataclass(frozen=True)
class Spatial(CovarianceStructure):
    """SAS TYPE=SP(...)(c1 c2 ...): V_ij = s2 f(d_ij) over the Euclidean distance d_ij between
    two observations' coordinates; parameters the correlation's (``SP(EXP)``, ...) and
    ``Residual`` s2. The matrices come from distances (``*_d``), not time levels: the
    covariance (``marginal.SpatialCovariance``) holds the coordinates."""

    linear: bool = False
    min_times: ClassVar[int] = 2
    label: ClassVar[str] = ""
    kind: ClassVar[str] = "range"

    def param_names(self, t: int) -> list[str]:
        return [self.label, "Residual"]

    def kinds(self, t: int) -> list[str]:
        return [self.kind, "var"]

    def corr(self, a: Array, D: Array) -> tuple[Array, Array, Array]:  # pragma: no cover
        """f(d), df/da and d2f/da2 (shapes of D, ``a`` broadcast against D)."""
        raise NotImplementedError

    def matrix(self, theta: Array, t: int) -> Array:
        raise DataValidationError(
            f"covariance {self.name!r} is spatial: it needs the observations' coordinates"
        )

    jacobian = hessian = matrix

    @staticmethod
    def _split(theta: Array) -> tuple[Array, Array]:
        theta = np.asarray(theta, dtype=float)
        return theta[..., 0, None, None], theta[..., 1, None, None]

    def matrix_d(self, theta: Array, D: Array) -> Array:
        """V (..., n, n) from parameters (..., 2) and distances (..., n, n)."""
        a, s2 = self._split(theta)
        return s2 * self.corr(a, D)[0]

    def jacobian_d(self, theta: Array, D: Array) -> Array:
        a, s2 = self._split(theta)
        f, df, _ = self.corr(a, D)
        return np.stack([s2 * df, np.broadcast_to(f, df.shape)], -3)

    def hessian_d(self, theta: Array, D: Array) -> Array:
        a, s2 = self._split(theta)
        _, df, d2f = self.corr(a, D)
        h = np.zeros((*df.shape[:-2], 2, 2, *df.shape[-2:]))
        h[..., 0, 0, :, :] = s2 * d2f
        h[..., 0, 1, :, :] = h[..., 1, 0, :, :] = df
        return h

    def from_correlation(self, r: Array, d: Array) -> Array:  # pragma: no cover - abstract
        """The parameter whose correlation at distance ``d`` is ``r`` (start values)."""
        raise NotImplementedError

    def start_d(self, cov: Array, pairs: Array, D: Array) -> Array:
        """Start values (..., 2) from the residual covariances ``cov`` (..., t, t) over the
        coordinate points, ``pairs`` (..., t, t) the number of subjects behind each, and the
        points' distances D (t, t): the variance's mean, and the parameter that gives the
        pairs' mean correlation at their mean distance."""
        v = _diag(cov)
        sd = np.sqrt(np.clip(v, 1e-12, None))
        corr = cov / (sd[..., :, None] * sd[..., None, :])
        w = np.where((pairs >= 2) & (D > 0), pairs, 0.0)
        total = np.maximum(w.sum(axis=(-2, -1)), 1e-300)
        r = np.clip((w * corr).sum(axis=(-2, -1)) / total, 0.05, 0.8)
        d = np.where(w.sum(axis=(-2, -1)) > 0, (w * D).sum(axis=(-2, -1)) / total, 1.0)
        return np.stack([self.from_correlation(r, d), np.mean(v, axis=-1)], -1)


@dataclass(frozen=True)
class SpatialExponential(Spatial):
    """SAS TYPE=SP(EXP)(c): f(d) = exp(-d / a), a the range (> 0); mmrm's ``sp_exp`` is the
    same model with rho = exp(-1/a)."""

    name: str = "sp-exp"
    label: ClassVar[str] = "SP(EXP)"

    def corr(self, a, D):
        f = np.exp(-D / a)
        df = f * D / a**2
        return f, df, df * (D / a**2 - 2.0 / a)

    def from_correlation(self, r, d):
        return -d / np.log(r)


@dataclass(frozen=True)
class SpatialGaussian(Spatial):
    """SAS TYPE=SP(GAU)(c): f(d) = exp(-d^2 / a^2), a > 0 (mmrm's ``sp_gau``)."""

    name: str = "sp-gau"
    label: ClassVar[str] = "SP(GAU)"

    def corr(self, a, D):
        f = np.exp(-(D**2) / a**2)
        u = 2.0 * D**2 / a**3  # d(-d^2/a^2)/da
        df = f * u
        return f, df, f * (u * u - 3.0 * u / a)

    def from_correlation(self, r, d):
        return d / np.sqrt(-np.log(r))


@dataclass(frozen=True)
class SpatialPower(Spatial):
    """SAS TYPE=SP(POW)(c): f(d) = rho^d, rho in (0, 1): SP(EXP) with rho = exp(-1/a), the
    same likelihood on another scale (Kenward-Roger, which depends on the scale, differs)."""

    name: str = "sp-pow"
    label: ClassVar[str] = "SP(POW)"
    kind: ClassVar[str] = "unit"

    def corr(self, rho, D):
        f = rho**D
        with np.errstate(divide="ignore", invalid="ignore"):
            df = np.where(D > 0, D * rho ** (D - 1.0), 0.0)
            d2f = np.where(D > 0, D * (D - 1.0) * rho ** (D - 2.0), 0.0)
        return f, df, d2f

    def from_correlation(self, r, d):
        return r ** (1.0 / d)


SPATIAL = SPATIAL_COVARIANCES  # the structures over coordinates (options: numpy-free)

STRUCTURES: dict[str, CovarianceStructure] = {
    s.name: s
    for s in (
        Unstructured(),
        CompoundSymmetry(),
        HeteroCS(),
        Autoregressive(),
        HeteroAR1(),
        Toeplitz(),
        HeteroToeplitz(),
        AnteDependence(),
        Diagonal(),
        SpatialExponential(),
        SpatialGaussian(),
        SpatialPower(),
    )
}

#: Every covariance the engine fits: the G-side random intercept and the R-side structures.
NAMES: tuple[str, ...] = (G_SIDE, *STRUCTURES)


def check_name(name: str) -> str:
    """``name`` if it is a covariance the engine knows, else a ``DataValidationError``.

    >>> check_name("toep")
    'toep'
    """
    if name not in NAMES:
        raise DataValidationError(
            f"unknown covariance structure {name!r}; choose one of {', '.join(NAMES)}"
        )
    return name


def n_covariance_parameters(name: str, times: int, groups: int = 1, random: int = 0) -> int:
    """The covariance parameters of ``name`` over ``times`` time levels, one set per group;
    for the G-side ``random-intercept`` with ``random`` random slopes: G's lower triangle plus
    the residual.

    >>> n_covariance_parameters("un", 100), n_covariance_parameters("toep", 4, groups=2)
    (5050, 8)
    """
    if name == G_SIDE:
        q = 1 + random
        return q * (q + 1) // 2 + 1
    return get_structure(name).n_params(times) * groups


def check_parameters(
    name: str,
    times: int,
    groups: int = 1,
    random: int = 0,
    time: str | None = None,
    source: str = "data",
) -> int:
    """The number of covariance parameters, or a ``DataValidationError`` when ``name`` cannot
    be fitted over ``times`` time levels: fewer levels than the structure needs (a random
    intercept needs subjects with two observations: there ``times`` is the most rows of one
    subject), or more parameters than ``options.MAX_COVARIANCE_PARAMETERS``.

    >>> check_parameters("ar1", 4)
    2
    >>> check_parameters("cs", 1)
    Traceback (most recent call last):
    ...
    xerotrial.stats.errors.DataValidationError: data: covariance 'cs' needs at least 2 time ...
    """
    what = f"the time factor {time!r}" if time else "the time factor"
    if name == G_SIDE:
        if times < 2:
            raise DataValidationError(
                f"{source}: covariance {name!r} needs subjects with two or more observations; "
                "every subject has one, so the random-intercept variance and the residual "
                "variance are one variance and cannot be told apart. Use an R-side structure "
                "(e.g. 'un' or 'diag' over the time levels: with one observation per subject, "
                "an ordinary linear model)"
            )
    else:
        s = get_structure(name)
        if isinstance(s, Spatial) and times < s.min_times:
            raise DataValidationError(
                f"{source}: covariance {name!r} needs observations at two or more distinct "
                "points of its coordinates, and the data have one: its parameter "
                f"{s.param_names(1)[0]} describes how the correlation falls with distance, "
                "which one point does not show. Use 'un' or 'diag' over a time factor"
            )
        if times < s.min_times:
            names = [n for n, k in zip(s.param_names(1), s.kinds(1), strict=True) if k != "var"]
            raise DataValidationError(
                f"{source}: covariance {name!r} needs at least {s.min_times} time levels and "
                f"{what} has {times}: its parameter(s) {names} describe the covariance between "
                "two time levels, which one level does not have, so they cannot be estimated. "
                "Use 'un' or 'diag' (over one time level: a single residual variance, an "
                "ordinary linear model), or add the data of the other time levels"
            )
    k = n_covariance_parameters(name, times, groups, random)
    if k > MAX_COVARIANCE_PARAMETERS:
        per = f" ({groups} groups)" if groups > 1 else ""
        fits = sorted(
            (n_covariance_parameters(n, times, groups), n)
            for n in STRUCTURES
            if n_covariance_parameters(n, times, groups) <= MAX_COVARIANCE_PARAMETERS
            and n not in SPATIAL
        )
        instead = ", ".join(f"{n} ({c:,})" for c, n in fits)
        raise DataValidationError(
            f"{source}: {name} over {times:,} time levels{per} has {k:,} covariance "
            f"parameters; at most {MAX_COVARIANCE_PARAMETERS:,} are fitted "
            "(options.MAX_COVARIANCE_PARAMETERS: a fit's time grows about as the cube of the "
            "count, and un over 30 visits, 465 parameters, took more than 5 minutes). Use a "
            f"structure with fewer parameters: {instead}"
        )
    return k


def get_structure(name: str) -> CovarianceStructure:
    """Look up an R-side covariance structure by its name (``un``, ``cs``, ``ar1``, ...)."""
    if name == G_SIDE or name not in STRUCTURES:
        raise DataValidationError(
            f"unknown R-side covariance structure {name!r}; choose one of {', '.join(STRUCTURES)}"
        )
    return STRUCTURES[name]
