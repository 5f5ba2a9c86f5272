"""The trial-level summaries of the SYNTHETIC demo trial's store tell the paper's story."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from demo_calibration.generate import (
    BATCH_DONOR,
    CONTROLS,
    PATIENT_BATCH,
    PATIENTS,
)
from scipy import stats
from sqlalchemy import Engine

from tests.trial.test_safety import paper_ae
from xerotrial.analysis import summaries
from xerotrial.analysis.summaries import (
    ADSL_COLUMNS,
    consort,
    data_cutoff,
    long_term_followup,
    protocol_deviations,
    release,
    subject_level,
    table1,
    table2,
    table4,
)
from xerotrial.report.data import TABLE1_COLUMNS
from xerotrial.stats.errors import DataValidationError
from xerotrial.store.engine import open_store
from xerotrial.store.export import adam_datasets, read_form
from xerotrial.store.importer import import_frame
from xerotrial.store.migrate import init_store
from xerotrial.trial.eligibility import REASONS
from xerotrial.trial.protocol import load_protocol
from xerotrial.trial.safety import PAPER_TABLE2_LABELS, tabulate_table2


@pytest.fixture(scope="module")
def store(demo_output: Path) -> Iterator[tuple[Engine, Path]]:
    """The demo's store: every demo form imported from the written CSV files (read only)."""
    db = demo_output / "trial.db"
    engine = open_store(db)
    yield engine, db
    engine.dispose()


@pytest.fixture(scope="module")
def engine(store) -> Engine:
    return store[0]


@pytest.fixture(scope="module")
def adsl(engine) -> pd.DataFrame:
    return subject_level(engine)


def _copy(db: Path, to: Path) -> Engine:
    """A copy of the store (SQLite backup API, so the WAL is included)."""
    src, dst = sqlite3.connect(db), sqlite3.connect(to)
    try:
        src.backup(dst)
    finally:
        src.close()
        dst.close()
    return open_store(to)


def _row(table: pd.DataFrame, characteristic: str) -> pd.Series:
    hit = table[table["characteristic"] == characteristic]
    assert len(hit) == 1, characteristic
    return hit.iloc[0]


# ----------------------------------------------------------------------------- ADSL


def test_subject_level(engine, adsl):
    assert list(adsl.columns) == list(ADSL_COLUMNS) and len(adsl) == 20
    assert adsl["USUBJID"].tolist() == [*PATIENTS, *CONTROLS]
    pat = adsl.set_index("USUBJID").loc[list(PATIENTS)]
    ctrl = adsl.set_index("USUBJID").loc[list(CONTROLS)]
    assert pat["COHORT"].tolist() == ["CS5"] * 5 + ["CS10"] * 5
    assert (ctrl["COHORT"] == "").all() and (ctrl["SAFFL"] == "").all()
    assert (pat["SAFFL"] == "Y").all()
    assert pat["BATCH"].to_dict() == PATIENT_BATCH
    assert pat["DONOR"].to_dict() == {s: BATCH_DONOR[b] for s, b in PATIENT_BATCH.items()}
    assert (ctrl[["DONOR", "BATCH"]] == "").all().all()
    assert pat.loc["P01", "TRTSDT"] == dt.date(2019, 4, 29)
    assert pat.loc["P10", "TRTSDT"] == dt.date(2020, 1, 8)
    assert ctrl["TRTSDT"].isna().all()
    assert pat.index[pat["FU2YFL"] == "Y"].tolist() == ["P01", "P02", "P03", "P04"]
    assert (pat.loc[["P01", "P02", "P03", "P04"], "LASTDY"] >= 700).all()
    assert pat.loc[["P09", "P10"], "LASTDY"].between(88, 93).all()
    assert (ctrl["LASTDY"] == 0).all() and (ctrl["FU2YFL"] == "").all()
    people = read_form(engine, "participants").set_index("subject")
    assert ctrl["MATCHED_TO"].to_dict() == people.loc[list(CONTROLS), "matched_to"].to_dict()
    assert (pat["MATCHED_TO"] == "").all()
    assert adsl["AGE"].dtype == "Int64"
    # the data cut-off: the last date in the store (the last 2-year visit), on every row
    last = max(read_form(engine, "visits")["visit_date"])
    assert (adsl["DCUTDT"] == last).all() and last == data_cutoff(engine)
    assert last > dt.date(2021, 1, 1)


# ----------------------------------------------------------------------------- Table 1


