"""Group-sequential efficacy boundaries with Lan-DeMets alpha spending.

At look k (information fraction t_k = I_k / I_max) the trial stops for efficacy when the
standardised statistic Z_k crosses the critical value c_k; c_k is chosen so that the
probability under H0 of crossing first at look k is the alpha the spending function assigns to
the interval (t_{k-1}, t_k]:

* ``"obrien-fleming"``: Lan & DeMets' O'Brien-Fleming type,
  ``2 * sided * (1 - Phi(z_{1 - alpha / (2 sided)} / sqrt(t)))`` (rpact's ``asOF``);
* ``"pocock"``: the Pocock type, ``alpha * log(1 + (e - 1) t)`` (rpact's ``asP``).

``alpha`` is the total type I error: one-sided (``sided=1``, reject for Z_k >= c_k) or
two-sided (``sided=2``: symmetric bounds, reject for |Z_k| >= c_k, alpha counted over both
tails). The crossing probabilities come from the recursive numerical integration of Armitage,
McPherson & Rowe (1969) as Jennison & Turnbull (2000, chapter 19) give it: the density of Z_k
on the continuation region is carried from look to look on J&T's fixed grid (``GRID_R``,
Simpson's rule; finer after a look that the next one follows closely, and each look must add at
least 0.1% to the information before it), and each c_k is a root found by
:func:`scipy.optimize.brentq` (inf where a look has no representable alpha to spend). Nothing is
random, nothing goes through BLAS (only elementwise numpy and scipy.special) and every sum has a
fixed order, so the numbers do not depend on BLAS or thread settings. They agree with R's rpact
3.3.4 to 1e-7 (``tests/stats/test_group_sequential.py`` checks 1e-6; the references come from
``validation/make_rpact_boundaries.R``).

**Interim looks (the Lan-DeMets point).** The boundary at look k depends only on t_1, ..., t_k,
never on when or whether later looks happen. At an interim analysis, pass the observed
information fractions so far (the last one the current look's): the last critical value is the
one to compare with, and it does not change when later looks come at other times than
planned. :func:`look_boundary` does exactly this. At the final analysis use t = 1 (the planned
maximum information; if more was gained, cap it at 1) so that all of alpha is spent.

Example
-------
>>> b = boundaries([0.5, 1.0], alpha=0.025, spending="obrien-fleming")
>>> [round(c, 4) for c in b.critical_values]
[2.9626, 1.9686]
>>> [round(a, 6) for a in b.alpha_spent]
[0.001525, 0.025]
>>> round(look_boundary([0.5], 0.8, alpha=0.025), 4)  # the second look came at t = 0.8
2.2662
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import optimize, special

from .errors import DataValidationError

__all__ = [
    "Boundaries",
    "boundaries",
    "conditional_power",
    "look_boundary",
    "obrien_fleming_spending",
    "pocock_spending",
    "spending_value",
]

Spending = Literal["obrien-fleming", "pocock"]
SPENDING_FUNCTIONS: tuple[str, ...] = ("obrien-fleming", "pocock")

#: Jennison & Turnbull's grid size r: 6r - 1 points (spaced 3 / (2r) over (-3, 3), logarithmic
#: out to +-(3 + 4 log r)), 12r - 3 with Simpson's midpoints. The error of the critical values
#: falls as r^-4: on the rpact designs of the tests it is at most 1.4e-6 with J&T's r = 16,
#: 7.6e-8 with r = 32 and 4.7e-9 with r = 64.
GRID_R = 64
#: Looks close together need a finer grid: the kernel of the step from Z_{k-1} to Z_k has sd
#: s = sqrt((t_k - t_{k-1}) / t_{k-1}) on the Z_{k-1} scale, and the grid of Z_{k-1} gets
#: r = GRID_R * max(1, 0.5 / s) (the designs of the tests have s >= 0.48). Looks must add at
#: least MIN_STEP of the information before them (t_k >= (1 + MIN_STEP) t_{k-1}; r <= 1012).
MIN_STEP = 1e-3
#: Critical values above this are reported as inf (the look spends no representable alpha).
C_MAX = 40.0
_ROWS = 512  # new grid points per block of the density step (bounds the memory)

_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


def obrien_fleming_spending(t: float | np.ndarray, alpha: float, sided: int = 1) -> np.ndarray:
    """Lan-DeMets O'Brien-Fleming-type cumulative alpha spent at information fraction ``t``, as
    rpact defines it: ``2 * sided * (1 - Phi(z_{1 - alpha / (2 sided)} / sqrt(t)))``.

    For ``sided=2`` each tail spends ``2 (1 - Phi(z_{1 - alpha/4} / sqrt(t)))``, alpha/2 in all.

    >>> round(float(obrien_fleming_spending(1.0, 0.025)), 15)
    0.025
    >>> round(float(obrien_fleming_spending(0.5, 0.05, sided=2)), 7)
    0.0030506
    """
    t = np.asarray(t, dtype=float)
    z = -special.ndtri(alpha / (2.0 * sided))
    return 2.0 * sided * special.ndtr(-z / np.sqrt(t))


def pocock_spending(t: float | np.ndarray, alpha: float) -> np.ndarray:
    """Lan-DeMets Pocock-type cumulative alpha spent at information fraction ``t``:
    ``alpha * log(1 + (e - 1) t)`` (the total over both tails when two-sided).

    >>> round(float(pocock_spending(0.5, 0.025)), 8)
    0.01550286
    """
    t = np.asarray(t, dtype=float)
    return alpha * np.log1p((math.e - 1.0) * t)


def spending_value(
    t: float | np.ndarray, alpha: float, spending: str, sided: int = 1
) -> np.ndarray:
    """The cumulative alpha that ``spending`` (``"obrien-fleming"`` or ``"pocock"``) has spent
    at ``t``."""
    if spending == "obrien-fleming":
        return obrien_fleming_spending(t, alpha, sided)
    if spending == "pocock":
        return pocock_spending(t, alpha)
    raise _unknown_spending(spending)


@dataclass(frozen=True)
class Boundaries:
    """Efficacy boundaries of a group-sequential design, one entry per look.

    ``critical_values`` are on the z scale (two-sided: reject for ``|Z_k| >= c_k``);
    ``nominal_levels`` are the one-sided p-values ``1 - Phi(c_k)`` at which look k rejects;
    ``alpha_spent`` is cumulative (both tails when two-sided), the crossing probability under H0
    of the boundaries themselves, which equals the spending function at each look.
    """

    information_rates: tuple[float, ...]
    critical_values: tuple[float, ...]
    nominal_levels: tuple[float, ...]
    alpha_spent: tuple[float, ...]
    alpha: float
    spending: str
    sided: int


def boundaries(
    information_rates: Sequence[float],
    alpha: float = 0.025,
    spending: Spending = "obrien-fleming",
    sided: int = 1,
) -> Boundaries:
    """Lan-DeMets boundaries at the looks ``information_rates`` (information fractions t_k,
    strictly increasing in (0, 1]; the final analysis at 1).

    Look k's boundary depends only on looks 1..k, so at an interim analysis pass the fractions
    observed so far (see the module docstring).

    >>> b = boundaries([1 / 3, 2 / 3, 1], alpha=0.05, spending="pocock", sided=2)
    >>> [round(c, 4) for c in b.critical_values]
    [2.2794, 2.2949, 2.2959]
    """
    t = _check(information_rates, alpha, spending, sided)
    spent = spending_value(t, alpha, spending, sided)
    increments = np.diff(spent, prepend=0.0)
    grid_r = _grid_sizes(t)

    # look 1: closed form; then the weighted density h_j = w_j f_1(z_j) of Z_1 on the grid z of
    # its continuation region (w: the Simpson weights)
    c = float(-special.ndtri(spent[0] / sided))
    crit = [c]
    cumulative = [float(sided * special.ndtr(-c))]
    z, w = _simpson_grid(-c if sided == 2 else -math.inf, c, grid_r[0])
    h = w * _INV_SQRT_2PI * np.exp(-0.5 * z * z)
    for k in range(1, len(t)):
        # Z_k sqrt(t_k) = Z_{k-1} sqrt(t_{k-1}) + N(0, t_k - t_{k-1}): in units of the
        # increment's sd, Z_{k-1} = z is at a = z sqrt(t_{k-1}) / sd and Z_k = c at c b
        sd = math.sqrt(t[k] - t[k - 1])
        a = z * (math.sqrt(t[k - 1]) / sd)
        b = math.sqrt(t[k]) / sd
        args = (a, b, h, sided, float(increments[k]))
        if _crossing(C_MAX, *args) >= 0.0:
            c = math.inf
        else:
            c = optimize.brentq(
                _crossing, 0.0, C_MAX, args=args, xtol=1e-13, rtol=4 * np.finfo(float).eps
            )
        crit.append(float(c))
        cumulative.append(cumulative[-1] + _crossing(c, a, b, h, sided))
        if k + 1 < len(t):
            # f_k(x) = sum_i h_i b phi(x b - a_i) on the new grid: one row per new point,
            # summed elementwise (no BLAS, so no thread-dependent order of the sums)
            z, w = _simpson_grid(-c if sided == 2 else -math.inf, c, grid_r[k])
            dens = np.empty(len(z))
            for i in range(0, len(z), _ROWS):
                u = z[i : i + _ROWS, None] * b - a[None, :]
                dens[i : i + _ROWS] = np.sum(h[None, :] * np.exp(-0.5 * u * u), axis=1)
            h = w * (b * _INV_SQRT_2PI) * dens

    return Boundaries(
        information_rates=tuple(float(x) for x in t),
        critical_values=tuple(crit),
        nominal_levels=tuple(float(special.ndtr(-c)) for c in crit),
        alpha_spent=tuple(cumulative),
        alpha=float(alpha),
        spending=spending,
        sided=int(sided),
    )


def look_boundary(
    previous_rates: Sequence[float],
    current_rate: float,
    alpha: float = 0.025,
    spending: Spending = "obrien-fleming",
    sided: int = 1,
) -> float:
    """The critical value (z) of the current look at observed information fraction
    ``current_rate``, after looks at ``previous_rates`` (empty at the first look): the last
    boundary of ``boundaries([*previous_rates, current_rate], ...)``. Later looks do not enter.

    >>> round(look_boundary([], 0.5), 4)
    2.9626
    """
    rates = [*previous_rates, current_rate]
    return boundaries(rates, alpha, spending, sided).critical_values[-1]


def conditional_power(z: float, t: float, final_critical: float) -> float:
    """The probability that the final analysis crosses ``final_critical`` given Z = ``z`` at
    information fraction ``t``, under the current trend (drift z / sqrt(t)): with the B-value
    B(t) = z sqrt(t) (Lan and Wittes 1988), B(1) - B(t) ~ N(theta (1 - t), 1 - t), so the
    probability is Phi((z / sqrt(t) - c) / sqrt(1 - t)) (interim looks in between ignored).

    >>> round(conditional_power(2.0, 0.5, 1.96), 4)
    0.8903
    """
    if not 0 < t < 1:
        raise DataValidationError(
            f"conditional power needs 0 < t < 1, not {t}", rule="0 < t < 1", value=t
        )
    return float(special.ndtr((z / math.sqrt(t) - final_critical) / math.sqrt(1.0 - t)))


def _crossing(
    c: float, a: np.ndarray, b: float, h: np.ndarray, sided: int, target: float = 0.0
) -> float:
    """P(no crossing before look k and Z_k >= c, or |Z_k| >= c two-sided) - ``target``, from
    the weighted density ``h`` of Z_{k-1} on its grid (``a``, ``b``: see :func:`boundaries`)."""
    p = special.ndtr(a - c * b)
    if sided == 2:
        p = p + special.ndtr(-a - c * b)
    return float(np.sum(h * p)) - target


def _grid_sizes(t: np.ndarray) -> list[int]:
    """J&T's r for the grid of Z_k, k = 1..K-1 (see ``GRID_R``); the last entry is unused."""
    s = np.sqrt(np.diff(t) / t[:-1])
    r = [max(GRID_R, math.ceil(GRID_R * 0.5 / float(x))) for x in s] + [GRID_R]
    return r


