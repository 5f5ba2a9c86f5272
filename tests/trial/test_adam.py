"""ADaM BDS: visits from study days, analysis flags, baseline, change and percent change."""

from __future__ import annotations

from importlib import resources

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xerotrial.stats.errors import DataValidationError
from xerotrial.trial.adam import (
    BDS_COLUMNS,
    WINDOW_COLUMNS,
    derive_bds,
    derive_pct_change_param,
)
from xerotrial.trial.sialometry import FLOW_PARAM_LABELS, derive_flow_rate

LABELS = {"uws_ml_min": "UWS flow rate (mL/min)", "sws_ml_min": "SWS flow rate (mL/min)"}


def long(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["subject", "study_day", "value"]).assign(
        paramcd="uws_ml_min"
    )


def rec(bds: pd.DataFrame, subject: str, day: float, paramcd: str = "uws_ml_min") -> pd.Series:
    sel = bds[(bds["USUBJID"] == subject) & (bds["ADY"] == day) & (bds["PARAMCD"] == paramcd)]
    assert len(sel) == 1
    return sel.iloc[0]


@pytest.fixture(scope="module")
def bds() -> pd.DataFrame:
    rows = [
        ("P01", 0, 0.12),
        ("P01", 1, 0.13),
        ("P01", 5, 0.11),
        ("P01", 30, 0.15),
        ("P01", 120, 0.18),
        ("P02", -3, 0.08),
        ("P02", 0, 0.10),
        ("P02", 28, 0.11),
        ("P02", 33, 0.14),
        ("P02", 92, 0.13),
        ("P03", 0, 0.0),
        ("P03", 120, 0.05),
        ("P04", 1, 0.10),
        ("P04", 120, 0.20),
        ("P05", -2, 0.06),
        ("P05", 120, 0.09),
        ("P06", 0, 0.10),
        ("P06", 28, 0.20),
        ("P06", 32, 0.30),
        ("P07", 0, 0.20),
        ("P07", 30, None),
        ("P07", 35, 0.25),
    ]
    return derive_bds(long(rows), "paramcd", LABELS)


def test_columns_and_sorting(bds):
    assert list(bds.columns) == list(BDS_COLUMNS + WINDOW_COLUMNS)
    assert len(bds) == 22
    assert bds["USUBJID"].is_monotonic_increasing
    p01 = bds[bds.USUBJID == "P01"]
    assert p01["AVISIT"].tolist() == ["day0", "day1", "day5", "day30", "day120"]
    assert p01["AVISITN"].tolist() == [0, 1, 5, 30, 120]
    assert set(bds["PARAM"]) == {"UWS flow rate (mL/min)"}


def test_hand_worked_change_from_baseline(bds):
    p01 = bds[bds.USUBJID == "P01"]
    assert p01["BASE"].tolist() == [0.12] * 5
    assert p01["CHG"].tolist() == pytest.approx([0.0, 0.01, -0.01, 0.03, 0.06])
    assert p01["PCHG"].tolist() == pytest.approx([0.0, 25 / 3, -25 / 3, 25.0, 50.0])
    assert p01["ABLFL"].tolist() == ["Y", "", "", "", ""]
    assert p01["ANL01FL"].tolist() == ["Y"] * 5
    assert (p01["AWDEVFL"] == "").all()


def test_baseline_is_the_day_0_record_in_the_window(bds):
    assert rec(bds, "P02", 0)["ABLFL"] == "Y"
    early = rec(bds, "P02", -3)
    assert (early.AVISIT, early.ABLFL, early.ANL01FL, early.AWDEVFL) == ("day0", "", "", "Y")
    assert early["BASE"] == 0.10 and early["CHG"] == pytest.approx(-0.02)
    # only a pre-injection value in the window: it is the baseline, flagged as a deviation
    p05 = rec(bds, "P05", -2)
    assert (p05.ABLFL, p05.ANL01FL, p05.AWDEVFL, p05.AWTDIFF) == ("Y", "Y", "Y", 2.0)
    assert rec(bds, "P05", 120)["PCHG"] == pytest.approx(50.0)


