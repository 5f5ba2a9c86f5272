"""Calibration of the synthetic questionnaire answers (10 patients x 3 visits).

The demo data are **synthetic**. Item-level answers to the XQ (``xq1`` ... ``xq8``, 0-10)
and the EORTC QLQ-H&N35 (``hn31`` ... ``hn65``) are built so that the scores of
:func:`xerotrial.trial.questionnaires.score_xq` and
:func:`~xerotrial.trial.questionnaires.score_qlq_hn35` reproduce Table 3's rows
``xq_summary``, ``HNDR``, ``HNSS`` and ``HNSW`` with the prespecified model (REML, random
intercept, visit fixed).

**The schedule.** The questionnaires were collected at day 0, 1 month and 4 months only
(:data:`VISITS`): each printed p follows from its printed CI under a random-intercept model
with three visits (containment df 18; five visits, df 36, would give .0002, .011, .013 and
.014 instead of .0004, .013, .015 and .016), so the bundled protocol schedules them so.

Every score lives on a grid: XQ summary = 1.25 k (k = item sum, 0-80), HNDR / HNSS =
100/3 k (k = item - 1, 0-3), HNSW = 100/12 k (k = sum of items 35-38 minus 4, 0-12). The
visit sums of k are fixed by the printed LS means (:data:`COLUMN_SUMS`); what is left to
choose is the spread between and within subjects.

Every answer is given. With every score present the design is balanced, the LS means are
the visit means and 30 SSE is an integer (k units), so each printed row is a condition on two
integers, sum k^2 and the sum of squared subject totals (:func:`lattice_targets`), and on the
1-month visit sum, which is free: HNDR needs 15 there and HNSS 4, 7 or 14 (other sums give
residues of 30 SSE that miss the two-decimal CI bounds). :func:`calibrate_row` anneals
seeded plausible answers onto those integers and confirms the row with the exact REML fit.
HNSW cannot print both CI bounds (``targets.PAPER_INCONSISTENCIES``).

>>> k = _unit_matrices()["HNDR"]
>>> k.sum(0).tolist()
[22, 15, 14]
"""

from __future__ import annotations

from functools import cache

import numpy as np
import pandas as pd
from scipy import special, stats

from xerotrial.demo.targets import PAPER_INCONSISTENCIES, TABLE3, decimals

from .calibrate import ri_reml

__all__ = [
    "VISITS",
    "UNIT",
    "COLUMN_SUMS",
    "TEXT_CI",
    "targets",
    "lattice_targets",
    "calibrate_row",
    "questionnaire_items",
]

#: The questionnaires' visits (day 0, 1 month, 4 months).
VISITS: tuple[str, ...] = ("day0", "day30", "day120")
#: Number of patients.
N_SUBJECTS = 10
#: Score per unit k of each row.
UNIT: dict[str, float] = {"xq_summary": 1.25, "HNDR": 100 / 3, "HNSS": 100 / 3, "HNSW": 100 / 12}
#: Upper bound of k per subject and visit.
_KMAX = {"xq_summary": 80, "HNDR": 3, "HNSS": 3, "HNSW": 12}
#: Visit sums of k over the answered cells: day0 and day120 fixed by Table 3's LS means,
#: 1 month a plausible intermediate value (over 9 answers where one is skipped).
COLUMN_SUMS: dict[str, tuple[int, ...]] = {
    "xq_summary": (428, 322, 247),
    "HNDR": (22, 15, 14),
    "HNSS": (14, 7, 7),
    "HNSW": (32, 23, 20),
}
#: The Results text's one-decimal 95 % CIs of the 4-month change.
TEXT_CI: dict[str, tuple[str, str]] = {
    "xq_summary": ("-33.6", "-11.7"),
    "HNDR": ("-46.9", "-6.4"),
    "HNSS": ("-41.5", "-5.2"),
    "HNSW": ("-17.9", "-2.1"),
}
_LAST = len(VISITS) - 1


