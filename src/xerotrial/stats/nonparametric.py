"""Non-parametric summaries and tests that reproduce R.

This module holds the pieces of the Wilcoxon sensitivity analysis (baseline vs
4 months, paired, "as observed", summarised as median (IQR)):

* :func:`wilcoxon_signed_rank` -- the Wilcoxon signed rank test exactly as R's
  ``wilcox.test(x, y, paired = TRUE, exact = , correct = )`` computes it
  (R 4.0 to 4.5 rules, see the function's notes);
* :func:`quantiles` -- sample quantiles of the nine Hyndman and Fan (1996)
  definitions, i.e. R's ``quantile(type = 1..9)``, plus the SAS default;
* :func:`median_iqr` -- the "median (Q1, Q3)" a paper prints.

Missing values (``None``, ``NaN``, ``pandas.NA``) are dropped everywhere, as R
does with ``complete.cases`` / ``na.rm = TRUE``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any, Literal

import numpy as np
from scipy import stats as _sps

__all__ = [
    "MedianIQR",
    "QUANTILE_DEFINITIONS",
    "WilcoxonExactWarning",
    "WilcoxonResult",
    "median_iqr",
    "quantiles",
    "wilcoxon_signed_rank",
]

Alternative = Literal["two-sided", "greater", "less"]

_ALTERNATIVES: dict[str, str] = {
    "two-sided": "two-sided",
    "two.sided": "two-sided",
    "two_sided": "two-sided",
    "greater": "greater",
    "less": "less",
}

#: Hyndman-Fan type (R's ``quantile(type=)``) -> ``numpy.quantile`` method.
_NUMPY_METHODS: dict[int, str] = {
    1: "inverted_cdf",
    2: "averaged_inverted_cdf",
    3: "closest_observation",
    4: "interpolated_inverted_cdf",
    5: "hazen",
    6: "weibull",
    7: "linear",
    8: "median_unbiased",
    9: "normal_unbiased",
}

#: Accepted ``definition`` names (case-insensitive) and the R type each means.
QUANTILE_DEFINITIONS: dict[str, int] = {
    **{f"r{k}": k for k in range(1, 10)},
    "r": 7,
    "sas5": 2,
}


class WilcoxonExactWarning(UserWarning):
    """An exact p-value was asked for (or is R's default) but ties/zeros forbid it."""


# --------------------------------------------------------------------------- helpers


def _as_float_array(values: Any, name: str) -> np.ndarray:
    """1-D float64 copy of ``values``; ``None``/``NaN``/``pandas.NA`` become NaN."""
    if hasattr(values, "to_numpy"):  # pandas Series / Index / extension arrays
        try:
            arr = values.to_numpy(dtype=float, na_value=np.nan)
        except TypeError:
            arr = np.asarray(values.to_numpy(), dtype=float)
    else:
        try:
            arr = np.asarray(values, dtype=float)
        except TypeError:
            # e.g. a list holding pandas.NA, which float() refuses
            arr = np.array([_scalar_to_float(v) for v in values], dtype=float)
    arr = np.array(arr, dtype=float, copy=True)
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1:
        raise ValueError(f"{name!r} must be one-dimensional, got shape {arr.shape}")
    return arr


def _scalar_to_float(v: Any) -> float:
    if v is None:
        return math.nan
    try:
        return float(v)
    except TypeError:
        import pandas as pd

        if pd.isna(v):
            return math.nan
        raise


def _normalise_alternative(alternative: str) -> str:
    try:
        return _ALTERNATIVES[alternative]
    except KeyError:
        raise ValueError(
            f"alternative must be 'two-sided', 'greater' or 'less', got {alternative!r}"
        ) from None


@lru_cache(maxsize=16)
def _signrank_pmf(n: int) -> np.ndarray:
    """P(V = s), s = 0 .. n(n+1)/2, of the signed rank statistic without ties.

    Dynamic programme over the ranks: adding rank ``k`` with a fair sign gives
    ``p_k(s) = (p_{k-1}(s) + p_{k-1}(s - k)) / 2``.  Every value is a count over
    ``2**k`` and the halving is exact, so this equals R's ``csignrank`` counts
    times ``2**-n`` (exactly, while the counts fit in 53 bits) without overflow.
    """
    size = n * (n + 1) // 2 + 1
    p = np.zeros(size)
    p[0] = 1.0
    for k in range(1, n + 1):
        top = k * (k + 1) // 2  # largest attainable sum with ranks 1..k
        p[k : top + 1] += p[: top + 1 - k]  # numpy buffers overlapping operands
        p[: top + 1] *= 0.5
    p.setflags(write=False)
    return p


def _psignrank(q: float, n: int, *, lower_tail: bool = True) -> float:
    """R's ``psignrank(q, n, lower.tail)``: P(V <= q) or P(V > q)."""
    pmf = _signrank_pmf(n)
    m = n * (n + 1) // 2
    k = math.floor(q + 1e-7)  # R: x = R_forceint(x + 1e-7)
    if k < 0:
        return 0.0 if lower_tail else 1.0
    if k >= m:
        return 1.0 if lower_tail else 0.0
    # Sum the requested tail directly (R sums the smaller one and complements;
    # both are exact to rounding, summing the tail avoids cancellation).
    return float(pmf[: k + 1].sum()) if lower_tail else float(pmf[k + 1 :].sum())


# --------------------------------------------------------------------------- Wilcoxon


@dataclass(frozen=True)
class WilcoxonResult:
    """Result of :func:`wilcoxon_signed_rank` (R's ``htest`` fields, plus counts).

    Attributes:
        statistic: R's ``V``, the sum of the (average) ranks of |d| over d > 0.
        p_value: the p-value for ``alternative``.
        n: number of non-zero differences ranked (what the test uses).
        n_zero: differences exactly 0, dropped before ranking (as R does).
        n_dropped_missing: pairs dropped because x or y (or x - y) was missing.
        method: R's ``method`` string, e.g. ``"Wilcoxon signed rank exact test"``.
        alternative: ``"two-sided"``, ``"greater"`` or ``"less"``.
    """

    statistic: float
    p_value: float
    n: int
    n_zero: int
    n_dropped_missing: int
    method: str
    alternative: str

    @property
    def exact(self) -> bool:
        """True when the p-value comes from the exact null distribution."""
        return "exact" in self.method

    def to_dict(self) -> dict[str, Any]:
        """Plain-``dict`` view (JSON-friendly)."""
        return asdict(self)


def wilcoxon_signed_rank(
    x: Iterable[float | None],
    y: Iterable[float | None] | None = None,
    *,
    exact: bool | None = None,
    correct: bool = True,
    alternative: Alternative | str = "two-sided",
    mu: float = 0.0,
) -> WilcoxonResult:
    """Wilcoxon signed rank test, reproducing R's ``wilcox.test(..., paired = TRUE)``.

    With ``y`` the differences are ``d = x - y`` (paired test); without ``y``,
    ``x`` is taken as the differences (one-sample test).  ``mu`` is subtracted
    from the differences, as R's ``mu``.

    R's rules (``stats:::wilcox.test.default``, R 4.0 to 4.5) are followed:

    1. pairs with a missing value in x or y are dropped (``complete.cases``);
    2. zero differences are dropped (Wilcoxon's convention, R's only one);
    3. ``V`` is the sum of the average ranks of ``|d|`` over ``d > 0``;
    4. ``exact=None`` means exact when ``n < 50`` (``n`` after dropping zeros);
       the exact null distribution is used only when there are neither ties
       nor zeros, otherwise the normal approximation is used and, if an exact
       p-value was wanted (explicitly or by default), a
       :class:`WilcoxonExactWarning` says why, as R warns
       ("cannot compute exact p-value with ties" / "... with zeroes");
    5. the normal approximation uses the tie-corrected variance
       ``n(n+1)(2n+1)/24 - sum(t^3 - t)/48`` and, when ``correct``, the
       continuity correction 0.5 toward the mean (``sign(z) * 0.5`` two-sided).

    This differs from ``scipy.stats.wilcoxon``, which reports min(V+, V-) for
    two-sided tests, applies no continuity correction by default and uses the
    exact distribution in the presence of ties/zeros.  R >= 4.6.0 also differs:
    it computes exact *conditional* p-values with ties.

    Args:
        x: first measurements (e.g. 4 months), or differences if ``y`` is None.
        y: second measurements (e.g. baseline), same length as ``x``.
        exact: exact p-value? ``None`` = R's default (``n < 50``).
        correct: continuity correction in the normal approximation.
        alternative: ``"two-sided"`` (or R's ``"two.sided"``), ``"greater"``
            (``x`` tends to exceed ``y``) or ``"less"``.
        mu: null location shift of the differences.

    Returns:
        A :class:`WilcoxonResult`.

    Raises:
        ValueError: lengths differ, bad ``alternative``, or no complete pair.

    Example (R's ``?wilcox.test``, Hollander & Wolfe depression scores):

    >>> x = [1.83, 0.50, 1.62, 2.48, 1.68, 1.88, 1.55, 3.06, 1.30]
    >>> y = [0.878, 0.647, 0.598, 2.05, 1.06, 1.29, 1.06, 3.14, 1.29]
    >>> res = wilcoxon_signed_rank(x, y, alternative="greater")
    >>> res.statistic, res.p_value, res.method
    (40.0, 0.01953125, 'Wilcoxon signed rank exact test')
    >>> wilcoxon_signed_rank(x, y).p_value
    0.0390625
    """
    alt = _normalise_alternative(alternative)
    xa = _as_float_array(x, "x")
    if y is not None:
        ya = _as_float_array(y, "y")
        if xa.shape != ya.shape:
            raise ValueError(f"'x' and 'y' must have the same length ({xa.size} != {ya.size})")
        with np.errstate(invalid="ignore"):
            d = xa - ya  # NaN where either is missing (or Inf - Inf)
    else:
        d = xa
    if not math.isfinite(mu):
        raise ValueError("'mu' must be a single finite number")

    missing = np.isnan(d)
    n_missing = int(missing.sum())
    d = d[~missing]
    if d.size < 1:
        raise ValueError("not enough (non-missing) 'x' observations")
    if mu != 0.0:
        d = d - mu

    zero = d == 0
    n_zero = int(zero.sum())
    d = d[~zero]
    n = int(d.size)

    use_exact = (n < 50) if exact is None else bool(exact)
    if n:
        ranks = _sps.rankdata(np.abs(d), method="average")
        statistic = float(ranks[d > 0].sum())
        _, tie_sizes = np.unique(ranks, return_counts=True)
    else:
        statistic = 0.0
        tie_sizes = np.zeros(0, dtype=np.int64)
    ties = tie_sizes.size != n

    method = "Wilcoxon signed rank test"
    if use_exact and not ties and n_zero == 0:
        method = "Wilcoxon signed rank exact test"
        if alt == "two-sided":
            if statistic > n * (n + 1) / 4:
                p = _psignrank(statistic - 1, n, lower_tail=False)
            else:
                p = _psignrank(statistic, n)
            p_value = min(2.0 * p, 1.0)
        elif alt == "greater":
            p_value = _psignrank(statistic - 1, n, lower_tail=False)
        else:
            p_value = _psignrank(statistic, n)
    else:
        nf = float(n)
        t = tie_sizes.astype(float)
        z = statistic - nf * (nf + 1) / 4
        sigma = math.sqrt(nf * (nf + 1) * (2 * nf + 1) / 24 - float(np.sum(t**3 - t)) / 48)
        correction = 0.0
        if correct:
            method += " with continuity correction"
            if alt == "two-sided":
                correction = float(np.sign(z)) * 0.5
            else:
                correction = 0.5 if alt == "greater" else -0.5
        with np.errstate(divide="ignore", invalid="ignore"):
            z = float(np.float64(z - correction) / np.float64(sigma))
        if alt == "less":
            p_value = float(_sps.norm.cdf(z))
        elif alt == "greater":
            p_value = float(_sps.norm.sf(z))
        else:
            p_value = 2.0 * min(float(_sps.norm.cdf(z)), float(_sps.norm.sf(z)))
            if math.isnan(z):
                p_value = math.nan
        if use_exact and ties:
            warnings.warn(
                "cannot compute exact p-value with ties; using the normal approximation",
                WilcoxonExactWarning,
                stacklevel=2,
            )
        if use_exact and n_zero:
            warnings.warn(
                "cannot compute exact p-value with zeroes; using the normal approximation",
                WilcoxonExactWarning,
                stacklevel=2,
            )

    return WilcoxonResult(
        statistic=statistic,
        p_value=float(p_value),
        n=n,
        n_zero=n_zero,
        n_dropped_missing=n_missing,
        method=method,
        alternative=alt,
    )


# --------------------------------------------------------------------------- quantiles


def _quantile_type(definition: str | int) -> int:
    if isinstance(definition, bool):
        raise ValueError(f"unknown quantile definition {definition!r}")
    if isinstance(definition, int | np.integer):
        if 1 <= int(definition) <= 9:
            return int(definition)
        raise ValueError(f"quantile type must be 1..9, got {definition!r}")
    key = str(definition).strip().lower()
    try:
        return QUANTILE_DEFINITIONS[key]
    except KeyError:
        raise ValueError(
            f"unknown quantile definition {definition!r}; use 'R1'..'R9', 'r' or 'sas5'"
        ) from None


def quantiles(
    x: Iterable[float | None],
    probs: float | Sequence[float] = (0.25, 0.5, 0.75),
    *,
    definition: str | int = "R7",
) -> np.ndarray | float:
    """Sample quantiles, as R's ``quantile(x, probs, type = k, na.rm = TRUE)``.

    ``definition`` names one of the nine Hyndman & Fan (1996) sample quantiles
    (case-insensitive; an int 1..9 is accepted too).  With ``p`` the
    probability, ``n`` the sample size and ``x[k]`` the k-th order statistic:

    ========  ===================================================================
    ``R1``    inverse of the empirical CDF (SAS PCTLDEF=3)
    ``R2``    as R1 but averaging at discontinuities: ``n*p`` integer ->
              ``(x[np] + x[np+1]) / 2``; SAS PROC UNIVARIATE default PCTLDEF=5;
              alias ``"sas5"``
    ``R3``    nearest even order statistic (SAS PCTLDEF=2)
    ``R4``    linear interpolation of the empirical CDF, ``p_k = k/n``
              (SAS PCTLDEF=1)
    ``R5``    piecewise linear, ``p_k = (k - 0.5)/n`` (Hazen)
    ``R6``    ``p_k = k/(n + 1)`` (Weibull; Minitab, SPSS, SAS PCTLDEF=4)
    ``R7``    ``p_k = (k - 1)/(n - 1)``; R's and numpy's default; alias ``"r"``
    ``R8``    ``p_k = (k - 1/3)/(n + 1/3)``, median-unbiased (Hyndman-Fan choice)
    ``R9``    ``p_k = (k - 3/8)/(n + 1/4)``, normal-unbiased (Blom)
    ========  ===================================================================

    Computed with ``numpy.quantile(method=...)`` (its nine H&F methods), which
    agrees with R 4.2 exactly for types 1-3 and to rounding (~1e-16 relative)
    for types 4-9.  R >= 4.3 adds a ``fuzz`` of 4 eps before flooring ``n*p``
    in types 1-3, which changes the result only when ``n*p`` is within a few
    ulps of an integer without being one (never for p = 0.25, 0.5, 0.75).

    Missing values are dropped; an empty sample gives NaN.

    Args:
        x: the sample.
        probs: probabilities in [0, 1]; a scalar gives a float back.
        definition: ``"R1"`` .. ``"R9"``, ``"r"`` (= R7) or ``"sas5"`` (= R2).

    Returns:
        ``numpy.ndarray`` of quantiles (float for scalar ``probs``).

    >>> quantiles([1, 2, 3, 4, 5, 6, 7, 8], definition="R7").tolist()
    [2.75, 4.5, 6.25]
    >>> quantiles([1, 2, 3, 4, 5, 6, 7, 8], definition="sas5").tolist()
    [2.5, 4.5, 6.5]
    >>> quantiles([3, None, 1, 2], 0.5, definition="R6")
    2.0
    """
    qtype = _quantile_type(definition)
    xs = _as_float_array(x, "x")
    xs = xs[~np.isnan(xs)]
    scalar = np.ndim(probs) == 0
    p = np.atleast_1d(np.asarray(probs, dtype=float))
    if p.ndim != 1:
        raise ValueError("'probs' must be a scalar or one-dimensional")
    if np.isnan(p).any():
        raise ValueError("'probs' must not contain NaN")
    eps = 100 * np.finfo(float).eps  # R accepts a slight overshoot and clamps
    if np.any((p < -eps) | (p > 1 + eps)):
        raise ValueError("'probs' outside [0,1]")
    p = np.clip(p, 0.0, 1.0)
    if xs.size == 0:
        out = np.full(p.shape, np.nan)
    else:
        out = np.asarray(np.quantile(xs, p, method=_NUMPY_METHODS[qtype]), dtype=float)
    if scalar:
        return float(out[0])
    return out


# --------------------------------------------------------------------------- median (IQR)


@dataclass(frozen=True)
class MedianIQR:
    """Median and quartiles of the non-missing values ("median (Q1, Q3)")."""

    n: int
    median: float
    q1: float
    q3: float

    @property
    def iqr(self) -> float:
        """Interquartile range Q3 - Q1."""
        return self.q3 - self.q1

    def to_dict(self) -> dict[str, Any]:
        """Plain-``dict`` view: n, median, q1, q3."""
        return asdict(self)

    def format(self, decimals: int = 1) -> str:
        """Text as printed in a table, e.g. ``"4.5 (2.5, 6.5)"``."""
        f = f"{{:.{decimals}f}}"
        return f"{f.format(self.median)} ({f.format(self.q1)}, {f.format(self.q3)})"


def median_iqr(x: Iterable[float | None], *, definition: str | int = "sas5") -> MedianIQR:
    """Median with first and third quartiles of the non-missing values.

    The default ``definition="sas5"`` (= R type 2, SAS PROC UNIVARIATE's
    default) gives the quartiles a SAS-produced table shows; pass ``"R7"``
    for R's / numpy's default.  See :func:`quantiles` for all definitions.
    The median is the same under types 2, 5, 6, 7, 8 and 9.

    >>> s = median_iqr([1, 2, 3, 4, 5, 6, 7, 8, None])
    >>> s.n, s.median, s.q1, s.q3
    (8, 4.5, 2.5, 6.5)
    >>> s.format()
    '4.5 (2.5, 6.5)'
    """
    xs = _as_float_array(x, "x")
    xs = xs[~np.isnan(xs)]
    q1, med, q3 = (float(v) for v in quantiles(xs, (0.25, 0.5, 0.75), definition=definition))
    return MedianIQR(n=int(xs.size), median=med, q1=q1, q3=q3)
