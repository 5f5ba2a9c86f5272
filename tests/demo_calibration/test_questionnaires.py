"""The synthetic questionnaire answers, scored, reproduce Table 3's XQ and H&N35 rows."""

from __future__ import annotations

from functools import cache

import pandas as pd
import pytest
from demo_calibration import questionnaires as q

from xerotrial.demo.targets import mismatches, rounds_to
from xerotrial.stats.model import fit
from xerotrial.trial.questionnaires import score_qlq_hn35, score_xq

VISITS = list(q.VISITS)


@cache
def _engine(paramcd: str) -> tuple[pd.DataFrame, pd.Series]:
    hn, xq = q.questionnaire_items()
    scores = score_xq(xq) if paramcd == "xq_summary" else score_qlq_hn35(hn)
    df = pd.DataFrame({"subject": hn["id"], "visit": hn["visit"], "AVAL": scores[paramcd]})
    res = fit(
        df,
        "AVAL ~ visit",
        subject="subject",
        time="visit",
        covariance="random-intercept",
        time_order=VISITS,
    )
    ls = res.lsmeans("visit", df_method="containment").set_index("visit")
    con = res.contrasts_vs_reference("visit", "day0", df_method="containment")
    con = con.set_index("visit") if "visit" in con.columns else con.set_index(con.columns[0])
    hit = [k for k in con.index if str(k).startswith("day120")]
    assert len(hit) == 1
    return ls, con.loc[hit[0]]


def test_items_in_range_complete_at_three_visits() -> None:
    hn, xq = q.questionnaire_items()
    assert hn.shape == (30, 37) and xq.shape == (30, 10)
    assert sorted(set(hn["visit"])) == sorted(VISITS) == ["day0", "day120", "day30"]
    assert not xq.isna().any().any() and not hn.isna().any().any()
    assert hn[[f"hn{i}" for i in range(31, 61)]].isin([1, 2, 3, 4]).all().all()
    assert hn[[f"hn{i}" for i in range(61, 66)]].isin([1, 2]).all().all()
    assert xq[[f"xq{i}" for i in range(1, 9)]].isin(range(11)).all().all()


@pytest.mark.parametrize("paramcd", ["xq_summary", "HNDR", "HNSS", "HNSW"])
def test_row_reproduced_by_engine(paramcd: str) -> None:
    ls, c = _engine(paramcd)
    computed = {
        "baseline": ls.loc["day0", "estimate"],
        "baseline_se": ls.loc["day0", "se"],
        "follow_up": ls.loc["day120", "estimate"],
        "follow_up_se": ls.loc["day120", "se"],
        "difference": c["estimate"],
        "lower": c["lower"],
        "upper": c["upper"],
        "p": c["p"],
    }
    assert not mismatches(paramcd, computed)
    assert rounds_to(c["lower"], q.TEXT_CI[paramcd][0])
    assert rounds_to(c["upper"], q.TEXT_CI[paramcd][1])
    assert int(c["df"]) == 18  # containment df N - rank[X Z] = 30 - 12


@pytest.mark.parametrize("paramcd", ["xq_summary", "HNDR", "HNSS", "HNSW"])
def test_lattice_targets_are_what_the_data_meet(paramcd: str) -> None:
    """The calibrated answers sit on one of the (sum k^2, sum of squared subject totals)
    that :func:`lattice_targets` derives in closed form."""
    k = q._unit_matrices()[paramcd]
    assert (int((k * k).sum()), int((k.sum(1) ** 2).sum())) in q.lattice_targets(paramcd)
    assert tuple(int(v) for v in k.sum(0)) == q.COLUMN_SUMS[paramcd]


@pytest.mark.parametrize(
    ("paramcd", "possible"), [("HNDR", [5, 15, 25]), ("HNSS", [4, 7, 14, 17, 24, 27])]
)
def test_one_month_sum_is_forced(paramcd: str, possible: list[int]) -> None:
    """Why the 1-month sums are 15 (HNDR) and 7 (HNSS): with complete answers only these
    1-month totals (of 0-30) leave a 30 SSE residue that prints both two-decimal CI bounds."""
    sums = q.COLUMN_SUMS[paramcd]
    ok = []
    for c1 in range(31):
        q.COLUMN_SUMS[paramcd] = (sums[0], c1, sums[2])
        try:
            if q.lattice_targets(paramcd):
                ok.append(c1)
        finally:
            q.COLUMN_SUMS[paramcd] = sums
    assert ok == possible and sums[1] in ok
