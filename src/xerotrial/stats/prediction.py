"""Predictions and residuals of a fitted R-side model, as SAS PROC MIXED's OUTPM= and OUTP=.

Marginal predictions (OUTPM=) are x'b, with the SE, df and interval of the estimable
function x'b (``inference.t_tests``: Satterthwaite and Kenward-Roger per row; the fixed-df
methods give N - rank(X), as SAS does for predicted values).

Conditional predictions (OUTP=) of a row whose response is missing use the subject's
observed values (SAS and mmrm ``predict``): with S the subject's covariance,

    mu_m = x_m'b + S_mo S_oo^-1 (y_o - X_o b),
    var  = z'Phi z + S_mm - S_mo S_oo^-1 S_om,   z = x_m - X_o' S_oo^-1 S_om,

Phi being the covariance of b the tests use (Kenward-Roger's adjusted one with ``df_method``
kenward-roger, the sandwich with an empirical ``vcov``). Without random effects, an observed
row's conditional prediction is its marginal one (SAS). Its interval is mu +- z_(1+level)/2
sqrt(var), normal as in mmrm.

Simulation (mmrm ``simulate``): responses for the rows of ``data`` (default: the fitted
rows) from N(X b, S_i) per subject, at the estimates (``conditional``), or (``marginal``)
with theta drawn from N(theta, its asymptotic covariance) and b from N(b(theta),
Phi(theta)) for each sample first.

Residuals (SAS's OUTPM= columns) of the observed rows: ``raw`` y - x'b, ``pearson`` raw /
sqrt(Var y), ``scaled`` C_i^-1 r_i with V_i = C_i C_i' (Cholesky, in time order: nlme's and
mmrm's "normalized"), ``studentized`` raw / sqrt(diag(V_i - X_i Phi X_i')), and
``scaled_dependent`` C_i^-1 y_i. With weights, Var y_ij = R_jj / w_ij.

Example
-------
>>> import numpy as np, pandas as pd
>>> from xerotrial.stats.model import fit
>>> rng = np.random.default_rng(1)
>>> d = pd.DataFrame({"id": np.repeat(np.arange(8), 3), "t": np.tile(["a", "b", "c"], 8)})
>>> d["y"] = rng.normal(size=8)[d["id"]] + rng.normal(size=24)
>>> d.loc[2, "y"] = np.nan
>>> res = fit(d, "y ~ t", "id", "t", "cs")
>>> p = res.predict(d, df_method="satterthwaite")
>>> observed, missing = p.loc[1], p.loc[2]
>>> bool(observed["conditional"] == observed["marginal"]), bool(missing["conditional_se"] > 0)
(True, True)
>>> r = res.residuals()
>>> sorted(r.columns)[:3]
['pearson', 'raw', 'scaled']
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import special

from .errors import DataValidationError
from .marginal import RepeatedCovariance, SpatialCovariance
from .subject_blocks import subject_blocks

__all__ = ["predict", "residuals", "simulate"]


def _check_r_side(result) -> None:
    if not isinstance(result.cov, RepeatedCovariance):
        raise DataValidationError(
            "predictions and residuals conditional on a subject's values are implemented for "
            "R-side structures (un, cs, ar1, ..., sp-exp); this is a random-effects model"
        )


def _points(result, frame: pd.DataFrame | None) -> np.ndarray:
    """Each row's position for the covariance: its time level's index (R-side) or its
    coordinates (spatial), for the rows of ``frame`` (None: the fitted rows)."""
    d = result.design
    if isinstance(result.cov, SpatialCovariance):
        if frame is None:
            return result.cov.points[d.time]
        return frame[d.coordinate_names].to_numpy(dtype=float)
    if frame is None:
        return d.time.astype(float)[:, None]
    lookup = {lv: i for i, lv in enumerate(d.time_levels)}
    values = frame[result.time].astype(str).to_numpy()
    unknown = sorted({v for v in values if v not in lookup})
    if unknown:
        raise DataValidationError(
            f"column {result.time!r} has level(s) {unknown} the fit does not know; it knows "
            f"{d.time_levels}"
        )
    return np.array([lookup[v] for v in values], dtype=float)[:, None]


def _covariance(result, a: np.ndarray, b: np.ndarray, group: int) -> np.ndarray:
    """The residual covariance (model scale, before weights) between points ``a`` (m, k)
    and ``b`` (n, k) of one covariance group."""
    cov = result.cov
    theta = result.theta[group * cov.k : (group + 1) * cov.k]
    if isinstance(cov, SpatialCovariance):
        D = np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(axis=-1))
        return cov.structure.matrix_d(theta, D)
    full = cov.full_matrix(result.theta, group)
    return full[np.ix_(a[:, 0].astype(int), b[:, 0].astype(int))]


def _phi(result, df_method: str) -> np.ndarray:
    """The covariance of b that predictions use: as the tests with ``df_method`` do."""
    est = result.fits.estimates
    if est.empirical is not None:
        return est.empirical_Phi()[0]
    if df_method in ("kenward-roger", "kenward-roger-linear"):
        return est.phi_adjusted(df_method == "kenward-roger-linear")[0]
    return result.Phi


def predict(
    result, data: pd.DataFrame | None = None, df_method: str = "kenward-roger", level=0.95
) -> pd.DataFrame:
    """Marginal and conditional predictions of each row of ``data`` (default: the rows
    fitted), one output row per input row, in order (see the module docstring)."""
    _check_r_side(result)
    d = result.design
    frame = d.data if data is None else data
    X = d.model_matrix(frame) if data is not None else d.X
    marginal = result.t_table(X, df_method)
    if df_method in ("residual", "containment", "between-within"):  # SAS: N - rank(X)
        marginal = _residual_df(marginal, len(d.y) - X.shape[1], level)
    out = pd.DataFrame(
        {
            "marginal": marginal["estimate"].to_numpy(),
            "marginal_se": marginal["se"].to_numpy(),
            "marginal_df": marginal["df"].to_numpy(),
            "marginal_lower": marginal["lower"].to_numpy(),
            "marginal_upper": marginal["upper"].to_numpy(),
        },
        index=frame.index,
    )
    cond = out["marginal"].to_numpy().copy()
    cond_se = out["marginal_se"].to_numpy().copy()
    if data is not None:
        _condition(result, frame, X, _phi(result, df_method), cond, cond_se)
    q = special.ndtri(0.5 + level / 2.0)
    out["conditional"] = cond
    out["conditional_se"] = cond_se
    out["conditional_lower"] = cond - q * cond_se
    out["conditional_upper"] = cond + q * cond_se
    return out


def _residual_df(table: pd.DataFrame, df: int, level: float) -> pd.DataFrame:
    q = special.stdtrit(df, 0.5 + level / 2.0)
    return table.assign(
        df=float(df),
        lower=table["estimate"] - q * table["se"],
        upper=table["estimate"] + q * table["se"],
    )


def _condition(result, frame, X, Phi, cond, cond_se) -> None:
    """Replace, in place, the predictions of the rows whose response is missing by their
    conditional ones given their subject's observed rows."""
    d = result.design
    response = d.response
    y_new = (
        pd.to_numeric(frame[response], errors="coerce").to_numpy(dtype=float)
        if response in frame
        else np.full(len(frame), np.nan)
    )
    subjects = {v: i for i, v in enumerate(d.subject_levels)}
    codes = np.array([subjects.get(v, -1) for v in frame[result.subject].to_numpy()])
    points = _points(result, frame)
    fitted_points = _points(result, None)
    w_new = _weights(result, frame)
    resid = d.y - d.X @ result.beta
    groups = _groups(result, frame)
    alone = np.flatnonzero(np.isnan(y_new) & (codes < 0))  # no observed value to condition on
    for m in np.split(alone, np.flatnonzero(np.diff(groups[alone]) != 0) + 1) if len(alone) else []:
        root = 1.0 / np.sqrt(w_new[m])
        S_mm = np.diag(_covariance(result, points[m], points[m], int(groups[m[0]]))) * root**2
        var = np.einsum("ij,jk,ik->i", X[m], Phi, X[m]) + S_mm
        cond_se[m] = np.sqrt(var)
    for s in np.unique(codes[np.isnan(y_new) & (codes >= 0)]):
        m = np.flatnonzero((codes == s) & np.isnan(y_new))
        o = np.flatnonzero(d.subject == s)
        g = 0 if d.group is None else int(d.group[o[0]])
        root_o = np.ones(len(o)) if d.weights is None else 1.0 / np.sqrt(d.weights[o])
        root_m = 1.0 / np.sqrt(w_new[m])
        S_oo = _covariance(result, fitted_points[o], fitted_points[o], g) * np.outer(root_o, root_o)
        S_mo = _covariance(result, points[m], fitted_points[o], g) * np.outer(root_m, root_o)
        S_mm = _covariance(result, points[m], points[m], g) * np.outer(root_m, root_m)
        K = np.linalg.solve(S_oo, S_mo.T).T  # S_mo S_oo^-1
        Z = X[m] - K @ d.X[o]
        cond[m] = X[m] @ result.beta + K @ resid[o]
        var = np.einsum("ij,jk,ik->i", Z, Phi, Z) + np.diag(S_mm - K @ S_mo.T)
        cond_se[m] = np.sqrt(np.clip(var, 0.0, None))