def targets(paramcd: str) -> list[tuple[str, int, tuple[str, ...]]]:
    """Printed targets of a row: (statistic, visit index, printed), the table's and the
    text's (one-decimal CI), less the known inconsistencies.

    >>> [t for t in targets("HNSW") if t[0] == "lower"]
    [('lower', 2, ('-17.87',)), ('lower', 2, ('-17.9',))]
    """
    row = TABLE3[paramcd]
    skip = {f for (c, f) in PAPER_INCONSISTENCIES if c == paramcd}
    out = [
        ("mean", 0, (row.baseline.estimate,)),
        ("se", 0, (row.baseline.se,)),
        ("mean", _LAST, (row.follow_up.estimate,)),
        ("se", _LAST, (row.follow_up.se,)),
        ("diff", _LAST, (row.difference,)),
        ("lower", _LAST, (row.lower,)),
        ("upper", _LAST, (row.upper,)),
        ("p", _LAST, (row.p, *row.p_alt)),
    ]
    out = [x for x in out if {"diff": "difference"}.get(x[0], x[0]) not in skip]
    lo, hi = TEXT_CI[paramcd]
    return out + [("lower", _LAST, (lo,)), ("upper", _LAST, (hi,))]


def _spreads(paramcd: str) -> tuple[float, float]:
    """Subject and residual SD (k units) implied by the printed SE and CI of a row."""
    row, unit, n = TABLE3[paramcd], UNIT[paramcd], N_SUBJECTS
    df = (n - 1) * (len(VISITS) - 1)
    se_diff = (float(row.upper) - float(row.lower)) / 2 / float(stats.t.ppf(0.975, df)) / unit
    s2 = n * se_diff**2 / 2
    s2u = max(n * (float(row.baseline.se) / unit) ** 2 - s2, 0.01 * s2)
    return float(np.sqrt(s2u)), float(np.sqrt(s2))


def _starts(paramcd: str, rng: np.random.Generator, batch: int) -> np.ndarray:
    """``batch`` integer candidates (batch x subjects x visits) with the visit sums of
    :data:`COLUMN_SUMS`: subject severity plus noise, with spreads
    drawn around :func:`_spreads`, repaired to the sums by random +-1 moves."""
    kmax, sums, n = _KMAX[paramcd], COLUMN_SUMS[paramcd], N_SUBJECTS
    sd_u, sd_e = _spreads(paramcd)
    f_u, f_e = rng.uniform(0.4, 1.2, (2, batch, 1, 1))
    answered = np.ones((n, len(VISITS)), bool)
    mean = np.array(sums) / n
    k = (
        mean
        + f_u * sd_u * rng.normal(size=(batch, n, 1))
        + f_e * sd_e * rng.normal(size=(batch, n, len(VISITS)))
    )
    k = np.clip(np.rint(k), 0, kmax) * answered
    for _ in range(kmax * n * 2):
        gap = np.array(sums) - k.sum(1)  # batch x visits
        if not gap.any():
            break
        step = np.sign(gap)[:, None, :]
        ok = answered & (k + step >= 0) & (k + step <= kmax) & (step != 0)
        keys = np.where(ok, rng.random(k.shape), -1.0)
        pick = keys.argmax(1)  # batch x visits: a random eligible subject
        b, j = np.nonzero(gap)
        k[b, pick[b, j], j] += step[b, 0, j]
    keep = (k.sum(1) == np.array(sums)).all(1)
    return k[keep].astype(np.int64)


def _closed(
    means: np.ndarray, se_means: np.ndarray, se_diffs: np.ndarray, s2u: np.ndarray, df: int
) -> dict[str, np.ndarray]:
    """Fits of B data sets (B x visits) as printed statistics."""
    d = means - means[:, :1]
    tc = float(stats.t.ppf(0.975, df))
    with np.errstate(divide="ignore", invalid="ignore"):
        p = 2 * special.stdtr(df, -np.abs(d) / se_diffs)
    return {
        "mean": means,
        "se": se_means,
        "diff": d,
        "lower": d - tc * se_diffs,
        "upper": d + tc * se_diffs,
        "p": p,
        "s2u": s2u,
    }


