"""Synthetic per-gland salivary gland scintigraphy calibrated to Table 3's six scint rows.

The demo data are **synthetic**. Scintigraphy is done at baseline (``day0``) and 4 months
(``day120``) on four glands (left/right parotid, left/right submandibular) of 10 patients.
Per gland the uptake score is an integer 0-4 and the excretion fraction a percentage on a
0.1 % grid; :func:`xerotrial.trial.scintigraphy.derive_scintigraphy` averages them per
patient and visit over all glands, the parotids (PG) and the submandibulars (SMG), and each
of the six means is analysed with the prespecified 2-level visit model (REML, participant
random intercept, visit fixed, containment df = 9). With one value per patient and visit the
data are complete and balanced, so the closed forms of :mod:`.calibrate` apply in the search.

**Why some glands are not evaluable.** When every gland is scored, the "all glands" mean is
(PG + SMG) / 2, but Table 3 prints 1.7 vs (2.3 + 0.9) / 2 = 1.6 for uptake and 53.3 vs
(59.3 + 40.3) / 2 = 49.8 for excretion: the paper's "all glands" means weight the parotids
more, as happens when submandibular glands are missing. A patient with one SMG not evaluable
has all = (PG + SMG) / 2 + (PG - SMG) / 6. The design (:data:`NOT_EVALUABLE`):

* the right SMG of P01, P06 and P08 is not evaluable at both visits (both measures);
* the right SMG of P03 is not scored at 4 months (both measures) -- this shifts the change of
  "all glands" away from the mean of the PG and SMG changes (uptake: +0.05 vs 0);
* the left SMG of P05 and P10 shows no uptake (score 0), so its excretion fraction cannot be
  computed (excretion only).

The uptake scores are found by a seeded annealing search over integers in which every move
changes a gland at both visits alike, except for P03, whose scores are fixed by the design
(PG +0.5 and SMG -0.5 at 4 months, 4-month PG - SMG = 3; the only patient who changes, so
that all three uptake rows have SE of the change 0.05 and p = .34). The excretion fractions
are constructed as the flow rates are (:func:`calibrate_excretion`).

>>> rec = scintigraphy_records()  # doctest: +SKIP
>>> rec.shape, sorted(rec["visit"].unique())  # doctest: +SKIP
((73, 5), ['day0', 'day120'])
"""

from __future__ import annotations

import math
from functools import cache

import numpy as np
import pandas as pd
from scipy import optimize

from xerotrial.demo.targets import PAPER_INCONSISTENCIES, TABLE3, decimals

from .calibrate import Stats, anneal, balanced_stats, gland_means, greedy_repair, row_badness

__all__ = [
    "GLANDS",
    "VISITS",
    "NOT_EVALUABLE",
    "NO_UPTAKE",
    "scint_loss",
    "calibrate_uptake",
    "calibrate_excretion",
    "scintigraphy_records",
]

#: Glands, in this order on the last axis.
GLANDS = ("left_parotid", "right_parotid", "left_submandibular", "right_submandibular")
VISITS = ("day0", "day120")
#: (subject index, visit index, gland index) not evaluable for both measures.
NOT_EVALUABLE = tuple([(i, v, 3) for i in (0, 5, 7) for v in (0, 1)] + [(2, 1, 3)])
#: Glands without uptake (score 0): excretion fraction not computable (both visits).
NO_UPTAKE = tuple((i, v, 2) for i in (4, 9) for v in (0, 1))


def _mask(cells) -> np.ndarray:
    m = np.zeros((10, 2, 4), bool)
    for c in cells:
        m[c] = True
    return m


def scint_loss(values: np.ndarray, measure: str) -> float:
    """Sum of :func:`.calibrate.row_badness` of the three rows of ``measure`` (NaN = missing).

    >>> bool(scint_loss(np.ones((10, 2, 4)), "uptake") > 0)
    True
    """
    m = gland_means(values)
    return sum(
        row_badness(f"scint_{measure}_{k}", balanced_stats(m[k])) for k in ("all", "pg", "smg")
    )


def _p03_uptake() -> np.ndarray:
    """P03: PG 2.5 -> 3, SMG 0.5 -> 0 (right SMG not scored at 4 months)."""
    return np.array([[3, 2, 0, 1], [3, 3, 0, -1]])


def calibrate_uptake(seed: int = 2022, tries: int = 20) -> np.ndarray:
    """Uptake scores, 10 patients x 2 visits x 4 glands (float, NaN = not evaluable)."""
    rng = np.random.default_rng(seed)
    mask = _mask(NOT_EVALUABLE)
    fixed = np.zeros((10, 4), bool)
    fixed[2] = True
    for i, _, g in NO_UPTAKE:
        fixed[i, g] = True

    def build(b: np.ndarray) -> np.ndarray:
        u = np.repeat(b[:, None, :], 2, axis=1).astype(float)
        u[2] = _p03_uptake()
        return np.where(mask, np.nan, u)

    def loss(b: np.ndarray) -> float:
        return scint_loss(build(b), "uptake")

    free = np.argwhere(~fixed)

    def propose(b: np.ndarray, r: np.random.Generator) -> np.ndarray:
        out = b.copy()
        i, g = free[r.integers(len(free))]
        out[i, g] = min(max(out[i, g] + (1 if r.random() < 0.5 else -1), 0), 4)
        return out

    for _ in range(tries):
        b0 = np.c_[rng.integers(1, 5, (10, 2)), rng.integers(0, 3, (10, 2))]
        b0[fixed] = 0
        best, f = anneal(b0, loss, propose, rng, max_steps=20_000, temperature=0.5)
        if f == 0.0:
            return build(best)
    raise RuntimeError("calibration of the uptake scores did not converge")


