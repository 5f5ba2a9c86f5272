"""Flow rates from cup weights, hyposalivation, percent change and responders."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xerotrial.stats.errors import DataValidationError
from xerotrial.trial.protocol import load_protocol
from xerotrial.trial.sialometry import (
    FLOW_PARAM_LABELS,
    derive_flow_rate,
    derive_responder,
    percent_change,
)


def one(kind="UWS", before=12.00, after=13.30, minutes=10, **extra) -> pd.DataFrame:
    row = {
        "subject": "P01",
        "visit": "day0",
        "kind": kind,
        "cup_before_g": before,
        "cup_after_g": after,
        "minutes": minutes,
    }
    row.update(extra)
    return pd.DataFrame([row])


# ------------------------------------------------------------------------------ flow rate


def test_hand_worked_uws():
    # 13.30 g - 12.00 g = 1.30 g = 1.30 mL over 10 min = 0.13 mL/min (paper's baseline mean)
    out = derive_flow_rate(one())
    assert out.loc[0, "net_weight_g"] == pytest.approx(1.30)
    assert out.loc[0, "flow_ml_min"] == pytest.approx(0.13)
    assert not out.loc[0, "hyposalivation"]
    assert out.loc[0, "paramcd"] == "uws_ml_min"


def test_hand_worked_sws():
    # 3.30 g over 5 min = 0.66 mL/min (paper's SWS baseline mean): not <= 0.5
    out = derive_flow_rate(one("SWS", 12.00, 15.30, 5))
    assert out.loc[0, "flow_ml_min"] == pytest.approx(0.66)
    assert not out.loc[0, "hyposalivation"]
    assert out.loc[0, "paramcd"] == "sws_ml_min"
    assert set(FLOW_PARAM_LABELS) == {"uws_ml_min", "sws_ml_min"}


@pytest.mark.parametrize(
    ("kind", "before", "after", "minutes", "flow", "hypo"),
    [
        ("UWS", 12.0, 13.0, 10, 0.10, True),  # exactly at the threshold: <= holds
        ("UWS", 12.1, 13.1, 10, 0.10, True),  # no floating-point noise across the threshold
        ("UWS", 12.0, 13.01, 10, 0.101, False),
        ("UWS", 12.0, 12.5, 10, 0.05, True),
        ("UWS", 12.0, 12.0, 10, 0.0, True),
        ("SWS", 12.0, 14.5, 5, 0.5, True),
        ("SWS", 12.2, 14.7, 5, 0.5, True),
        ("SWS", 12.0, 14.51, 5, 0.502, False),
    ],
)
def test_threshold_boundaries(kind, before, after, minutes, flow, hypo):
    out = derive_flow_rate(one(kind, before, after, minutes))
    assert out.loc[0, "flow_ml_min"] == pytest.approx(flow)
    assert bool(out.loc[0, "hyposalivation"]) is hypo


def test_configurable_sws_threshold():
    p = load_protocol().with_hyposalivation("SWS", "<=", 0.7)
    assert derive_flow_rate(one("SWS", 12.0, 15.3, 5), p).loc[0, "hyposalivation"]


def test_minutes_from_protocol_and_kind_normalised():
    s = one().drop(columns="minutes")
    s = pd.concat([s, one("sws", 10.0, 12.5).drop(columns="minutes")], ignore_index=True)
    out = derive_flow_rate(s)
    assert out["kind"].tolist() == ["UWS", "SWS"]
    assert out["minutes"].tolist() == [10.0, 5.0]
    assert out["flow_ml_min"].tolist() == pytest.approx([0.13, 0.5])


def test_other_columns_and_index_are_kept():
    s = one(cohort="CS5", study_day=0)
    s.index = ["r7"]
    out = derive_flow_rate(s)
    assert out.index.tolist() == ["r7"]
    assert out.loc["r7", "cohort"] == "CS5"
    assert list(out.columns)[:8] == list(s.columns)
    assert s.loc["r7", "kind"] == "UWS" and "flow_ml_min" not in s.columns  # input untouched


def test_repeated_index_labels():
    s = pd.concat([one(), one("SWS", 12.0, 15.3, 5), one(after=11.0)])  # index 0, 0, 0
    with pytest.raises(DataValidationError, match="row 0, column 'cup_after_g', value 11.0"):
        derive_flow_rate(s)
    out = derive_flow_rate(s.iloc[:2])
    assert out["flow_ml_min"].tolist() == pytest.approx([0.13, 0.66])
    assert out["hyposalivation"].tolist() == [False, False]


def test_study_day_instead_of_visit():
    s = one().drop(columns="visit").assign(study_day=92)
    assert derive_flow_rate(s).loc[0, "flow_ml_min"] == pytest.approx(0.13)


# ------------------------------------------------------------------------------ flow errors


def _err(frame, match, **kw):
    with pytest.raises(DataValidationError, match=match) as e:
        derive_flow_rate(frame, source="crf.csv", **kw)
    assert str(e.value).startswith("crf.csv: ")
    return str(e.value)


def test_missing_column():
    _err(one().drop(columns="cup_after_g"), "column 'cup_after_g' not found")
    _err(one().drop(columns="visit"), "needs a column 'visit' or 'study_day'")


def test_not_a_dataframe():
    with pytest.raises(DataValidationError, match="expected a pandas DataFrame"):
        derive_flow_rate({"subject": ["P01"]})  # type: ignore[arg-type]


def test_missing_key_value():
    _err(one(subject=None), "row 0, column 'subject', value None: required")
    _err(one(visit=float("nan")), "column 'visit'")
    _err(one().drop(columns="visit").assign(study_day=1.5), "column 'study_day', value 1.5")


@pytest.mark.parametrize("kind", ["XWS", None, 1])
def test_bad_kind(kind):
    _err(one(kind=kind), "column 'kind'.*must be one of \\['UWS', 'SWS'\\]")


def test_non_numeric_and_missing_weights():
    _err(one(after="13,30"), "row 0, column 'cup_after_g', value '13,30': must be a number")
    _err(one(before=None), "row 0, column 'cup_before_g', value None: required")
    _err(one(after=float("inf")), "column 'cup_after_g', value inf: must be a number")
    _err(one(minutes=None), "column 'minutes', value None: required")


def test_negative_weight():
    _err(one(before=-0.5, after=1.0), "column 'cup_before_g', value -0.5: a weight must be >= 0")


def test_negative_net_weight_names_row_and_column():
    s = pd.concat([one(), one(before=12.0, after=11.5)], ignore_index=True)
    s.index = [10, 11]
    msg = _err(s, "row 11, column 'cup_after_g', value 11.5")
    assert "cup_before_g = 12.0" in msg and "net weight -0.5 g must be >= 0" in msg


@pytest.mark.parametrize("minutes", [0, -5])
def test_non_positive_minutes(minutes):
    _err(one(minutes=minutes), f"column 'minutes', value {minutes}: must be > 0")


def test_implausible_flows():
    derive_flow_rate(one(after=62.0))  # 50 g in 10 min = 5 mL/min: the limit itself is fine
    msg = _err(one(after=62.5), "row 0, column 'cup_after_g', value 62.5")
    assert "5.05 mL/min, above the plausible maximum 5 mL/min for UWS" in msg
    derive_flow_rate(one("SWS", 12.0, 62.0, 5))  # 10 mL/min
    _err(one("SWS", 12.0, 62.05, 5), "above the plausible maximum 10 mL/min for SWS")
    # a 1-minute UWS collection of 6 g is 6 mL/min: implausible whatever the minutes
    _err(one(after=18.0, minutes=1), "6 mL/min")


@settings(max_examples=60, deadline=None)
@given(
    net=st.integers(min_value=0, max_value=3000).map(lambda g: g / 100),
    minutes=st.sampled_from([1.0, 2.0, 2.5, 5.0, 10.0]),
    factor=st.sampled_from([2.0, 4.0]),
)
def test_flow_scales_inversely_with_minutes(net, minutes, factor):
    frame = pd.concat(
        [one("SWS", 10.0, 10.0 + net, minutes), one("SWS", 10.0, 10.0 + net, minutes * factor)],
        ignore_index=True,
    )
    if net / minutes > 10:
        with pytest.raises(DataValidationError):
            derive_flow_rate(frame)
        return
    out = derive_flow_rate(frame)
    f1, f2 = out["flow_ml_min"]
    assert f1 >= 0
    assert f1 == pytest.approx(factor * f2, abs=1e-12)
    assert out["flow_ml_min"].mul(out["minutes"]).tolist() == pytest.approx(
        out["net_weight_g"].tolist()
    )
    assert out["hyposalivation"].tolist() == [f <= 0.5 for f in out["flow_ml_min"]]


# ------------------------------------------------------------------------------ percent change


def test_percent_change_hand_worked():
    assert percent_change(0.12, 0.18) == pytest.approx(50.0)
    assert percent_change(0.66, 0.75) == pytest.approx(13.636363636)
    assert percent_change(0.2, 0.1) == pytest.approx(-50.0)
    assert np.isnan(percent_change(0.0, 0.1))
    assert np.isnan(percent_change(float("nan"), 0.1))
    assert np.isnan(percent_change(0.1, None))
    arr = percent_change([0.1, 0.0], [0.2, 0.3])
    assert isinstance(arr, np.ndarray)
    assert arr[0] == pytest.approx(100.0) and np.isnan(arr[1])
    s = percent_change(pd.Series([0.1, 0.2], index=["a", "b"]), [0.1, 0.3])
    assert s.index.tolist() == ["a", "b"]
    assert s.tolist() == pytest.approx([0.0, 50.0])


def test_percent_change_rejects_2d():
    with pytest.raises(DataValidationError, match="1-D"):
        percent_change(np.ones((2, 2)), np.ones((2, 2)))


@settings(max_examples=100, deadline=None)
@given(
    base=st.floats(min_value=0.01, max_value=5.0),
    value=st.floats(min_value=0.0, max_value=5.0),
)
def test_percent_change_sign_and_identity(base, value):
    pc = percent_change(base, value)
    assert np.sign(pc) == np.sign(value - base)
    assert percent_change(base, base) == 0.0
    assert pc >= -100.0 - 1e-9  # a flow cannot fall by more than 100 %


# ------------------------------------------------------------------------------ responders


def test_responder_hand_worked():
    base = pd.Series([0.10, 0.10, 0.50, 0.0, 0.10, np.nan], index=list("abcdef"))
    follow = pd.Series([0.14, 0.13, 0.65, 0.05, np.nan, 0.2], index=list("abcdef"))
    r = derive_responder(base, follow)
    assert str(r.dtype) == "boolean"
    assert r.index.tolist() == list("abcdef")
    # 40 % yes; 30 % (even with binary noise) no; baseline 0 / missing -> undefined
    assert r.tolist() == [True, False, False, pd.NA, pd.NA, pd.NA]


def test_responder_scalars_and_options():
    assert derive_responder(0.10, 0.14) is True
    assert derive_responder(0.10, 0.12) is False
    assert derive_responder(0.0, 0.12) is pd.NA
    assert derive_responder(0.5, 0.65, operator=">=") is True
    assert derive_responder(0.1, 0.115, threshold_pct=10) is True
    arr = derive_responder([0.1, 0.0], [0.2, 0.1])
    assert arr.tolist() == [True, pd.NA]
    with pytest.raises(DataValidationError, match="operator"):
        derive_responder(0.1, 0.2, operator="in")
    with pytest.raises(DataValidationError, match="threshold_pct"):
        derive_responder(0.1, 0.2, threshold_pct=float("nan"))


def test_responder_rule_comes_from_the_protocol():
    p = load_protocol()
    ten = dataclasses.replace(p, responder=dataclasses.replace(p.responder, value=10.0))
    assert derive_responder(0.10, 0.115) is False  # bundled: > 30 %
    assert derive_responder(0.10, 0.115, protocol=ten) is True
    assert derive_responder(0.10, 0.11, protocol=ten) is False  # exactly 10 %: not above
    at_least = dataclasses.replace(ten, responder=dataclasses.replace(ten.responder, operator=">="))
    assert derive_responder(0.10, 0.11, protocol=at_least) is True
    assert derive_responder(0.10, 0.115, threshold_pct=20, protocol=ten) is False  # given wins
    other = dataclasses.replace(p, responder=dataclasses.replace(p.responder, variable="chg"))
    with pytest.raises(DataValidationError, match="variable = 'pct_change'"):
        derive_responder(0.1, 0.2, protocol=other)


def test_paper_like_responders():
    # 5 of 10 patients above 30 % in UWS (paper): hand-made baseline/4-month pairs
    base = [0.05, 0.10, 0.12, 0.15, 0.20, 0.10, 0.14, 0.16, 0.13, 0.05]
    month4 = [0.05, 0.14, 0.18, 0.16, 0.30, 0.12, 0.20, 0.17, 0.14, 0.07]
    assert int(derive_responder(base, month4).sum()) == 5