def test_day_92_is_4_months_with_a_deviation(bds):
    r = rec(bds, "P02", 92)
    assert (r.AVISIT, r.AVISITN, r.AWTARGET, r.AWTDIFF) == ("day120", 120, 120, 28)
    assert (r.ANL01FL, r.AWDEVFL) == ("Y", "Y")
    assert "14 day(s) early" in r.AWDEVRS
    assert r["CHG"] == pytest.approx(0.03) and r["PCHG"] == pytest.approx(30.0)


def test_anl01fl_closest_to_planned_day_then_later(bds):
    assert rec(bds, "P02", 28)["ANL01FL"] == "Y"  # 2 days off beats 3 days off
    assert rec(bds, "P02", 33)["ANL01FL"] == ""
    assert rec(bds, "P06", 28)["ANL01FL"] == ""  # equally close: the later one
    assert rec(bds, "P06", 32)["ANL01FL"] == "Y"
    # a missing value is never the analysis record
    assert rec(bds, "P07", 30)["ANL01FL"] == "" and np.isnan(rec(bds, "P07", 30)["CHG"])
    assert rec(bds, "P07", 35)["ANL01FL"] == "Y"
    counts = bds[bds.ANL01FL == "Y"].groupby(["USUBJID", "PARAMCD", "AVISITN"]).size()
    assert (counts == 1).all()


def test_base_zero_and_missing(bds):
    r = rec(bds, "P03", 120)
    assert r.BASE == 0.0 and r.CHG == 0.05 and np.isnan(r.PCHG)
    assert np.isnan(rec(bds, "P03", 0)["PCHG"])
    p04 = bds[bds.USUBJID == "P04"]
    assert p04["BASE"].isna().all() and p04["CHG"].isna().all() and p04["PCHG"].isna().all()
    assert (p04["ABLFL"] == "").all() and (p04["ANL01FL"] == "Y").all()


def test_bases_are_per_parameter():
    v = pd.DataFrame(
        {
            "subject": ["P01"] * 4,
            "paramcd": ["uws_ml_min", "uws_ml_min", "sws_ml_min", "sws_ml_min"],
            "study_day": [0, 120, 0, 120],
            "value": [0.1, 0.2, 0.6, 0.75],
        }
    )
    out = derive_bds(v, "paramcd", LABELS)
    assert out["PARAMCD"].tolist() == ["sws_ml_min"] * 2 + ["uws_ml_min"] * 2
    assert out["BASE"].tolist() == [0.6, 0.6, 0.1, 0.1]
    assert out["PCHG"].tolist() == pytest.approx([0.0, 25.0, 0.0, 100.0])


def test_unmapped_days():
    v = long([("P01", 0, 0.1), ("P01", 60, 0.2), ("P01", 120, 0.3)])
    v.index = ["a", "b", "c"]
    with pytest.raises(DataValidationError, match="row 'b', column 'study_day', value 60"):
        derive_bds(v, "paramcd", LABELS)
    dropped = derive_bds(v, "paramcd", LABELS, unmapped="drop")
    assert dropped["ADY"].tolist() == [0, 120]
    kept = derive_bds(v, "paramcd", LABELS, unmapped="keep")
    r = kept.iloc[-1]  # unmapped records sort last
    assert (r.ADY, r.AVISIT, r.ANL01FL, r.ABLFL) == (60, "", "", "")
    assert np.isnan(r["AVISITN"]) and r["BASE"] == 0.1 and r["CHG"] == pytest.approx(0.1)
    with pytest.raises(DataValidationError, match="unmapped must be"):
        derive_bds(v, "paramcd", LABELS, unmapped="ignore")  # type: ignore[arg-type]