def calibrate_excretion(seed: int = 2022, tries: int = 10) -> np.ndarray:
    """Excretion fractions (%), 10 patients x 2 visits x 4 glands (NaN = not evaluable).

    As for the flow rates (:mod:`.flow`): a seeded continuous least-squares construction
    puts every number well inside its rounding interval, the values are rounded to the
    0.1 % grid and repaired by greedy moves of 1 or 5 units of one gland and visit.
    """
    rng = np.random.default_rng(seed)
    mask = _mask(NOT_EVALUABLE + NO_UPTAKE)
    free = ~mask
    cells = [tuple(c) for c in np.argwhere(free)]
    pg0 = float(TABLE3["scint_excretion_pg"].baseline.estimate)
    smg0 = float(TABLE3["scint_excretion_smg"].baseline.estimate)
    sd = float(TABLE3["scint_excretion_all"].baseline.se) * math.sqrt(10)

    def build(x: np.ndarray) -> np.ndarray:
        y = np.full((10, 2, 4), np.nan)
        y[free] = x
        return y

    def resid_rows(y: np.ndarray) -> list[float]:
        m = gland_means(y)
        return [
            r
            for k in ("all", "pg", "smg")
            for r in _row_resid(f"scint_excretion_{k}", balanced_stats(m[k]))
        ]

    def f(u: np.ndarray) -> float:
        return scint_loss(u / 10.0, "excretion")

    for _ in range(tries):
        base = (
            np.array([pg0, pg0, smg0, smg0])[None, None, :]
            + rng.normal(0, sd * 0.8, (10, 1, 1))
            + rng.normal(0, sd * 0.4, (10, 1, 4))
        )
        x0 = np.clip((np.repeat(base, 2, axis=1) + rng.normal(0, 5, (10, 2, 4)))[free], 5, 95)

        def res(x: np.ndarray, x0: np.ndarray = x0) -> np.ndarray:
            return np.array(
                resid_rows(build(x))
                + list(np.maximum(0, 3 - x))
                + list(np.maximum(0, x - 97))
                + list(0.002 * (x - x0))
            )

        sol = optimize.least_squares(res, x0, method="trf", max_nfev=3000, diff_step=1e-6)
        cur = np.clip(np.rint(build(sol.x) * 10), 0, 1000)
        fixed = greedy_repair(cur, f, cells, lambda v, k: min(max(v + k, 0), 1000), rounds=300)
        if fixed is not None:
            return np.round(fixed / 10.0, 1)
    raise RuntimeError("calibration of the excretion fractions did not converge")


@cache
def _records(seed: int) -> pd.DataFrame:
    up = calibrate_uptake(seed)
    ex = calibrate_excretion(seed)
    rows = []
    for i in range(10):
        for v, visit in enumerate(VISITS):
            for g, gland in enumerate(GLANDS):
                if np.isnan(up[i, v, g]) and np.isnan(ex[i, v, g]):
                    continue
                rows.append(
                    (
                        f"P{i + 1:02d}",
                        visit,
                        gland,
                        None if np.isnan(up[i, v, g]) else int(up[i, v, g]),
                        None if np.isnan(ex[i, v, g]) else round(float(ex[i, v, g]), 1),
                    )
                )
    df = pd.DataFrame(
        rows, columns=["subject", "visit", "gland", "uptake_score", "excretion_fraction_pct"]
    )
    df["uptake_score"] = df["uptake_score"].astype("Int64")
    return df


def scintigraphy_records(seed: int = 2022) -> pd.DataFrame:
    """Per-gland scintigraphy records: subject, visit, gland, uptake_score, excretion %.

    Glands not evaluable for both measures have no record; a gland without uptake has a
    missing excretion fraction.
    """
    return _records(seed).copy()


def _row_resid(paramcd: str, s: Stats, inner: float = 0.4) -> list[float]:
    """Hinge residuals of one row (each number inside ``inner`` of its half-unit interval)."""
    row = TABLE3[paramcd]
    skip = {f for (c, f) in PAPER_INCONSISTENCIES if c == paramcd}
    lo, hi = s.ci(1)
    checks = {
        "baseline": (s.means[0], row.baseline.estimate),
        "baseline_se": (s.se_means[0], row.baseline.se),
        "follow_up": (s.means[1], row.follow_up.estimate),
        "follow_up_se": (s.se_means[1], row.follow_up.se),
        "difference": (s.diffs[1], row.difference),
        "lower": (lo, row.lower),
        "upper": (hi, row.upper),
    }
    out = []
    for k, (v, p) in checks.items():
        if k in skip:
            continue
        w = 0.5 * 10.0 ** -decimals(p)
        out.append(max(0.0, abs(float(v) - float(p)) - inner * w) / w)
    pv = s.p(1)
    out.append(max(0.0, abs(math.log(max(pv, 1e-12) / float(row.p))) - math.log(1.1)) * 5)
    out.append(max(0.0, -s.s2u) * 10)
    return out