def _simpson_grid(lower: float, upper: float, r: int) -> tuple[np.ndarray, np.ndarray]:
    """Jennison & Turnbull's (2000, section 19.2) grid for N(0, 1) trimmed to (lower, upper),
    with the midpoints added, and the Simpson's-rule weights on it."""
    i = np.arange(1, 6 * r, dtype=float)
    x = np.where(
        i < r,
        -3.0 - 4.0 * np.log(r / i),
        np.where(i <= 5 * r, -3.0 + 3.0 * (i - r) / (2.0 * r), 3.0 + 4.0 * np.log(r / (6 * r - i))),
    )
    lo, hi = max(lower, x[0]), min(upper, x[-1])
    pts = np.concatenate(([lo], x[(x > lo) & (x < hi)], [hi]))
    m = 2 * len(pts) - 1
    z = np.empty(m)
    z[0::2] = pts
    z[1::2] = 0.5 * (pts[:-1] + pts[1:])
    d = np.diff(pts) / 6.0
    w = np.zeros(m)
    w[0:-1:2] += d
    w[1::2] += 4.0 * d
    w[2::2] += d
    return z, w


def _error(message: str, value: object, rule: str) -> DataValidationError:
    return DataValidationError(message, value=value, rule=rule)


def _unknown_spending(spending: object) -> DataValidationError:
    return _error(
        f"spending {spending!r} is not known: use 'obrien-fleming' (Lan-DeMets O'Brien-Fleming "
        "type) or 'pocock' (Lan-DeMets Pocock type)",
        spending,
        "spending must be 'obrien-fleming' or 'pocock'",
    )


