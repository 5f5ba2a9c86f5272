"""Constructive calibration of the synthetic UWS and SWS flow rates (10 patients x 5 visits).

The demo data are **synthetic**. For complete, balanced data the prespecified model (REML,
participant random intercept, visit fixed, containment df) is the two-way ANOVA whenever
the subject variance is positive:

* LS mean of visit j = mean of visit j; SE = sqrt((s2u + s2) / 10);
* difference from day 0 = difference of visit means; SE = sqrt(2 s2 / 10); df = 36.

So the search is done in closed form, in three steps:

1. **continuous construction** -- baselines ``b_i`` and ratios ``R_ij = y_ij / b_i`` are
   fitted by least squares so that every printed number of the flow row, the 1-month text
   and the percent-change row (AVAL = 100 (R - 1), baseline 0) lies well inside its
   rounding interval, with the responder pattern (> 30 % at day 120) built into the start
   and held by hinge penalties;
2. **rounding** to the collection grid (0.001 mL/min UWS, 0.002 mL/min SWS);
3. **integer repair** -- greedy single-cell and paired moves of one grid unit, whose
   objective is the distance to the rounding intervals (with a small safety margin).

The tests re-check every number with :func:`xerotrial.stats.model.fit`.

>>> s = closed_form(np.array([[1.0, 2.0], [2.0, 2.5], [3.0, 4.5]]))
>>> s["mean"].tolist(), round(float(s["se_d"]), 4), s["df"]
([2.0, 3.0], 0.2887, 2)
"""

from __future__ import annotations

import math
from functools import cache

import numpy as np
from scipy import optimize, special, stats

from xerotrial.demo.targets import PAPER_INCONSISTENCIES, RESPONDERS, TABLE3, TEXT_1_MONTH, decimals

from .calibrate import balanced_components

__all__ = [
    "VISITS",
    "GRID",
    "LOW_UWS",
    "closed_form",
    "items",
    "badness",
    "calibrate_flow",
    "flow_data",
]

VISITS = ("day0", "day1", "day5", "day30", "day120")
#: Grid of the flow rate (mL/min): 0.01 g over 10 min (UWS), 0.01 g over 5 min (SWS).
GRID = {"uws_ml_min": 0.001, "sws_ml_min": 0.002}
#: P05 and P10 (0-based rows 4 and 9): baseline UWS 0.05 mL/min and no response (paper).
LOW_UWS = (4, 9)
#: Subjects P01..P05 got CS5, P06..P10 CS10 (no difference between them, P > .5).
COHORT = np.array([0] * 5 + [1] * 5)
_T36 = float(stats.t.ppf(0.975, 36))


def closed_form(y: np.ndarray) -> dict:
    """Balanced random-intercept REML (= ANOVA) results of ``y`` (subjects x visits)."""
    n, t = y.shape
    cm, s2, s2u, df = balanced_components(y)
    se_m = math.sqrt(max(s2u + s2, 0.0) / n)
    se_d = math.sqrt(2 * s2 / n)
    tc = _T36 if df == 36 else float(stats.t.ppf(0.975, df))
    d = cm - cm[0]
    with np.errstate(divide="ignore"):
        p = 2 * special.stdtr(df, -np.abs(d) / se_d) if se_d > 0 else np.zeros(t)
    return {
        "mean": cm,
        "se": se_m,
        "se_d": se_d,
        "diff": d,
        "lower": d - tc * se_d,
        "upper": d + tc * se_d,
        "p": p,
        "s2u": s2u,
        "df": df,
    }


def items(paramcd: str) -> list[tuple[str, int, tuple[str, ...]]]:
    """Printed targets of a row (and the 1-month text): (statistic, visit index, printed)."""
    row = TABLE3[paramcd]
    skip = {f for (c, f) in PAPER_INCONSISTENCIES if c == paramcd}
    out = [
        ("mean", 0, (row.baseline.estimate,)),
        ("se", 0, (row.baseline.se,)),
        ("mean", 4, (row.follow_up.estimate,)),
        ("se", 4, (row.follow_up.se,)),
        ("diff", 4, (row.difference,)),
        ("lower", 4, (row.lower,)),
        ("upper", 4, (row.upper,)),
        ("p", 4, (row.p, *row.p_alt)),
    ]
    out = [x for x in out if {"diff": "difference"}.get(x[0], x[0]) not in skip]
    for k, v in TEXT_1_MONTH.get(paramcd, {}).items():
        out.append(({"estimate": "mean", "difference": "diff"}.get(k, k), 3, (v,)))
    return out


