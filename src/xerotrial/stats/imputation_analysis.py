"""The analysis of imputed data sets and the pooling of their results, as R rbmi does them.

``ancova`` fits, per visit and per imputed data set, ``outcome ~ group + covariates`` by
ordinary least squares (rbmi's ``ancova``): the treatment effect (the other group minus the
reference) and the LS mean of each group with rbmi's default "counterfactual" weights (the
model's prediction for every analysed subject as if in that group, averaged). The pooling
rules are rbmi's ``pool``: the jackknife (the full data's estimate, the jackknife SE,
normal intervals), the bootstrap (percentile intervals from R's quantile type 6 and their
p-value, or normal intervals from the bootstraps' SD), von Hippel and Bartlett's bootstrapped
ML imputation (a one-way random-effects ANOVA of the B x D estimates, t intervals), and
Rubin's rules with Barnard and Rubin's degrees of freedom.

Example
-------
>>> import numpy as np
>>> est = np.array([1.0, 1.2, 0.9, 1.1])            # full data first, then 3 jackknife fits
>>> r = pool_jackknife(est)
>>> round(r["est"], 3), round(r["se"], 4)
(1.0, 0.1764)
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats as st

from . import coding
from .design import _natural_key
from .errors import DataValidationError

__all__ = [
    "AnalysisDesign",
    "analysis_design",
    "ancova",
    "pool_jackknife",
    "pool_bootstrap",
    "pool_bmlmi",
    "pool_rubin",
    "quantile6",
]

GROUP_COLUMN = "__group__"


class AnalysisDesign:
    """The ANCOVA's model matrix per subject and visit, (n, T, k), and the group column."""

    def __init__(self, A: np.ndarray, names: list[str], group_col: int) -> None:
        self.A, self.names, self.group_col = A, names, group_col


def analysis_design(
    grid: pd.DataFrame,
    arm: np.ndarray,
    covariates: list[str],
    group: str,
    visit: str,
    n: int,
    T: int,
) -> AnalysisDesign:
    """``1 + group + covariates`` on the grid (treatment coding, the group as 0/1)."""
    from .imputation import term_variables

    variables = term_variables(covariates)
    if group in variables or visit in variables:
        raise DataValidationError(
            f"--analysis-covariates {covariates}: the ANCOVA is per visit and has the group; "
            f"leave {group!r} and {visit!r} out of it",
            column=group if group in variables else visit,
            rule="group or visit in the analysis covariates",
        )
    frame = pd.DataFrame({GROUP_COLUMN: np.repeat(arm.astype(float), T)})
    factors: dict[str, list[str]] = {}
    numeric = [GROUP_COLUMN]
    for v in variables:
        col = grid[v].to_numpy()
        if col.dtype.kind == "f":
            frame[v] = col
            numeric.append(v)
        else:
            factors[v] = sorted({str(x) for x in col}, key=_natural_key)
            frame[v] = pd.Categorical([str(x) for x in col], categories=factors[v])
    rhs = " + ".join([GROUP_COLUMN, *covariates])
    terms = coding.parse_terms(rhs, factors, numeric)
    if terms is None:
        from formulaic import Formula

        mm = Formula(rhs).get_model_matrix(frame, na_action="raise")
        A, names = np.asarray(mm, dtype=float), list(mm.columns)
    else:
        A, names, _ = coding.model_matrix(frame, terms, factors)
    return AnalysisDesign(A.reshape(n, T, -1), names, names.index(GROUP_COLUMN))


def ancova(y: np.ndarray, design: AnalysisDesign, index: np.ndarray) -> dict[str, np.ndarray]:
    """Per imputed data set and visit (R, T): ``trt``, ``lsm_ref``, ``lsm_alt`` estimates,
    their SEs (``*_se``) and the residual df. ``y`` (R, m, T) is the imputed outcome of the
    subjects ``index`` (R, m)."""
    R, m, T = y.shape
    g = design.group_col
    out = {
        k: np.empty((R, T))
        for k in ("trt", "trt_se", "lsm_ref", "lsm_ref_se", "lsm_alt", "lsm_alt_se")
    }
    k = design.A.shape[-1]
    df = m - k
    for t in range(T):
        A = design.A[index, t]  # (R, m, k)
        AtA = np.einsum("rmi,rmj->rij", A, A)
        Aty = np.einsum("rmi,rm->ri", A, y[..., t])
        try:
            inv = np.linalg.inv(AtA)
        except np.linalg.LinAlgError:
            raise DataValidationError(
                "the ANCOVA's design is singular in an imputed data set (a resample without "
                "one level of a covariate?)",
                rule="singular analysis model",
            ) from None
        b = np.einsum("rij,rj->ri", inv, Aty)
        resid = y[..., t] - np.einsum("rmi,ri->rm", A, b)
        s2 = (resid**2).sum(axis=1) / df
        V = inv * s2[:, None, None]
        out["trt"][:, t] = b[:, g]
        out["trt_se"][:, t] = np.sqrt(V[:, g, g])
        mean = A.mean(axis=1)
        for name, level in (("lsm_ref", 0.0), ("lsm_alt", 1.0)):
            d = mean.copy()
            d[:, g] = level
            out[name][:, t] = np.einsum("ri,ri->r", d, b)
            out[f"{name}_se"][:, t] = np.sqrt(np.einsum("ri,rij,rj->r", d, V, d))
    out["df"] = np.full(R, float(df))
    return out