def _check(rates: Sequence[float], alpha: float, spending: str, sided: int) -> np.ndarray:
    if sided not in (1, 2):
        raise _error(
            f"sided = {sided!r}: use 1 (one-sided) or 2 (two-sided)", sided, "sided must be 1 or 2"
        )
    if spending not in SPENDING_FUNCTIONS:
        raise _unknown_spending(spending)
    if not isinstance(alpha, (int, float, np.floating)) or not 0.0 < alpha < 0.5:
        raise _error(
            f"alpha = {alpha!r}: the total type I error must be in (0, 0.5), e.g. 0.025 "
            "one-sided or 0.05 two-sided",
            alpha,
            "alpha must be in (0, 0.5)",
        )
    try:
        t = np.asarray(rates, dtype=float)
    except (TypeError, ValueError):
        t = None
    if t is None or t.ndim != 1 or t.size == 0:
        raise _error(
            f"information rates {rates!r}: give one information fraction per look (a "
            "non-empty list of numbers)",
            rates,
            "information rates must be a non-empty list of numbers",
        )
    if not np.all(np.isfinite(t)) or np.any(t <= 0.0) or np.any(t > 1.0):
        raise _error(
            f"information rates {t.tolist()}: each must be in (0, 1] (the fraction of the "
            "maximum information at the look; cap an over-running final analysis at 1)",
            t.tolist(),
            "information rates must be in (0, 1]",
        )
    if np.any(np.diff(t) <= 0.0):
        raise _error(
            f"information rates {t.tolist()}: must be strictly increasing (one entry per "
            "look, in the order of the looks)",
            t.tolist(),
            "information rates must be strictly increasing",
        )
    if np.any(np.diff(t) < MIN_STEP * t[:-1] * (1.0 - 1e-9)):
        raise _error(
            f"information rates {t.tolist()}: each look must add at least {MIN_STEP:.1%} to the "
            "information of the look before (t_k >= 1.001 t_{k-1}); treat looks closer than "
            "that as one look",
            t.tolist(),
            "each look must add at least 0.1% to the information of the look before",
        )
    return t