def test_table1_demographics(engine, adsl):
    t = table1(engine, adsl)
    assert list(t.columns) == list(TABLE1_COLUMNS)
    assert set(t["section"]) == {"Demographics", "Saliva at baseline"}
    n = _row(t, "Participants")
    assert (n["patients"], n["controls"]) == ("10", "10")
    assert _row(t, "Sex, men")["patients"] == "7 (70%)"
    assert _row(t, "Sex, women")["patients"] == "3 (30%)"
    assert _row(t, "Age, years")["patients"] == "59.5 (45-70)"
    cs5 = t[t["characteristic"].str.startswith("Cohort, CS5 ")].iloc[0]
    cs10 = t[t["characteristic"].str.startswith("Cohort, CS10 ")].iloc[0]
    assert (cs5["patients"], cs10["patients"]) == ("5 (50%)", "5 (50%)")
    assert cs5["controls"] == cs10["controls"] == ""
    # matched on sex, race and education: the controls' counts are the patients'
    for prefix in ("Sex, ", "Race, ", "Education, "):
        rows = t[t["characteristic"].str.startswith(prefix)]
        assert len(rows) and (rows["patients"] == rows["controls"]).all(), prefix
    assert t.loc[t["section"] == "Demographics", "p_value"].isna().all()


def test_table1_saliva_at_baseline(engine, adsl):
    t = table1(engine, adsl)
    saliva = t[t["section"] == "Saliva at baseline"]
    assert len(saliva) == 2 + 8 and (saliva["statistic"] == "mean (SD)").all()
    assert np.isfinite(saliva["p_value"].to_numpy(float)).all()
    uws = _row(t, "UWS flow rate, mL/min")
    assert 0.40 <= float(uws["controls"].split()[0]) <= 0.50  # paper: 0.45 mL/min
    assert float(uws["patients"].split()[0]) == 0.13  # paper: 0.13 mL/min at baseline
    assert uws["p_value"] < 0.001
    na = _row(t, "UWS sodium (Na), mmol/L")
    assert na["patients"].count(".") == 2 and na["p_value"] > 0.05  # comparable at baseline
    ions = saliva[saliva["characteristic"].str.contains("mmol/L")]
    assert len(ions) == 8 and (ions["p_value"] > 0.05).all()


def test_welch_p_by_hand(engine, adsl):
    """The UWS row's p is Welch's t-test, written out with scipy.stats.t."""
    flow = adam_datasets(engine)["adflow"]
    base = flow[(flow["PARAMCD"] == "uws_ml_min") & (flow["ABLFL"] == "Y")]
    a = base.loc[base["USUBJID"].isin(PATIENTS), "AVAL"].to_numpy(float)
    b = base.loc[base["USUBJID"].isin(CONTROLS), "AVAL"].to_numpy(float)
    assert len(a) == len(b) == 10
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    t_stat = (a.mean() - b.mean()) / math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    p = 2 * stats.t.sf(abs(t_stat), df)
    row = _row(table1(engine, adsl), "UWS flow rate, mL/min")
    assert row["p_value"] == pytest.approx(p, rel=1e-10)
    assert row["controls"] == f"{b.mean():.2f} ({b.std(ddof=1):.2f})"


# ----------------------------------------------------------------------------- Tables 2, 4


def _sum(table: pd.DataFrame, block: str, label: str, after: str | None = None) -> int:
    rows = table[table["block"] == block].reset_index(drop=True)
    if after is not None:
        rows = rows.iloc[int(np.flatnonzero(rows["label"] == after)[0]) + 1 :]
    return int(rows.loc[rows["label"] == label, "Sum"].iloc[0])


def test_table2_is_the_papers(engine, adsl):
    t = table2(engine, adsl)
    pd.testing.assert_frame_equal(t, tabulate_table2(paper_ae(), 10, labels=PAPER_TABLE2_LABELS))
    assert (t["N"] == 10).all()
    assert _sum(t, "related", "Grade 1", after="Pain at injection site") == 10
    assert _sum(t, "related", "Grade 3", after="Syncope, vasovagal") == 1
    assert _sum(t, "serious", "Grade 3", after="Stroke") == 1
    assert _sum(t, "not related", "Grade 1", after="Flu-like symptoms") == 3
    assert _sum(t, "serious", "Serious adverse events") == 1
    assert _sum(t, "serious", "SAEs, not related") == 1
    assert _sum(t, "serious", "SAEs, study related") == 0


def test_table4_dsa_story(engine):
    t = table4(engine)
    assert set(t["subject"]) == {"P02", "P03", "P05", "P07", "P10"}
    dsa = t[t["dsa"]]
    assert set(dsa.loc[dsa["onset"] == "pre-existing", "subject"]) == {"P07"}
    assert set(dsa.loc[dsa["onset"] == "de novo", "subject"]) == {"P05", "P10"}
    assert not t.loc[t["subject"].isin(["P02", "P03"]), "dsa"].any()
    assert {"mfi_day_0", "mfi_day_30", "mfi_day_120"} <= set(t.columns)


# ----------------------------------------------------------------------------- CONSORT etc.


