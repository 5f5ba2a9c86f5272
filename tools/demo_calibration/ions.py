"""The two saliva-ion rows whose baseline and 4-month SEs differ: UWS potassium, SWS sodium.

The demo data are **synthetic**. With the random-intercept model (REML, visit fixed,
containment df), ``n`` complete pairs and ``k`` subjects with a baseline value only, the
GLS variances are (sigma2 = s2u + s2, rho = s2u / sigma2)::

    var(LS mean day0)   = sigma2 / (n + k)
    var(LS mean day120) = sigma2 / (n + k) * (1 + k (1 - rho^2) / n)
    var(difference)     = sigma2 / (n + k) * (2 - 2 rho + k (1 - rho^2) / n)

UWS potassium prints SE 1.4 vs 1.6 with n = 8: the squared ratio must exceed
1.55^2 / 1.45^2 = 1.14, and with k = 1 it is at most 1 + 1/8. So **two** subjects give a
baseline UWS sample only (P05 and P10: too little saliva at 4 months), and rho is about 0.52.
SWS sodium (SE 3.3 vs 3.4, n = 9) is met with k = 1 (P07's 4-month sample lost) and rho
about 0.84. The values (mmol/L, 0.01 resolution) are constructed as the flow rates are
(:mod:`.flow`): a seeded least-squares fit of every observed value so that each printed
number lies well inside its rounding interval (exact REML, :func:`.calibrate.ri_reml`),
rounding to 0.01 and a greedy repair by moves of 0.01-0.05 mmol/L.

>>> ION_PATTERNS["uws_potassium"].sum(0).tolist()
[10, 8]
"""

from __future__ import annotations

import math
from functools import cache

import numpy as np
from scipy import optimize

from xerotrial.demo.targets import TABLE3

from .calibrate import greedy_repair, ri_reml, ri_reml_many, row_badness
from .scintigraphy import _row_resid

__all__ = ["ION_PATTERNS", "MIN_MMOL_L", "RHO", "calibrate_ion_row", "ion_data"]

#: Measured (True) per subject x [day0, day120].
ION_PATTERNS: dict[str, np.ndarray] = {
    "uws_potassium": np.array(
        [[True, True]] * 4 + [[True, False]] + [[True, True]] * 4 + [[True, False]]
    ),
    "sws_sodium": np.array([[True, True]] * 6 + [[True, False]] + [[True, True]] * 3),
}
#: Target intra-subject correlation of the construction (see the module text).
RHO = {"uws_potassium": 0.52, "sws_sodium": 0.84}
#: Lowest value constructed (a plausible saliva concentration, mmol/L).
MIN_MMOL_L = 2.0


def calibrate_ion_row(paramcd: str, seed: int = 2022, tries: int = 10) -> np.ndarray:
    """Values (mmol/L) of ``paramcd``, subjects x [day0, day120], NaN where not measured."""
    rng = np.random.default_rng(seed)
    pat = ION_PATTERNS[paramcd]
    row = TABLE3[paramcd]
    n_all = int(pat[:, 0].sum())
    sigma2 = float(row.baseline.se) ** 2 * n_all
    rho = RHO[paramcd]
    mu = np.array([float(row.baseline.estimate), float(row.follow_up.estimate)])
    cells = [tuple(c) for c in np.argwhere(pat)]

    def build(x: np.ndarray) -> np.ndarray:
        y = np.full(pat.shape, np.nan)
        y[pat] = x
        return y

    def f(u: np.ndarray) -> float:
        return row_badness(paramcd, ri_reml(u / 100.0), last=1)

    def fs(us: np.ndarray) -> list[float]:  # f of a stack of candidates, one engine call
        return [row_badness(paramcd, s, last=1) for s in ri_reml_many(us / 100.0)]

    for _ in range(tries):
        u = rng.normal(0, math.sqrt(rho * sigma2), (len(pat), 1))
        e = rng.normal(0, math.sqrt((1 - rho) * sigma2), pat.shape)
        x0 = (mu[None, :] + u + e)[pat]

        def res(x: np.ndarray, x0: np.ndarray = x0) -> np.ndarray:
            s = ri_reml(build(x))
            return np.array(
                _row_resid(paramcd, s)
                + list(np.maximum(0, MIN_MMOL_L - x) * 10)
                + list(0.002 * (x - x0))
            )

        sol = optimize.least_squares(
            res, np.maximum(x0, 1.0), method="trf", max_nfev=400, diff_step=1e-6
        )
        cur = np.rint(build(sol.x) * 100)
        if np.nanmin(cur) <= 0:
            continue
        fixed = greedy_repair(cur, f, cells, _ion_move, rounds=200, losses=fs)
        if fixed is not None:
            return fixed / 100.0
    raise RuntimeError(f"calibration of {paramcd} did not converge")


def _ion_move(value: float, step: int) -> float | None:
    moved = value + step
    return moved if moved >= 100 * MIN_MMOL_L else None


def ion_data(paramcd: str, seed: int = 2022) -> np.ndarray:
    """Cached :func:`calibrate_ion_row` (read-only array): one calibration per row and seed
    however it is asked for (``ion_data(p)`` and ``ion_data(p, 2022)`` share it)."""
    if paramcd not in ION_PATTERNS:
        raise KeyError(paramcd)
    return _ion_data(paramcd, seed)


@cache
def _ion_data(paramcd: str, seed: int) -> np.ndarray:
    y = calibrate_ion_row(paramcd, seed)
    y.setflags(write=False)
    return y