def test_visit_names_without_study_days():
    path = resources.files("xerotrial").joinpath("data", "example_uws.csv")
    with resources.as_file(path) as f:
        data = pd.read_csv(f)
    v = data.rename(columns={"uws": "value"}).assign(paramcd="uws_ml_min")
    out = derive_bds(v, "paramcd", LABELS)
    assert len(out) == 50 and out["ADY"].isna().all()
    # P04 has no day-5 value (empty cell): its record stays, without the analysis flag
    assert out.loc[out.AVAL.isna(), ["USUBJID", "AVISIT", "ANL01FL"]].values.tolist() == [
        ["P04", "day5", ""]
    ]
    assert (out["ANL01FL"] == "Y").sum() == 49 and (out["ABLFL"] == "Y").sum() == 10
    p01 = out[out.USUBJID == "P01"]
    assert p01["AVISIT"].tolist() == ["day0", "day1", "day5", "day30", "day120"]
    assert p01["BASE"].tolist() == [0.049] * 5
    chg = data[data.subject == "P01"]["uws"].to_numpy() - 0.049
    assert p01["CHG"].tolist() == pytest.approx(chg.tolist())
    with pytest.raises(DataValidationError, match="column 'visit', value 'day60'"):
        derive_bds(v.assign(visit="day60"), "paramcd", LABELS)
    with pytest.raises(DataValidationError, match="row 1, column 'value'.*same visit"):
        derive_bds(pd.concat([v.iloc[[0]], v.iloc[[0]]], ignore_index=True), "paramcd", LABELS)


def test_from_sialometry_to_percent_change_parameter():
    samples = pd.DataFrame(
        {
            "subject": ["P01"] * 4,
            "study_day": [0, 0, 120, 120],
            "kind": ["UWS", "SWS", "UWS", "SWS"],
            "cup_before_g": [12.0] * 4,
            "cup_after_g": [13.2, 15.3, 13.8, 15.75],
        }
    )
    flow = derive_flow_rate(samples)
    bds = derive_bds(flow, "paramcd", FLOW_PARAM_LABELS, aval_col="flow_ml_min")
    out = derive_pct_change_param(bds, "uws_ml_min")
    out = derive_pct_change_param(out, "sws_ml_min", "sws_pchg", "SWS % change")
    pc = out[out.PARAMCD == "uws_pct_change"]
    label = "Unstimulated whole saliva flow rate (% change from baseline)"
    assert pc["PARAM"].tolist() == [label] * 2
    assert pc["AVAL"].tolist() == pytest.approx([0.0, 50.0])  # 0.12 -> 0.18 mL/min
    assert pc["BASE"].tolist() == [0.0, 0.0]
    assert pc["CHG"].tolist() == pytest.approx([0.0, 50.0])
    assert pc["PCHG"].isna().all()
    assert pc["ABLFL"].tolist() == ["Y", ""] and pc["ANL01FL"].tolist() == ["Y", "Y"]
    sws = out[out.PARAMCD == "sws_pchg"]
    assert sws["PARAM"].iloc[0] == "SWS % change"
    assert sws["AVAL"].tolist() == pytest.approx([0.0, 100 * 0.09 / 0.66])
    assert len(out) == 8 and list(out.columns) == list(BDS_COLUMNS + WINDOW_COLUMNS)


def test_pct_change_param_defaults_and_errors(bds):
    out = derive_pct_change_param(bds, "uws_ml_min")
    assert set(out["PARAMCD"]) == {"uws_ml_min", "uws_pct_change"}
    p04 = out[(out.USUBJID == "P04") & (out.PARAMCD == "uws_pct_change")]
    assert p04["AVAL"].isna().all() and p04["BASE"].isna().all()  # no baseline, no % change
    with pytest.raises(DataValidationError, match="'uws_pct_change' already exists"):
        derive_pct_change_param(out, "uws_ml_min")
    with pytest.raises(DataValidationError, match="parameter 'xq' not found"):
        derive_pct_change_param(bds, "xq")
    with pytest.raises(DataValidationError, match="column 'BASE' not found"):
        derive_pct_change_param(bds.drop(columns="BASE"), "uws_ml_min")
    v = long([("P01", 0, 1.0)]).assign(paramcd="xq")
    plain = derive_bds(v, "paramcd", {"xq": "XQ summary score"})
    assert derive_pct_change_param(plain, "xq")["PARAMCD"].tolist() == ["xq", "xq_pct_change"]