def _normal(est: float, se: float, level: float) -> dict[str, float]:
    z = float(st.norm.ppf(1 - (1 - level) / 2))
    return {
        "est": est,
        "se": se,
        "lci": est - z * se,
        "uci": est + z * se,
        "pval": float(2 * min(st.norm.cdf(est / se), st.norm.sf(est / se))),
    }


def _t(est: float, se: float, df: float, level: float) -> dict[str, float]:
    q = float(st.t.ppf(1 - (1 - level) / 2, df))
    return {
        "est": est,
        "se": se,
        "lci": est - q * se,
        "uci": est + q * se,
        "pval": float(2 * min(st.t.cdf(est / se, df), st.t.sf(est / se, df))),
        "df": df,
    }


def pool_jackknife(est: np.ndarray, level: float = 0.95) -> dict[str, float]:
    """``est[0]`` from the full data, ``est[1:]`` the leave-one-out estimates."""
    jack = est[1:]
    n = len(jack)
    se = float(np.sqrt((n - 1) / n * ((jack - jack.mean()) ** 2).sum()))
    return _normal(float(est[0]), se, level)


def quantile6(x: np.ndarray, p: float) -> float:
    """R's ``quantile(x, p, type = 6)``.

    >>> quantile6(np.array([3.0, 1.0, 2.0, 4.0]), 0.25)
    1.25
    """
    x = np.sort(x)
    n = len(x)
    h = (n + 1) * p
    j = int(np.floor(h))
    if j < 1:
        return float(x[0])
    if j >= n:
        return float(x[-1])
    return float(x[j - 1] + (h - j) * (x[j] - x[j - 1]))


def _percentile_p(x: np.ndarray) -> float:
    """rbmi's ``pval_percentile``, two-sided: the level at which the type-6 quantile function
    crosses 0 (solved exactly where rbmi calls uniroot)."""
    x = np.sort(x)
    n = len(x)
    if (x == 0).all():
        return 1.0
    if x.min() > 0 or x.max() < 0:
        return 0.0
    if (x == 0).any():
        rank = np.arange(1, n + 1) / (n + 1)
        greater, less = rank[x == 0].min(), 1 - rank[x == 0].max()
    else:
        j = int(np.searchsorted(x, 0.0))  # x[j-1] < 0 < x[j]
        h = j + (0.0 - x[j - 1]) / (x[j] - x[j - 1])
        greater = h / (n + 1)
        less = 1 - greater
    return float(min(min(greater, less) * 2, 1.0))


def pool_bootstrap(est: np.ndarray, level: float = 0.95, kind: str = "percentile"):
    """``est[0]`` from the original data, ``est[1:]`` the bootstrap estimates."""
    boot = est[1:]
    if kind == "normal":
        return _normal(float(est[0]), float(np.std(boot, ddof=1)), level)
    a = 1 - level
    return {
        "est": float(est[0]),
        "se": float("nan"),
        "lci": quantile6(boot, a / 2),
        "uci": quantile6(boot, 1 - a / 2),
        "pval": _percentile_p(boot),
    }


def pool_bmlmi(est: np.ndarray, D: int, level: float = 0.95) -> dict[str, float]:
    """von Hippel and Bartlett (2021): ``est`` (B * D,) with each bootstrap's D imputations
    together (rbmi's ``get_ests_bmlmi``)."""
    B = len(est) // D
    e = est.reshape(B, D)
    point = float(e.mean())
    row = e.mean(axis=1)
    msw = float(((e - row[:, None]) ** 2).sum() / (B * (D - 1)))
    msb = float(D * ((row - point) ** 2).sum() / (B - 1))
    var = (1 + 1 / B) * (msb - msw) / D + msw / (B * D)
    df = var**2 / (((B + 1) / (B * D)) ** 2 * msb**2 / (B - 1) + msw**2 / (B * D**2 * (D - 1)))
    return _t(point, float(np.sqrt(var)), max(3.0, float(df)), level)


def pool_rubin(est: np.ndarray, se: np.ndarray, v_com: float, level: float = 0.95):
    """Rubin's rules with Barnard and Rubin's (1999) df (rbmi's ``rubin_rules``)."""
    M = len(est)
    point = float(est.mean())
    var_w = float((se**2).mean())
    var_b = float(np.var(est, ddof=1))
    var_t = var_w + var_b + var_b / M
    lam = (1 + 1 / M) * var_b / var_t
    v_obs = (v_com + 1) / (v_com + 3) * v_com * (1 - lam)
    if lam != 0:
        v_old = (M - 1) / lam**2
        df = v_old * v_obs / (v_old + v_obs)
    else:
        df = v_obs
    return _t(point, float(np.sqrt(var_t)), float(df), level)