def _groups(result, frame) -> np.ndarray:
    """Each row's covariance group (0 without --group)."""
    d = result.design
    if d.group_levels is None:
        return np.zeros(len(frame), dtype=int)
    lookup = {lv: i for i, lv in enumerate(d.group_levels)}
    column = d.group_name
    values = frame[column].astype(str).to_numpy()
    unknown = sorted({v for v in values if v not in lookup})
    if unknown:
        raise DataValidationError(f"column {column!r} has group(s) {unknown} the fit does not know")
    return np.array([lookup[v] for v in values])


def _weights(result, frame) -> np.ndarray:
    w = result.design.weights
    if w is None:
        return np.ones(len(frame))
    column = result.design.weight_name
    if column not in frame:
        raise DataValidationError(f"the fit is weighted by {column!r}: the data need that column")
    return pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float)


def residuals(result) -> pd.DataFrame:
    """The residuals of each fitted row (design order): raw, pearson, scaled, studentized
    (with the model-based Phi, as SAS), scaled_dependent (see the module docstring)."""
    _check_r_side(result)
    d = result.design
    n = len(d.y)
    raw = d.y - d.X @ result.beta
    out = {k: np.empty(n) for k in ("pearson", "scaled", "studentized", "scaled_dependent")}
    Phi = result.Phi
    points = _points(result, None)
    order = np.lexsort((d.time, d.subject))
    starts = np.flatnonzero(np.r_[True, np.diff(d.subject[order]) != 0])
    for rows in np.split(order, starts[1:]):
        g = 0 if d.group is None else int(d.group[rows[0]])
        root = np.ones(len(rows)) if d.weights is None else 1.0 / np.sqrt(d.weights[rows])
        V = _covariance(result, points[rows], points[rows], g) * np.outer(root, root)
        C = np.linalg.cholesky(V)
        out["pearson"][rows] = raw[rows] / np.sqrt(np.diag(V))
        out["scaled"][rows] = np.linalg.solve(C, raw[rows])
        out["scaled_dependent"][rows] = np.linalg.solve(C, d.y[rows])
        Xr = d.X[rows]
        out["studentized"][rows] = raw[rows] / np.sqrt(np.diag(V - Xr @ Phi @ Xr.T))
    return pd.DataFrame({"raw": raw, **out})


