"""Scintigraphy: per-gland uptake scores and excretion fractions -> means per gland group."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xerotrial.stats.errors import DataValidationError
from xerotrial.trial.scintigraphy import SCINT_PARAM_LABELS, derive_scintigraphy

GLANDS4 = ["left_parotid", "right_parotid", "left_submandibular", "right_submandibular"]
VALUE_COLS = list(SCINT_PARAM_LABELS)


def records(subject="P01", visit="day0", uptake=(3, 2, 1, 0), excr=(60.0, 58.0, 42.0, 38.0)):
    return pd.DataFrame(
        {
            "subject": subject,
            "visit": visit,
            "gland": GLANDS4,
            "uptake_score": list(uptake),
            "excretion_fraction_pct": list(excr),
        }
    )


def test_hand_worked_means():
    rec = pd.concat(
        [records(), records(visit="day120", uptake=(4, 2, 1, 1), excr=(70, 50, 45, 35))],
        ignore_index=True,
    )
    out = derive_scintigraphy(rec)
    assert list(out.columns) == ["subject", "visit", *VALUE_COLS]
    assert out["visit"].tolist() == ["day0", "day120"]
    assert out.iloc[0][VALUE_COLS].tolist() == [1.5, 2.5, 0.5, 49.5, 59.0, 40.0]
    assert out.iloc[1][VALUE_COLS].tolist() == [2.0, 3.0, 1.0, 50.0, 60.0, 40.0]


def test_missing_gland_and_missing_values():
    # left parotid 3, both SMGs 1 and 0; right parotid not assessed
    rec = records(uptake=(3, None, 1, 0), excr=(60.0, None, None, None))
    out = derive_scintigraphy(rec).iloc[0]
    assert out["scint_uptake_all"] == pytest.approx(4 / 3)  # mean over glands ...
    assert (out["scint_uptake_pg"] + out["scint_uptake_smg"]) / 2 == 1.75  # ... not of means
    assert out["scint_excretion_all"] == 60.0 and out["scint_excretion_pg"] == 60.0
    assert np.isnan(out["scint_excretion_smg"])
    only_pg = derive_scintigraphy(records().iloc[:2])
    assert np.isnan(only_pg.loc[0, "scint_uptake_smg"])


def test_gland_names_and_float_scores_and_study_day():
    rec = records(uptake=(3.0, 2.0, 1.0, 0.0)).drop(columns="visit").assign(study_day=92)
    rec["gland"] = ["Left Parotid", "RIGHT-PAROTID", " left submandibular", "right_submandibular"]
    out = derive_scintigraphy(rec)
    assert list(out.columns)[:2] == ["subject", "study_day"]
    assert out.loc[0, "scint_uptake_pg"] == 2.5


def test_order_of_first_appearance_and_subjects():
    rec = pd.concat([records("P02"), records("P01", uptake=(4, 4, 4, 4))], ignore_index=True)
    out = derive_scintigraphy(rec)
    assert out["subject"].tolist() == ["P02", "P01"]
    assert out.loc[1, "scint_uptake_all"] == 4.0


def test_repeated_index_labels():
    rec = pd.concat([records(), records(visit="day120")])  # labels 0-3 twice
    out = derive_scintigraphy(rec)
    assert out["scint_uptake_all"].tolist() == [1.5, 1.5]
    rec = rec.assign(excretion_fraction_pct=[60.0] * 7 + [101.0])
    with pytest.raises(DataValidationError, match="row 3, column 'excretion_fraction_pct'"):
        derive_scintigraphy(rec)


def test_require_all_glands():
    derive_scintigraphy(records(), require_all_glands=True)
    with pytest.raises(DataValidationError, match="no record for gland\\(s\\) \\['right_par"):
        derive_scintigraphy(records().drop(index=1), require_all_glands=True)


def _err(frame, match):
    with pytest.raises(DataValidationError, match=match) as e:
        derive_scintigraphy(frame, source="scint.csv")
    assert str(e.value).startswith("scint.csv: ")


@pytest.mark.parametrize("gland", ["sublingual", "parotid", None, 3])
def test_bad_gland(gland):
    rec = records()
    rec["gland"] = rec["gland"].astype(object)
    rec.loc[2, "gland"] = gland
    _err(rec, "row 2, column 'gland'.*must be one of")


@pytest.mark.parametrize("score", [5, -1, 2.5, "two"])
def test_bad_uptake(score):
    rec = records()
    rec["uptake_score"] = rec["uptake_score"].astype(object)
    rec.loc[1, "uptake_score"] = score
    _err(rec, f"row 1, column 'uptake_score', value {score!r}")


@pytest.mark.parametrize("excr", [100.5, -0.1])
def test_bad_excretion(excr):
    rec = records()
    rec.loc[3, "excretion_fraction_pct"] = excr
    _err(rec, f"row 3, column 'excretion_fraction_pct', value {excr!r}: must be a percentage")


def test_other_errors():
    rec = records()
    rec.loc[3, "gland"] = "left parotid"
    _err(rec, "row 3, column 'gland', value 'left parotid': .*already given in row 0")
    _err(records().drop(columns="gland"), "column 'gland' not found")
    _err(records().drop(columns="visit"), "needs a column 'visit' or 'study_day'")
    _err(records().assign(subject=[None, "P01", "P01", "P01"]), "row 0, column 'subject'")


@settings(max_examples=30, deadline=None)
@given(
    uptake=st.lists(st.integers(0, 4), min_size=4, max_size=4),
    excr=st.lists(st.floats(0, 100, allow_nan=False), min_size=4, max_size=4),
)
def test_all_glands_is_between_pg_and_smg(uptake, excr):
    out = derive_scintigraphy(records(uptake=uptake, excr=excr)).iloc[0]
    for m in ("uptake", "excretion"):
        pg, smg, all_ = out[f"scint_{m}_pg"], out[f"scint_{m}_smg"], out[f"scint_{m}_all"]
        assert all_ == pytest.approx((pg + smg) / 2)  # equal gland counts per group
        assert min(pg, smg) - 1e-9 <= all_ <= max(pg, smg) + 1e-9
    assert 0 <= out["scint_uptake_all"] <= 4