def _meets(s: dict[str, np.ndarray], its, inner: float = 0.99, p_rel: float = 0.25) -> np.ndarray:
    """Which of the B fits ``s`` meet every target, with a margin (``inner`` of each
    half-unit rounding interval; p within ``p_rel`` of a printed p)."""
    ok = s["s2u"] > 0
    for stat, j, printed in its:
        v = s[stat][:, j]
        if stat == "p":
            ok &= np.any([np.abs(v - float(q)) <= p_rel * float(q) for q in printed], axis=0)
        else:
            ok &= np.abs(v - float(printed[0])) <= inner * 0.5 * 10.0 ** -decimals(printed[0])
    return ok


def lattice_targets(paramcd: str, margin: float = 0.05) -> list[tuple[int, int]]:
    """Every (sum of k^2, sum of subject totals^2) for which complete answers with the visit
    sums of :data:`COLUMN_SUMS` print every target of :func:`targets`.

    With every subject at every visit the fit is the balanced ANOVA: LS means are the visit
    means, 30 SSE = 30 A - 10 B - 3 sum(c^2) + G^2 (k units; A = sum k^2, B = sum of the
    squared subject totals, c the visit sums, G their total) and the subject mean square is
    (B - G^2 / 10) / 27; so the printed numbers are a function of the integers (A, B),
    searched within ``margin`` (relative) of the printed SE and CI.

    >>> lattice_targets("HNDR")
    [(103, 275)]
    """
    sums, unit, n, t = COLUMN_SUMS[paramcd], UNIT[paramcd], N_SUBJECTS, len(VISITS)
    df = (n - 1) * (t - 1)
    g, c2 = sum(sums), sum(c * c for c in sums)
    row = TABLE3[paramcd]
    tc = float(stats.t.ppf(0.975, df))
    hw = (float(row.upper) - float(row.lower)) / 2 / unit
    sse30 = np.arange(
        int(n * t * df * n / 2 * (hw / tc) ** 2 * (1 - margin)),
        int(n * t * df * n / 2 * (hw / tc) ** 2 * (1 + margin)) + 2,
    )
    s2 = sse30 / (n * t) / df
    se = float(row.baseline.se) / unit
    ms = se * se * n * t - (t - 1) * s2  # subject mean square from the LS-mean SE
    b_mid = ms * (n - 1) * t + g * g / n
    out = []
    for s30, s2v, bm in zip(sse30, s2, b_mid, strict=True):
        b = np.arange(int(bm * (1 - margin)) - 2, int(bm * (1 + margin)) + 3)
        a30 = s30 + 10 * b + 3 * c2 - g * g
        b = b[a30 % (n * t) == 0]
        ms_b = (b - g * g / n) / ((n - 1) * t)
        b = b[ms_b > s2v]
        if not len(b):
            continue
        ms_b = (b - g * g / n) / ((n - 1) * t)
        means = np.tile(np.array(sums, float) / n * unit, (len(b), 1))
        se_m = np.sqrt((ms_b + (t - 1) * s2v) / (n * t))[:, None] * unit * np.ones(t)
        se_d = np.full((len(b), t), np.sqrt(2 * s2v / n) * unit)
        ok = _meets(_closed(means, se_m, se_d, (ms_b - s2v) / t, df), targets(paramcd))
        out += [(int((s30 + 10 * bb + 3 * c2 - g * g) // (n * t)), int(bb)) for bb in b[ok]]
    return out


def calibrate_row(
    paramcd: str, seed: int = 2022, tries: int = 200, max_iter: int = 20000
) -> np.ndarray:
    """Integer k (10 subjects x 3 visits, the visit sums of :data:`COLUMN_SUMS`) meeting every
    :func:`targets`, confirmed by the exact REML fit.

    From seeded plausible starts, random paired moves within a visit (which keep the visit
    sums) anneal (sum k^2, sum of squared subject totals) onto one of
    :func:`lattice_targets`.
    """
    goals = np.array(lattice_targets(paramcd), float)
    if not len(goals):
        raise RuntimeError(
            f"{paramcd}: no complete answers with visit sums "
            f"{COLUMN_SUMS[paramcd]} can print the row"
        )
    rng = np.random.default_rng(seed)
    its, unit, kmax = targets(paramcd), UNIT[paramcd], _KMAX[paramcd]
    n, t = N_SUBJECTS, len(VISITS)

    def loss(k: np.ndarray) -> float:
        a, b = float((k * k).sum()), float((k.sum(1) ** 2).sum())
        return float(np.min(np.abs(goals[:, 0] - a) + np.abs(goals[:, 1] - b)))

    for _ in range(tries):
        cur = _starts(paramcd, rng, 8)[0]
        fc = loss(cur)
        for it in range(max_iter):
            if fc == 0.0:
                break
            j = int(rng.integers(t))
            a, b = rng.choice(n, 2, replace=False)
            if cur[a, j] >= kmax or cur[b, j] <= 0:
                continue
            cur[a, j] += 1
            cur[b, j] -= 1
            fv = loss(cur)
            temp = 2.0 * (1 - it / max_iter)
            if fv <= fc or rng.random() < np.exp((fc - fv) / max(temp, 1e-9)):
                fc = fv
            else:
                cur[a, j] -= 1
                cur[b, j] += 1
        if fc == 0.0:
            e = ri_reml(cur * unit)
            if _meets(
                _closed(
                    e.means[None], e.se_means[None], e.se_diffs[None], np.array([e.s2u]), int(e.df)
                ),
                its,
            )[0]:
                return cur
    raise RuntimeError(f"{paramcd}: no answers found in {tries} tries")


def _unit_matrices(seed: int = 2022) -> dict[str, np.ndarray]:
    """Cached per seed however it is asked for (``()`` and ``(2022)`` share one search)."""
    return _unit_matrices_cached(seed)


@cache
def _unit_matrices_cached(seed: int) -> dict[str, np.ndarray]:
    out = {}
    for i, code in enumerate(UNIT):
        k = calibrate_row(code, seed + i)
        k.setflags(write=False)
        out[code] = k
    return out


def _split(total: int, n: int, lo: int, hi: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` integers in ``lo..hi`` summing to ``total``, spread randomly."""
    x = np.full(n, lo, np.int64)
    for _ in range(total - n * lo):
        ok = np.flatnonzero(x < hi)
        x[rng.choice(ok)] += 1
    return x


def questionnaire_items(seed: int = 2022) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Item-level answers ``(hn35, xq)``: columns ``id``, ``visit`` and ``hn31`` ...
    ``hn65`` or ``xq1`` ... ``xq8``, 10 subjects x 3 visits.

    The returned frames are cached (one per seed, however it is asked for): copy before
    changing them.
    """
    return _questionnaire_items(seed)


@cache
def _questionnaire_items(seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    k = _unit_matrices(seed)
    rng = np.random.default_rng(seed + 100)
    sev = k["HNDR"].mean(1) / 3  # subject's overall burden, 0-1, drives the filler items
    hn_rows, xq_rows = [], []
    for i in range(N_SUBJECTS):
        for j, visit in enumerate(VISITS):
            sid = f"P{i + 1:02d}"
            xq = _split(int(k["xq_summary"][i, j]), 8, 0, 10, rng)
            xq_rows.append(
                {"id": sid, "visit": visit, **{f"xq{m + 1}": int(v) for m, v in enumerate(xq)}}
            )
            hn = {
                f"hn{m}": int(np.clip(np.rint(1 + 1.5 * sev[i] + rng.normal(0, 0.6)), 1, 4))
                for m in range(31, 61)
            }
            hn.update(
                {f"hn{m}": int(rng.random() < 0.15 + 0.2 * sev[i]) + 1 for m in range(61, 66)}
            )
            hn.update(_swallowing(k["HNSW"][i, j], rng))
            hn["hn41"], hn["hn42"] = int(k["HNDR"][i, j]) + 1, int(k["HNSS"][i, j]) + 1
            hn_rows.append({"id": sid, "visit": visit, **hn})
    hn_cols = ["id", "visit", *(f"hn{m}" for m in range(31, 66))]
    return pd.DataFrame(hn_rows)[hn_cols], pd.DataFrame(xq_rows)


def _swallowing(k: int, rng: np.random.Generator) -> dict[str, int]:
    """Items 35-38 whose HNSW score is 100/12 k: four answers summing to k + 4."""
    items = [f"hn{m}" for m in range(35, 39)]
    return dict(zip(items, (int(v) for v in _split(int(k) + 4, 4, 1, 4, rng)), strict=True))
