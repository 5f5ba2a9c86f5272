"""Closed-form power of the treatment comparison at the last visit: the exact answers the
simulation (``simulate.py``) is checked against.

* ``ttest_power``: the two-sample t test (complete data), from the noncentral t.
* ``mmrm_power_lu_luo_chen``: an MMRM with an unstructured covariance and monotone dropout,
  Lu, Luo & Chen (2008).

Example
-------
>>> round(ttest_power(20, 20, 0.05, 0.1, 0.05), 4)
0.3379
"""

from __future__ import annotations

import numpy as np
from scipy import stats

__all__ = ["ttest_power", "mmrm_variance_factor", "mmrm_power_lu_luo_chen"]


def ttest_power(n1: int, n2: int, delta: float, sd: float, alpha: float = 0.05) -> float:
    """Power of the two-sided two-sample t test (equal variances) for a mean difference
    ``delta``: P(|T| > t_{1-alpha/2, n1+n2-2}) with T noncentral t, ncp = delta / (sd
    sqrt(1/n1 + 1/n2)).

    >>> round(ttest_power(64, 64, 0.5, 1.0), 3)
    0.801
    """
    df = n1 + n2 - 2
    ncp = delta / (sd * np.sqrt(1.0 / n1 + 1.0 / n2))
    q = stats.t.ppf(1.0 - alpha / 2.0, df)
    return float(stats.nct.sf(q, df, ncp) + stats.nct.cdf(-q, df, ncp))


def mmrm_variance_factor(corr: np.ndarray, retention: np.ndarray) -> float:
    """Lu, Luo & Chen's (2008) variance inflation factor phi of the last-visit mean.

    With retention r_j (the share of subjects observed at visit j, monotone: r_1 >= r_2 ...)
    and the correlation matrix C over visits, the information about the visit means from
    subjects who leave after visit j is (r_j - r_{j+1}) C_[1..j]^-1 (padded with zeros), and
    phi = [ sum_j (r_j - r_{j+1}) C_[1..j]^-1 ]^-1_{TT}: Var(mean at visit T) = phi sigma_T^2 / n.
    (Formula (3) of the paper; with complete data phi = 1.)

    >>> import numpy as np
    >>> C = np.full((3, 3), 0.5) + 0.5 * np.eye(3)
    >>> mmrm_variance_factor(C, np.ones(3))
    1.0
    """
    C = np.asarray(corr, dtype=float)
    r = np.append(np.asarray(retention, dtype=float), 0.0)
    T = C.shape[0]
    info = np.zeros((T, T))
    for j in range(1, T + 1):
        info[:j, :j] += (r[j - 1] - r[j]) * np.linalg.inv(C[:j, :j])
    return float(np.linalg.inv(info)[T - 1, T - 1])


def mmrm_power_lu_luo_chen(
    n1: int,
    n2: int,
    delta: float,
    sd: float,
    corr: np.ndarray,
    retention1: np.ndarray,
    retention2: np.ndarray | None = None,
    alpha: float = 0.05,
    df: float | None = None,
) -> float:
    """Power of the MMRM test of the treatment difference at the last visit with monotone
    dropout, after Lu K, Luo X, Chen P-Y (2008), "Sample size estimation for repeated measures
    analysis in randomized clinical trials with missing data", Int J Biostat 4(1), Article 9.

    Var(difference) = sd_T^2 (phi_1 / n1 + phi_2 / n2) with phi from
    ``mmrm_variance_factor`` (``sd`` is the SD at the last visit, ``corr`` the correlation
    over visits). With ``df=None`` the power is the paper's normal approximation
    Phi(|delta| / se - z_{1-alpha/2}) (+ the other tail); with ``df`` the noncentral t,
    which is closer for small trials.

    >>> import numpy as np
    >>> C = np.full((4, 4), 0.25) + 0.75 * np.eye(4)
    >>> round(mmrm_power_lu_luo_chen(87, 87, 0.5, 1.0, C, [1, 0.9, 0.8, 0.7]), 3)
    0.8
    """
    phi1 = mmrm_variance_factor(corr, retention1)
    phi2 = phi1 if retention2 is None else mmrm_variance_factor(corr, retention2)
    se = sd * np.sqrt(phi1 / n1 + phi2 / n2)
    ncp = abs(delta) / se
    if df is None:
        z = stats.norm.ppf(1.0 - alpha / 2.0)
        return float(stats.norm.sf(z - ncp) + stats.norm.cdf(-z - ncp))
    q = stats.t.ppf(1.0 - alpha / 2.0, df)
    return float(stats.nct.sf(q, df, ncp) + stats.nct.cdf(-q, df, ncp))