def _value(s: dict, stat: str, j: int) -> float:
    v = s[stat]
    return float(v if np.ndim(v) == 0 else v[j])


def badness(s: dict, its, inner: float = 0.95, p_rel: float = 0.25) -> float:
    """Distance of the closed-form results ``s`` from the rounding intervals of ``its``.

    ``inner`` shrinks each half-unit interval (a safety margin); a p-value must lie within
    ``p_rel`` (relative) of one printed p. 0 when all are met.
    """
    tot = 0.0
    for stat, j, printed in its:
        v = _value(s, stat, j)
        if stat == "p":
            tot += min(max(0.0, abs(v - float(q)) / (p_rel * float(q)) - 1) for q in printed)
            continue
        w = 0.5 * 10.0 ** -decimals(printed[0])
        tot += max(0.0, abs(v - float(printed[0])) - inner * w) / w
    if s["s2u"] <= 0:
        tot += 1.0
    return tot


def _pct(y: np.ndarray) -> np.ndarray:
    return 100.0 * (y / y[:, :1] - 1.0)


def _interaction_p(y: np.ndarray) -> float:
    n, t = y.shape

    def sse(a: np.ndarray) -> float:
        r = a - a.mean(1)[:, None] - a.mean(0)[None, :] + a.mean()
        return float((r**2).sum())

    s1 = sse(y)
    s2 = sum(sse(y[np.equal(COHORT, g)]) for g in (0, 1))
    f = ((s1 - s2) / (t - 1)) / (s2 / ((n - 2) * (t - 1)))
    return float(special.fdtrc(t - 1, (n - 2) * (t - 1), f))


def _extras(y: np.ndarray, paramcd: str, responders: np.ndarray) -> float:
    """Responder pattern (> 30 % at day 120), non-response of P05/P10, cohort p > .5."""
    r4 = _pct(y)[:, 4]
    tot = (
        float(np.maximum(0, 31 - r4[responders]).sum() + np.maximum(0, r4[~responders] - 29).sum())
        / 10
    )
    tot += max(0.0, 0.55 - _interaction_p(y)) * 5
    return tot


def total_badness(
    y: np.ndarray, paramcd: str, responders: np.ndarray, stretch: bool = True, inner: float = 0.95
) -> float:
    """All targets of ``paramcd`` for flow matrix ``y`` (mL/min), closed form."""
    b = badness(closed_form(y), items(paramcd), inner)
    if stretch:
        b += badness(closed_form(_pct(y)), items(paramcd.replace("_ml_min", "_pct_change")), inner)
        b += _extras(y, paramcd, responders)
    return b