def _err(frame, match, labels=LABELS, **kw):
    with pytest.raises(DataValidationError, match=match) as e:
        derive_bds(frame, "paramcd", labels, source="adsl.csv", **kw)
    assert str(e.value).startswith("adsl.csv: ")


def test_errors():
    v = long([("P01", 0, 0.1), ("P01", 30, 0.2)])
    _err(v.drop(columns="value"), "column 'value' not found")
    _err(v.drop(columns="study_day"), "needs a study-day column 'study_day'")
    _err(v.assign(subject=["P01", None]), "row 1, column 'subject', value None: required")
    _err(v.assign(paramcd=["uws_ml_min", None]), "row 1, column 'paramcd'")
    _err(v.assign(paramcd=["uws_ml_min", "xq"]), "row 1, column 'paramcd', value 'xq': .*label")
    _err(v.assign(value=[0.1, "high"]), "row 1, column 'value', value 'high': must be a number")
    _err(v.assign(study_day=[0, 30.5]), "row 1, column 'study_day', value 30.5: must be a whole")
    _err(v.assign(study_day=[0, None]), "row 1, column 'study_day'")
    _err(long([("P01", 0, 0.1), ("P01", 30, 0.2), ("P01", 30, 0.3)]), "row 2.*study day 30.*row 1")


def test_repeated_index_labels():
    v = long([("P01", 0, 0.1), ("P01", 30, 0.2), ("P01", 30, 0.3)]).set_axis([5, 5, 5])
    with pytest.raises(DataValidationError, match="row 5, column 'value', value 0.3.*row 5"):
        derive_bds(v, "paramcd", LABELS)
    out = derive_bds(v.iloc[:2], "paramcd", LABELS)
    assert out["CHG"].tolist() == pytest.approx([0.0, 0.1])


def test_same_day_missing_value_is_not_a_duplicate():
    out = derive_bds(
        long([("P01", 0, 0.1), ("P01", 30, None), ("P01", 30, 0.3)]), "paramcd", LABELS
    )
    assert out["ANL01FL"].tolist() == ["Y", "", "Y"]
    assert out.loc[out.ANL01FL == "Y", "AVAL"].tolist() == [0.1, 0.3]


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.lists(st.floats(0.01, 2.0, allow_nan=False), min_size=5, max_size=5),
        min_size=1,
        max_size=4,
    )
)
def test_change_invariants(values):
    days = [0, 1, 5, 30, 120]
    rows = [(f"S{i}", d, x) for i, xs in enumerate(values) for d, x in zip(days, xs, strict=True)]
    out = derive_bds(long(rows), "paramcd", LABELS)
    assert (out["AVAL"] - out["BASE"] - out["CHG"]).abs().max() < 1e-12
    for _, g in out.groupby("USUBJID"):
        base = g.loc[g.ABLFL == "Y", "AVAL"]
        assert len(base) == 1
        # CHG sums: the changes add up to the values minus n baselines
        assert g["CHG"].sum() == pytest.approx(g["AVAL"].sum() - len(g) * base.iloc[0])
        assert g.loc[g.ABLFL == "Y", "CHG"].iloc[0] == 0.0
    assert (np.sign(out["PCHG"]) == np.sign(out["CHG"])).all()  # BASE > 0: same sign
    assert out["PCHG"].tolist() == pytest.approx((100 * out["CHG"] / out["BASE"]).tolist())
