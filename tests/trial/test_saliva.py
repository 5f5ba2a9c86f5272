"""Saliva composition: Na+, K+, Cl-, PO4 3- (mmol/L) per sample, long format."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xerotrial.stats.errors import DataValidationError
from xerotrial.trial.protocol import load_protocol
from xerotrial.trial.saliva import SALIVA_PARAM_LABELS, derive_saliva_ions, ion_code

# Table 3 baseline means (paper): UWS Na 8.4, K 19.1, Cl 21.7, PO4 4.7; SWS Na 14.7 ...
WIDE = pd.DataFrame(
    {
        "subject": ["P01", "P01"],
        "visit": ["day0", "day0"],
        "kind": ["UWS", "SWS"],
        "na": [8.4, 14.7],
        "k": [19.1, 19.4],
        "cl": [21.7, 26.5],
        "po4": [4.7, 3.8],
        "lab_id": ["L1", "L2"],
    }
)


def test_wide_to_long():
    out = derive_saliva_ions(WIDE)
    assert list(out.columns) == ["subject", "visit", "kind", "ion", "value_mmol_l", "paramcd"]
    assert len(out) == 8
    assert out["kind"].tolist() == ["UWS"] * 4 + ["SWS"] * 4
    assert out["ion"].tolist() == ["Na", "K", "Cl", "PO4"] * 2
    assert out["value_mmol_l"].tolist() == [8.4, 19.1, 21.7, 4.7, 14.7, 19.4, 26.5, 3.8]
    assert out["paramcd"].iloc[5] == "sws_k_mmol_l"
    assert set(out["paramcd"]) == set(SALIVA_PARAM_LABELS)
    assert SALIVA_PARAM_LABELS["uws_po4_mmol_l"] == "UWS phosphate (mmol/L)"
    assert SALIVA_PARAM_LABELS["sws_cl_mmol_l"] == "SWS chloride (mmol/L)"


def test_wide_aliases_missing_values_and_study_day():
    s = pd.DataFrame(
        {
            "subject": ["P02", "P02"],
            "study_day": [0, 120],
            "kind": ["uws", "Sws"],
            "Na+ (mmol/L)": [7.2, np.nan],
            "k_mmol_l": [18.2, 19.4],
        }
    )
    out = derive_saliva_ions(s)
    assert list(out.columns) == ["subject", "study_day", "kind", "ion", "value_mmol_l", "paramcd"]
    assert out[["study_day", "kind", "ion"]].values.tolist() == [
        [0, "UWS", "Na"],
        [0, "UWS", "K"],
        [120, "SWS", "K"],
    ]


def test_repeated_index_labels():
    s = pd.concat([WIDE.iloc[[0]], WIDE.iloc[[1]].set_axis([0])])
    assert derive_saliva_ions(s)["value_mmol_l"].tolist()[4:] == [14.7, 19.4, 26.5, 3.8]


def test_long_input():
    s = pd.DataFrame(
        {
            "subject": ["P01"] * 3,
            "visit": ["day120"] * 3,
            "kind": ["SWS"] * 3,
            "ion": ["sodium", "PO4 3-", "Cl-"],
            "value_mmol_l": [15.7, 3.6, None],
        }
    )
    out = derive_saliva_ions(s)
    assert out["ion"].tolist() == ["Na", "PO4"]
    assert out["value_mmol_l"].tolist() == [15.7, 3.6]


def test_ion_code():
    assert [ion_code(x) for x in ("NA", "k+", "Chloride", "po4^3-", "PO4_mmol_l")] == [
        "Na",
        "K",
        "Cl",
        "PO4",
        "PO4",
    ]
    assert ion_code("calcium") is None and ion_code(3) is None


def test_limits_are_inclusive_and_configurable():
    p = load_protocol()
    at_limit = WIDE.assign(na=[p.saliva_max_mmol_l["Na"], 0.0])
    assert derive_saliva_ions(at_limit)["value_mmol_l"].iloc[0] == 200.0
    from dataclasses import replace
    from types import MappingProxyType

    strict = replace(p, saliva_max_mmol_l=MappingProxyType({**p.saliva_max_mmol_l, "Na": 10.0}))
    with pytest.raises(DataValidationError, match="row 1, column 'na', value 14.7"):
        derive_saliva_ions(WIDE, strict)


def _err(frame, match):
    with pytest.raises(DataValidationError, match=match) as e:
        derive_saliva_ions(frame, source="ions.csv")
    assert str(e.value).startswith("ions.csv: ")


def test_errors():
    _err(WIDE.assign(na=[-0.1, 1.0]), "row 0, column 'na', value -0.1: Na must be between 0 and")
    _err(WIDE.assign(k=[19.1, 150.0]), "row 1, column 'k', value 150.0: K must be between 0")
    _err(WIDE.assign(po4=[4.7, "4,7"]), "row 1, column 'po4', value '4,7': must be a number")
    _err(WIDE.assign(kind=["UWS", "blood"]), "row 1, column 'kind', value 'blood'")
    _err(WIDE.assign(subject=[None, "P01"]), "row 0, column 'subject'")
    _err(WIDE.drop(columns="visit"), "needs a column 'visit' or 'study_day'")
    _err(WIDE.drop(columns=["na", "k", "cl", "po4"]), "no ion column found")
    _err(WIDE.assign(sodium=[1.0, 2.0]), "columns 'na' and 'sodium' both hold Na")
    _err(WIDE.drop(columns="kind"), "column 'kind' not found")
    dup = pd.concat([WIDE, WIDE.iloc[[0]]], ignore_index=True)
    _err(dup, "row 2, column 'na', value 8.4: Na of this sample .* already given in row 0")


def test_long_errors():
    long = pd.DataFrame(
        {"subject": ["P01"], "visit": ["day0"], "kind": ["UWS"], "ion": ["Ca"], "value_mmol_l": [1]}
    )
    _err(long, "row 0, column 'ion', value 'Ca': must be one of")
    _err(long.drop(columns="value_mmol_l"), "'value_mmol_l' is missing")
    _err(long.assign(ion="Cl", value_mmol_l=250.0), "column 'value_mmol_l', value 250.0")


@settings(max_examples=50, deadline=None)
@given(
    st.lists(
        st.tuples(*[st.one_of(st.none(), st.floats(0, 50, allow_nan=False)) for _ in range(4)]),
        min_size=1,
        max_size=6,
    )
)
def test_one_row_per_measured_value(rows):
    frame = pd.DataFrame(rows, columns=["Na", "K", "Cl", "PO4"], dtype=float)
    frame.insert(0, "kind", "UWS")
    frame.insert(0, "study_day", range(len(rows)))
    frame.insert(0, "subject", "P01")
    out = derive_saliva_ions(frame)
    assert len(out) == int(frame[["Na", "K", "Cl", "PO4"]].notna().sum().sum())
    for _, r in out.iterrows():
        assert frame.loc[r["study_day"], r["ion"]] == r["value_mmol_l"]