def simulate(
    result,
    n: int = 1,
    data: pd.DataFrame | None = None,
    method: str = "conditional",
    seed: int | None = None,
) -> np.ndarray:
    """``n`` simulated response vectors (n, rows) for the rows of ``data`` (default: the
    fitted rows), by ``method`` (see the module docstring); ``seed`` makes them repeatable."""
    _check_r_side(result)
    if method not in ("conditional", "marginal"):
        raise DataValidationError(f"method {method!r} is not 'conditional' or 'marginal'")
    d = result.design
    frame = d.data if data is None else data
    X = d.X if data is None else d.model_matrix(frame)
    cov, slots = _layout(result, None if data is None else frame)
    groups = d.group if data is None and d.group is not None else _groups(result, frame)
    weights = d.weights if data is None and d.weights is not None else _weights(result, frame)
    codes = d.subject if data is None else pd.factorize(frame[result.subject])[0]
    rng = np.random.default_rng(seed)
    out = np.empty((n, len(frame)))

    def draw(into: np.ndarray, theta: np.ndarray, beta: np.ndarray) -> None:
        mean = X @ beta
        for block in subject_blocks(cov, theta, codes, slots, groups):
            root = 1.0 / np.sqrt(weights[block.rows])
            L = np.linalg.cholesky(block.V * root[:, :, None] * root[:, None, :])
            z = rng.standard_normal((len(into), *block.rows.shape))
            into[:, block.rows] = mean[block.rows] + np.einsum("sij,nsj->nsi", L, z)

    if method == "conditional":
        draw(out, result.theta, result.beta)
    else:
        for i in range(n):
            draw(out[i : i + 1], *_draw_parameters(result, rng))
    return out


def _layout(result, frame):
    """The covariance and each row's slot in it for simulating the rows of ``frame`` (None:
    the fitted rows); spatial: a covariance over the rows' own points."""
    cov = result.cov
    if not isinstance(cov, SpatialCovariance):
        return cov, _points(result, frame)[:, 0].astype(np.int64)
    points, slots = np.unique(_points(result, frame), axis=0, return_inverse=True)
    return SpatialCovariance(cov.structure, points, cov.groups), slots.reshape(-1)


def _draw_parameters(result, rng) -> tuple[np.ndarray, np.ndarray]:
    """theta from N(theta-hat, 2 H^-1) (redrawn until feasible), then b from N(b(theta),
    Phi(theta)) by one evaluation of the engine at that theta."""
    free = result.free
    C = result.theta_cov
    for _ in range(100):
        theta = result.theta.copy()
        theta[free] = rng.multivariate_normal(result.theta[free], C)
        ev = result.engine.evaluate(theta)
        if bool(ev.ok):
            return theta, rng.multivariate_normal(ev.beta, ev.Phi)
    raise DataValidationError(
        "100 draws of the covariance parameters from their asymptotic distribution gave no "
        "positive definite covariance: simulate with method='conditional'"
    )