def test_consort(engine, adsl, demo_output):
    c = consort(engine, adsl)
    got = [c[k] for k in ("screened", "not_eligible", "enrolled")]
    got += [c["cohorts"]["CS5"], c["cohorts"]["CS10"]]
    got += [c[k] for k in ("followed_up", "analysed", "controls", "long_term")]
    assert got == [17, 7, 10, 5, 5, 10, 10, 10, 4]
    assert c["followed_up_label"] == "4 months"  # the protocol's primary visit
    assert list(c["cohorts"]) == ["CS5", "CS10"]
    # the screening log the store was built from (the demo's CRF; demo_forms() would rerun
    # the whole calibration for it)
    screening = pd.read_csv(demo_output / "crf" / "screening.csv")
    codes = [x for t in screening["failed_criteria"].dropna() for x in t.split(";")]
    assert c["reasons"] == {r: codes.count(r) for r in REASONS if r in codes}
    assert sum(c["reasons"].values()) >= c["not_eligible"]


def test_long_term_followup(engine, adsl):
    lt = long_term_followup(engine, adsl)
    assert lt["USUBJID"].tolist() == ["P01", "P02", "P03", "P04"]
    assert (lt["LASTDY"] >= 700).all()
    assert (lt[["N_AE_LATE", "N_SAE_LATE", "N_SAE_RELATED"]] == 0).all().all()


def test_protocol_deviations(engine):
    d = protocol_deviations(engine)
    assert d[["USUBJID", "VISIT"]].values.tolist() == [["P09", "day120"], ["P10", "day120"]]
    assert d["STUDY_DAY"].between(88, 93).all() and (d["TARGET"] == "[106, 134]").all()
    assert d["REASON"].str.contains("early").all()


def test_release(engine):
    r = release(engine)
    assert r["BATCH"].tolist() == list(BATCH_DONOR)
    assert r["DONOR"].tolist() == list(BATCH_DONOR.values())
    assert r["RELEASED"].all() and (r["FAILED"] == "").all()
    assert r["N_PATIENTS"].sum() == 10 and (r["VIABILITY"] > 80).all()
    assert (r["STERILITY"] == "negative").all()


def test_release_limits_come_from_the_protocol():
    p = load_protocol()
    strict = [
        dataclasses.replace(r, value=99.5) if r.variable == "viability" else r for r in p.release
    ]
    limits = summaries._release_limits(dataclasses.replace(p, release=tuple(strict)))
    assert limits.viability_min == 99.5 and limits.cd45_max == 3.0
    loose = [
        dataclasses.replace(r, operator=">=") if r.variable == "cd90" else r for r in p.release
    ]
    with pytest.raises(DataValidationError, match="cd90"):
        summaries._release_limits(dataclasses.replace(p, release=tuple(loose)))


def test_late_events_leave_table2_for_the_long_term_follow_up(store, tmp_path):
    """AEs after the 4-month window (day 150) are not in Table 2 but in the follow-up."""
    engine = _copy(store[1], tmp_path / "copy.db")
    try:
        late = pd.DataFrame(
            [
                {
                    "ae_id": "AE90",
                    "subject": "P02",
                    "term": "Stroke",
                    "grade": 3,
                    "serious": True,
                    "sae_criteria": "hospitalisation",
                    "related": "not related",
                    "onset_day": 400,
                },
                {
                    "ae_id": "AE91",
                    "subject": "P03",
                    "term": "Flu like symptoms",
                    "grade": 1,
                    "serious": False,
                    "sae_criteria": None,
                    "related": "not related",
                    "onset_day": 151,
                },
                {
                    "ae_id": "AE92",
                    "subject": "P03",
                    "term": "Stroke",
                    "grade": 3,
                    "serious": True,
                    "sae_criteria": "hospitalisation",
                    "related": "possible",
                    "onset_day": 700,
                },
            ]
        )
        import_frame(engine, "adverse_events", late, user="demo")
        adsl = subject_level(engine)
        pd.testing.assert_frame_equal(table2(engine, adsl), table2(store[0], adsl))
        lt = long_term_followup(engine, adsl).set_index("USUBJID")
        counts = lt[["N_AE_LATE", "N_SAE_LATE", "N_SAE_RELATED"]]
        assert counts.loc["P02"].tolist() == [1, 1, 0]
        assert counts.loc["P03"].tolist() == [2, 1, 1]
        assert counts.loc[["P01", "P04"]].eq(0).all().all()
        control = pd.DataFrame(
            [
                {
                    "ae_id": "AE93",
                    "subject": "C01",
                    "term": "Pain",
                    "grade": 1,
                    "serious": False,
                    "sae_criteria": None,
                    "related": "not related",
                    "onset_day": 0,
                }
            ]
        )
        import_frame(engine, "adverse_events", control, user="demo")
        with pytest.raises(DataValidationError, match="not treated: C01"):
            table2(engine, adsl)
    finally:
        engine.dispose()


def test_empty_store(tmp_path):
    db = tmp_path / "empty.db"
    init_store(db)
    engine = open_store(db)
    try:
        adsl = subject_level(engine)
        assert len(adsl) == 0 and data_cutoff(engine) is None
        c = consort(engine, adsl)
        assert c["screened"] == c["enrolled"] == c["long_term"] == 0
        assert c["cohorts"] == {"CS5": 0, "CS10": 0}
        assert protocol_deviations(engine).empty and long_term_followup(engine, adsl).empty
        assert release(engine).empty
    finally:
        engine.dispose()
