"""The synthetic questionnaire answers, scored, reproduce Table 3's XQ and H&N35 rows."""

from __future__ import annotations

from functools import cache

import pandas as pd
import pytest

from xerotrial.demo import questionnaires as q
from xerotrial.demo.targets import mismatches, rounds_to
from xerotrial.stats.model import fit
from xerotrial.trial.questionnaires import score_qlq_hn35, score_xq

VISITS = list(q.VISITS)


@cache
def _engine(paramcd: str) -> tuple[pd.DataFrame, pd.Series]:
    hn, xq = q.questionnaire_items()
    scores = score_xq(xq) if paramcd == "xq_summary" else score_qlq_hn35(hn)
    df = pd.DataFrame({"subject": hn["id"], "visit": hn["visit"], "AVAL": scores[paramcd]})
    res = fit(df, "AVAL ~ visit", subject="subject", time="visit",
              covariance="random-intercept", time_order=VISITS)
    ls = res.lsmeans("visit", df_method="containment").set_index("visit")
    con = res.contrasts_vs_reference("visit", "day0", df_method="containment")
    con = con.set_index("visit") if "visit" in con.columns else con.set_index(con.columns[0])
    hit = [k for k in con.index if str(k).startswith("day120")]
    assert len(hit) == 1
    return ls, con.loc[hit[0]]


def test_items_complete_and_in_range() -> None:
    hn, xq = q.questionnaire_items()
    assert hn.shape == (50, 37) and xq.shape == (50, 10)
    assert not hn.isna().any().any() and not xq.isna().any().any()
    assert hn[[f"hn{i}" for i in range(31, 61)]].isin([1, 2, 3, 4]).all().all()
    assert hn[[f"hn{i}" for i in range(61, 66)]].isin([1, 2]).all().all()
    assert xq[[f"xq{i}" for i in range(1, 9)]].isin(range(11)).all().all()


@pytest.mark.parametrize("paramcd", ["xq_summary", "HNDR", "HNSS", "HNSW"])
def test_row_reproduced_by_engine(paramcd: str) -> None:
    if paramcd in q.INFEASIBLE:
        pytest.skip(f"{paramcd}: not calibrated yet (grid residue of 50 SSE, see module)")
    ls, c = _engine(paramcd)
    skip = {f for (k, f) in q.QUESTIONNAIRE_INCONSISTENCIES if k == paramcd}
    computed = {"baseline": ls.loc["day0", "estimate"], "baseline_se": ls.loc["day0", "se"],
                "follow_up": ls.loc["day120", "estimate"], "follow_up_se": ls.loc["day120", "se"],
                "difference": c["estimate"], "lower": c["lower"], "upper": c["upper"],
                "p": c["p"]}
    assert not mismatches(paramcd, computed, skip)
    text = {"text_lower": (c["lower"], q.TEXT_CI[paramcd][0]),
            "text_upper": (c["upper"], q.TEXT_CI[paramcd][1])}
    assert not {k: v for k, v in text.items() if k not in skip and not rounds_to(*v)}
    assert int(c["df"]) == 36
