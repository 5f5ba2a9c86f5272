"""Internal consistency of the engine: analytic derivatives against finite differences, and
boundary estimates reported rather than hidden."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from xerotrial.stats.covariance import STRUCTURES, Spatial
from xerotrial.stats.errors import ConvergenceWarning
from xerotrial.stats.model import fit


def _theta(kinds, rng):
    out = []
    for k in kinds:
        out.append(
            rng.uniform(1, 3)
            if k in ("var", "range")
            else rng.uniform(0.2, 0.8)
            if k == "unit"
            else rng.uniform(1, 3)
            if k == "var"
            else rng.uniform(-0.4, 0.4)
            if k == "corr"
            else rng.uniform(-0.3, 0.3)
        )
    return np.array(out)


@pytest.mark.parametrize("name", sorted(STRUCTURES))
def test_structure_derivatives_match_finite_differences(name):
    s = STRUCTURES[name]
    t, h = 4, 1e-6
    rng = np.random.default_rng(1)
    theta = _theta(s.kinds(t), rng)
    k = len(theta)
    eye = np.eye(k)
    if isinstance(s, Spatial):  # over the distances of 4 points in the plane, 0 among them
        pts = rng.uniform(0, 3, size=(t, 2))
        D = np.sqrt(((pts[:, None] - pts[None]) ** 2).sum(-1))
        matrix, jacobian, hessian = (
            (lambda th, _, f=f: f(th, D)) for f in (s.matrix_d, s.jacobian_d, s.hessian_d)
        )
    else:
        matrix, jacobian, hessian = s.matrix, s.jacobian, s.hessian
    num_j = np.stack([(matrix(theta + h * e, t) - matrix(theta - h * e, t)) / (2 * h) for e in eye])
    np.testing.assert_allclose(jacobian(theta, t), num_j, atol=1e-8)
    num_h = np.stack(
        [
            (jacobian(theta + h * eye[i], t) - jacobian(theta - h * eye[i], t)) / (2 * h)
            for i in range(k)
        ]
    )
    analytic = hessian(theta, t)
    np.testing.assert_allclose(0 if analytic is None else analytic, num_h, atol=1e-7)
    assert s.linear == (analytic is None)


def _example(seed=3, n=15):
    rng = np.random.default_rng(seed)
    d = pd.DataFrame({"id": np.repeat(np.arange(n), 4), "visit": np.tile(list("abcd"), n)})
    d["y"] = rng.normal(size=n)[d["id"]] + rng.normal(size=4 * n) + (d["visit"] == "d")
    return d.drop(index=[i for i in (3, 10, 21) if i < len(d)]).reset_index(drop=True)


@pytest.mark.parametrize("cov", ["un", "ar1", "csh", "adh", "random-intercept"])
@pytest.mark.parametrize("method", ["REML", "ML"])
def test_gradient_and_hessian_match_finite_differences(cov, method):
    res = fit(_example(), "y ~ visit", subject="id", time="visit", covariance=cov, method=method)
    eng = res.engine
    theta = res.theta * 1.05 + 0.01
    ev = eng.evaluate(theta, order=2)
    k, h = len(theta), 1e-5
    eye = np.eye(k)
    g = np.array(
        [
            (
                eng.evaluate(theta + h * eye[i]).objective
                - eng.evaluate(theta - h * eye[i]).objective
            )
            / (2 * h)
            for i in range(k)
        ]
    )
    np.testing.assert_allclose(ev.gradient, g, rtol=1e-5, atol=1e-6)
    H = np.array(
        [
            (
                eng.evaluate(theta + h * eye[i], 1).gradient
                - eng.evaluate(theta - h * eye[i], 1).gradient
            )
            / (2 * h)
            for i in range(k)
        ]
    )
    np.testing.assert_allclose(ev.hessian, H, rtol=1e-5, atol=1e-5)


def test_zero_random_intercept_variance_is_reported_as_boundary():
    rng = np.random.default_rng(5)
    n = 12
    d = pd.DataFrame({"id": np.repeat(np.arange(n), 4), "visit": np.tile(list("abcd"), n)})
    e = rng.normal(size=(n, 4))
    d["y"] = (e - e.mean(axis=1, keepdims=True)).ravel()  # no between-subject variation
    with pytest.warns(ConvergenceWarning, match="boundary"):
        res = fit(d, "y ~ visit", subject="id", time="visit", covariance="random-intercept")
    cp = res.covariance_parameters()
    assert cp.loc[0, "estimate"] == 0.0 and bool(cp.loc[0, "boundary"])
    assert res.to_dict()["boundary"] == ["Intercept"]
    # with G = 0 the fit is ordinary least squares
    ols_sigma2 = np.sum((d["y"] - d.groupby("visit")["y"].transform("mean")) ** 2) / (4 * n - 4)
    assert res.theta[1] == pytest.approx(ols_sigma2, rel=1e-8)


def test_nonconvergence_is_warned_not_hidden():
    d = _example(n=4)  # 10 UN parameters from 4 subjects with gaps: no interior optimum
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        res = fit(d, "y ~ visit", subject="id", time="visit", covariance="un")
    assert res.converged is False
    assert res.to_dict()["converged"] is False


@pytest.mark.parametrize(
    "name, groups, method",
    [("un", 1, "REML"), ("ar1", 1, "REML"), ("csh", 2, "REML"), ("toeph", 1, "ML"),
     ("sp-gau", 1, "REML"), ("sp-exp", 2, "ML"), ("arh1", 2, "REML")],
)  # fmt: skip
def test_time_level_sums_equal_the_pattern_contractions(name, groups, method):
    """One data set on an R-side structure takes the engine's time-level path: its gradient,
    Hessians and X'V^-1 V_k V^-1 X equal the general per-pattern contractions at any theta."""
    from xerotrial.stats.marginal import RepeatedCovariance, SpatialCovariance
    from xerotrial.stats.patterns import build_layout
    from xerotrial.stats.reml import RemlEngine

    rng = np.random.default_rng(7)
    S, t = 40, 5
    subject, slot = np.repeat(np.arange(S), t), np.tile(np.arange(t), S)
    X = np.column_stack([np.ones(S * t), rng.normal(size=S * t), slot == 2])
    y = X @ [1.0, 0.5, -1.0] + rng.normal(size=S * t)
    y[rng.random(S * t) < 0.3] = np.nan  # many missingness patterns
    group = subject % groups
    labels = [f"g{g}" for g in range(groups)]
    if name.startswith("sp-"):
        cov = SpatialCovariance(name, np.array([[0.0], [1.0], [2.5], [4.0], [7.0]]), labels)
    else:
        cov = RepeatedCovariance(name, t, labels)
    lay = build_layout(y, X, subject, slot, group)
    fast = RemlEngine(lay, cov, method)
    general = RemlEngine(build_layout(y, X, subject, slot, group), cov, method)
    general._by_time = False
    assert fast._by_time and len(lay.groups) == t
    theta = _theta(cov.kinds, rng)
    a, b = fast.evaluate(theta, order=2), general.evaluate(theta, order=2)
    for field in ("objective", "beta", "gradient", "hessian", "expected", "B"):
        np.testing.assert_allclose(getattr(a, field), getattr(b, field), rtol=1e-11, atol=1e-11)
    np.testing.assert_allclose(fast.evaluate(theta, order=1).gradient, b.gradient, rtol=1e-11)
    W = rng.normal(size=(1, fast.K, fast.K))
    for x, y in zip(fast.kr_sums(theta, W, True), general.kr_sums(theta, W, True), strict=True):
        np.testing.assert_allclose(x, y, rtol=1e-11, atol=1e-11)
    for x, y in zip(fast.gram().values(), general.gram().values(), strict=True):
        np.testing.assert_allclose(x, y, rtol=1e-12, atol=1e-12)
    for key, value in general.moments().items():
        np.testing.assert_allclose(fast.moments()[key], value, rtol=1e-12, atol=1e-12)
    assert all(g.xx is None for g in lay.groups)  # the subjects' rows did it all