def _responders(paramcd: str) -> np.ndarray:
    k = RESPONDERS[paramcd]
    cand = [i for i in range(10) if paramcd != "uws_ml_min" or i not in LOW_UWS]
    resp = np.zeros(10, bool)
    resp[cand[:: max(1, len(cand) // k)][:k]] = True
    return resp


def _continuous(paramcd: str, rng: np.random.Generator, resp: np.ndarray) -> np.ndarray:
    """Step 1: least-squares construction of a continuous flow matrix."""
    uws = paramcd == "uws_ml_min"
    row = TABLE3[paramcd]
    pct_items = items(paramcd.replace("_ml_min", "_pct_change"))
    flow_items = items(paramcd)
    b0 = float(row.baseline.estimate)
    sd0 = float(row.baseline.se) * math.sqrt(10) * 0.9
    fixed = np.zeros(10, bool)
    base = np.abs(rng.normal(b0, sd0, 10)) + b0 * 0.3
    if uws:
        fixed[list(LOW_UWS)] = True
        base[list(LOW_UWS)] = 0.05
    pct_end = float(TABLE3[paramcd.replace("_ml_min", "_pct_change")].difference)
    g4 = np.where(resp, 0.3 + 2.2 * pct_end / 100, 0.05 + rng.uniform(0, 0.15, 10))
    shape = np.array([0.15, 0.3, 0.65, 1.0])
    ratio = 1 + g4[:, None] * shape[None, :] + rng.normal(0, 0.05, (10, 4))
    x0 = np.r_[np.log(base[~fixed]), ratio.ravel()]

    def build(x: np.ndarray) -> np.ndarray:
        b = base.copy()
        b[~fixed] = np.exp(x[: (~fixed).sum()])
        r = x[(~fixed).sum() :].reshape(10, 4)
        return b[:, None] * np.c_[np.ones(10), r]

    def resid(x: np.ndarray) -> np.ndarray:
        y = build(x)
        out = []
        for its, s in ((flow_items, closed_form(y)), (pct_items, closed_form(_pct(y)))):
            for stat, j, printed in its:
                v = _value(s, stat, j)
                if stat == "p":
                    out.append(
                        max(0.0, abs(math.log(max(v, 1e-12) / float(printed[0]))) - math.log(1.12))
                        * 5
                    )
                    continue
                w = 0.5 * 10.0 ** -decimals(printed[0])
                out.append(max(0.0, abs(v - float(printed[0])) - 0.4 * w) / w)
            out.append(max(0.0, -s["s2u"]) * 100)
        r4 = _pct(y)[:, 4]
        out.extend(np.maximum(0, 36 - r4[resp]) / 5)
        out.extend(np.maximum(0, r4[~resp] - 24) / 5)
        out.extend(np.maximum(0, 0.3 - x[(~fixed).sum() :]) * 10)
        out.append(max(0.0, 0.7 - _interaction_p(y)))
        out.extend(0.02 * (x - x0))  # stay near the seeded start (responder pattern, shape)
        return np.asarray(out, float)

    sol = optimize.least_squares(resid, x0, method="trf", max_nfev=4000, diff_step=1e-6)
    return build(sol.x)


def _repair(
    u: np.ndarray,
    step: float,
    fixed: np.ndarray,
    paramcd: str,
    resp: np.ndarray,
    stretch: bool,
    rng: np.random.Generator,
    max_iter: int = 3000,
) -> tuple[np.ndarray, float]:
    """Step 3: greedy integer moves (single cells, pairs in a visit) to badness 0."""

    def f(v: np.ndarray) -> float:
        return total_badness(v * step, paramcd, resp, stretch)

    cur, fc = u.copy(), f(u)
    free = [tuple(c) for c in np.argwhere(~fixed)]
    for _ in range(max_iter):
        if fc == 0.0:
            break
        best, fb = None, fc
        for idx in free:
            for k in (-1, 1):
                v = cur.copy()
                v[idx] += k
                fv = f(v)
                if fv < fb:
                    best, fb = v, fv
        if best is None:  # plateau: a random paired move (keeps the visit mean)
            for _ in range(200):
                a, b = free[rng.integers(len(free))], free[rng.integers(len(free))]
                if a == b or a[1] != b[1] and rng.random() < 0.5:
                    continue
                v = cur.copy()
                v[a] += 1
                v[b] -= 1
                fv = f(v)
                if fv < fb or rng.random() < 0.05:
                    best, fb = v, fv
                    break
            if best is None:
                break
        cur, fc = best, fb
    return cur, fc


def calibrate_flow(
    paramcd: str, seed: int = 2022, stretch: bool = True, tries: int = 8
) -> np.ndarray:
    """Flow rates (mL/min, on the collection grid) of ``paramcd``, 10 subjects x 5 visits.

    With ``stretch`` the percent-change row, the responder counts, P05/P10 (baseline UWS
    0.05, no response) and the cohort p > .5 are met too.
    """
    step = GRID[paramcd]
    rng = np.random.default_rng(seed)
    resp = _responders(paramcd)
    fixed = np.zeros((10, 5), bool)
    if paramcd == "uws_ml_min":
        fixed[list(LOW_UWS), 0] = True
    best, fbest = None, math.inf
    for _ in range(tries):
        y = _continuous(paramcd, rng, resp)
        u = np.maximum(np.rint(y / step), 1).astype(np.int64)
        if paramcd == "uws_ml_min":
            u[list(LOW_UWS), 0] = round(0.05 / step)
        u, f = _repair(u, step, fixed, paramcd, resp, stretch, rng)
        if f < fbest:
            best, fbest = u, f
        if f == 0.0:
            break
    assert best is not None
    return np.round(best * step, 6)


def flow_data(paramcd: str, seed: int = 2022) -> np.ndarray:
    """Cached :func:`calibrate_flow` (read-only array): one calibration per row and seed
    however it is asked for (``flow_data(p)`` and ``flow_data(p, 2022)`` share it)."""
    return _flow_data(paramcd, seed)


@cache
def _flow_data(paramcd: str, seed: int) -> np.ndarray:
    y = calibrate_flow(paramcd, seed)
    y.setflags(write=False)
    return y
