"""A report of a store part-way through the trial (interim looks, safety reviews) and of
stores whose protocol differs from the bundled one: the analysis reads the store's protocol.

The stores are the demo's case report forms imported, validated and audited, into fresh
stores (:func:`tests.analysis.partial.cut_store`) cut after study day 1, 5 and 30, or copies
of the demo store with its protocol amended (``init --protocol --reason``).
"""

from __future__ import annotations

import sqlite3
from importlib import resources
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from xerotrial.analysis.build import build_report_data
from xerotrial.analysis.efficacy import derive_adeff, fit_outcomes, outcome_visits
from xerotrial.analysis.summaries import store_protocol
from xerotrial.cli import app
from xerotrial.report.data import ReportData
from xerotrial.store.engine import open_store
from xerotrial.store.export import read_form
from xerotrial.store.migrate import init_store
from xerotrial.trial.protocol import standalone_text

from .partial import cut_store

BUNDLED = standalone_text(
    resources.files("xerotrial").joinpath("data", "protocol.toml").read_text()
)
CUTS = (1, 5, 30)


def _protocol(tmp: Path, name: str, *changes: tuple[str, str]) -> Path:
    text = BUNDLED
    for old, new in changes:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    path = tmp / name
    path.write_text(text, encoding="utf-8")
    return path


def _amended(demo_output: Path, db: Path, protocol: Path) -> Path:
    """A copy of the demo store whose protocol is amended to ``protocol`` (its data as
    imported under the bundled one: these protocols change the analysis, not the import)."""
    with sqlite3.connect(demo_output / "trial.db") as src, sqlite3.connect(db) as dst:
        src.backup(dst)
    src.close()
    dst.close()
    init_store(db, protocol, reason="test: the analysis follows the store's protocol")
    return db


@pytest.fixture(scope="session")
def cut(demo_output: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    """The demo store cut after study day 1, 5 and 30 (databases)."""
    tmp = tmp_path_factory.mktemp("cut")
    out = {}
    for day in CUTS:
        db = tmp / f"day{day}.db"
        cut_store(demo_output / "crf", db, day).dispose()
        out[day] = db
    return out


@pytest.fixture(scope="session")
def data(cut: dict[int, Path]) -> dict[int, ReportData]:
    out = {}
    for day, db in cut.items():
        engine = open_store(db)
        out[day] = build_report_data(engine, str(db))
        engine.dispose()
    return out


def _not_run(d: ReportData, analysis: str) -> pd.DataFrame:
    nr = d.not_run
    return nr[nr["analysis"] == analysis]


def _section(d: ReportData, key: str) -> pd.DataFrame | None:
    return next((s.table for s in d.sections if s.key == key), None)


@pytest.mark.parametrize("day", CUTS)
def test_cut_store_reports_what_is_there(cut, data, day):
    d = data[day]
    engine = open_store(cut[day])
    last = max(read_form(engine, "visits")["visit_date"])
    engine.dispose()
    # the data cut-off: the last date in the store, on the report and in ADSL
    assert d.data_cutoff == last.isoformat()
    assert (d.datasets["adsl"]["DCUTDT"] == last).all()
    # Table 3 cannot run yet, and says why
    assert d.table3.empty
    t3 = _not_run(d, "Table 3")
    assert "no day120 (4 months) data yet" in set(t3["reason"])
    assert "UWS FR, mL/minute" in t3["outcomes"].str.cat(sep="; ")
    for analysis in (
        "Sensitivity analysis: as observed, baseline vs 4 months",
        "Responders at 4 months (> 30% increase from baseline)",
        "Long-term safety follow-up (2 years)",
    ):
        assert len(_not_run(d, analysis)), analysis
    assert "22 of 22 outcomes are not shown" in d.captions["table3"]
    # what can run is there: the contrasts so far, Table 2 (safety so far), Tables 1 and 4
    contrasts = _section(d, "lsmeans")
    uws = contrasts[contrasts["outcome"] == "uws_ml_min"]
    expected = [v for v, at in (("day1", 1), ("day5", 4), ("day30", 23)) if at <= day]
    assert uws["visit"].tolist() == expected
    assert uws["p"].notna().all()
    assert (d.table2["N"] == 10).all()
    assert "have no day120 (4 months) visit yet" in d.captions["table2"]
    assert d.captions["table2"].count(d.data_cutoff) == 1
    assert len(d.table1) and d.consort["followed_up"] == 0
    # the early look runs once day 30 data are there
    early = _section(d, "one_month")
    if day < 23:
        assert early is None
        assert set(_not_run(d, "Results at 1 month (day 30)")["reason"]) == {
            "no day30 (1 month) data yet"
        }
    else:
        assert early["outcome"].tolist() == ["uws_ml_min", "sws_ml_min"]


def test_cut_after_day_1_ions_and_scintigraphy_have_baseline_only(data):
    lsm = _not_run(data[1], "LS means and changes from baseline at every visit")
    assert lsm["reason"].tolist() == [
        "only baseline data so far (next scheduled visit: day30 (1 month))",
        "only baseline data so far (next scheduled visit: day120 (4 months))",
    ]
    assert "XQ" in lsm["outcomes"].iloc[0] and "HNDR" in lsm["outcomes"].iloc[0]
    assert "Saliva composition: UWS sodium" in lsm["outcomes"].iloc[1]
    assert "Scintigraphic uptake score: PG" in lsm["outcomes"].iloc[1]


@pytest.mark.parametrize("day", CUTS)
def test_report_command_on_a_cut_store(cut, data, tmp_path, day):
    out = tmp_path / "report"
    result = CliRunner().invoke(app, ["report", "--db", f"sqlite:///{cut[day]}", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output and result.exception is None
    html = (out / "report.html").read_text(encoding="utf-8")
    assert f'Data cut-off: <strong id="data-cutoff">{data[day].data_cutoff}</strong>' in html
    assert 'id="sec-not_run"' in html and "Planned analyses not run yet" in html
    assert "no day120 (4 months) data yet" in html
    nr = pd.read_csv(out / "tables" / "not_run.csv")
    assert list(nr.columns) == ["analysis", "reason", "outcomes"]
    assert "Table 3" in set(nr["analysis"])
    adsl = pd.read_csv(out / "data" / "adsl.csv")
    assert set(adsl["DCUTDT"]) == {data[day].data_cutoff}
    for name in ("table2.csv", "lsmeans.csv"):
        assert len(pd.read_csv(out / "tables" / name)), name


def test_complete_store_has_nothing_not_run(demo_output: Path):
    nr = pd.read_csv(demo_output / "tables" / "not_run.csv")
    assert nr.empty and list(nr.columns) == ["analysis", "reason", "outcomes"]
    html = (demo_output / "report.html").read_text(encoding="utf-8")
    assert 'id="sec-not_run"' not in html
    assert "Data cut-off" in html and "120 days follow-up" in html


def test_empty_store_exits_2_saying_why(tmp_path):
    db = f"sqlite:///{tmp_path / 'empty.db'}"
    runner = CliRunner()
    assert runner.invoke(app, ["init", "--db", db]).exit_code == 0
    result = runner.invoke(app, ["report", "--db", db, "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert "no patients" in result.output and "Traceback" not in result.output


# ------------------------------------------------------------------ the store's protocol


def test_responders_use_the_stores_threshold(demo_output: Path, tmp_path: Path):
    """With [thresholds.responder] at 10%, 6 patients exceed it for UWS and 4 for SWS."""
    protocol = _protocol(tmp_path, "ten.toml", ("value = 30.0\n", "value = 10.0\n"))
    db = _amended(demo_output, tmp_path / "ten.db", protocol)
    out = tmp_path / "report"
    result = CliRunner().invoke(app, ["report", "--db", f"sqlite:///{db}", "--out", str(out)])
    assert result.exit_code == 0, result.output
    r = pd.read_csv(out / "tables" / "responders.csv").set_index("outcome")
    assert r["responders"].to_dict() == {"uws_ml_min": 6, "sws_ml_min": 4}
    assert (r["n"] == 10).all()
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "Responders at 4 months (&gt; 10% increase from baseline)" in html
    assert "rose by more than 10% from baseline" in html
    assert "30%" not in html.split('id="sec-responders"')[1].split("</section>")[0]
    # the other results do not depend on the threshold
    pd.testing.assert_frame_equal(
        pd.read_csv(out / "tables" / "table3.csv"),
        pd.read_csv(demo_output / "tables" / "table3.csv"),
        rtol=1e-12,
    )


def test_strict_schedule_and_visit_numbers_from_the_protocol(demo_output: Path, tmp_path: Path):
    """unscheduled = "exclude" (the bundled rule): with XQ scheduled at day 0 and 4 months
    only, its day-30 answers are listed and left out of its model; AVISITN is the protocol's,
    not the visit's name."""
    protocol = _protocol(
        tmp_path,
        "strict.toml",
        ('xq = ["day0", "day30", "day120"]', 'xq = ["day0", "day120"]'),
        ("avisitn = 30\n", "avisitn = 31\n"),
    )
    db = _amended(demo_output, tmp_path / "strict.db", protocol)
    engine = open_store(db)
    try:
        p = store_protocol(engine)
        assert p.analysis.unscheduled == "exclude"
        adeff = derive_adeff(engine)
        xq = outcome_visits(adeff, "xq_summary", p)
        assert xq.with_data == ("day0", "day30", "day120")
        assert xq.unscheduled == ("day30",)
        assert xq.model == ("day0", "day120")
        hn = outcome_visits(adeff, "HNDR", p)
        assert hn.model == hn.with_data == ("day0", "day30", "day120") and not hn.unscheduled
        assert outcome_visits(adeff, "uws_ml_min", p).model == p.analysis.efficacy_visits
        assert outcome_visits(adeff, "uws_sodium", p).model == ("day0", "day120")
        models = fit_outcomes(adeff, p)
        assert models.fits["xq_summary"].visits == ("day0", "day120")
        assert models.fits["xq_summary"].df == 9  # containment df of two visits
        assert models.fits["HNDR"].df == 18  # three visits
        assert models.fits["uws_ml_min"].df == 36
        d = build_report_data(engine, str(db))
    finally:
        engine.dispose()
    full = pd.read_csv(demo_output / "tables" / "table3.csv").set_index("outcome")
    t3 = d.table3.set_index("outcome")
    same = ["uws_ml_min", "sws_sodium", "HNDR"]
    pd.testing.assert_frame_equal(t3.loc[same], full.loc[same], rtol=1e-12)
    assert t3.loc["xq_summary", "p_value"] != pytest.approx(full.loc["xq_summary", "p_value"])
    unscheduled = next(s.table for s in d.sections if s.key == "unscheduled")
    assert set(zip(unscheduled["form"], unscheduled["visit"], strict=True)) == {("xq", "day30")}
    assert (unscheduled["handling"] == "left out of the outcome's model").all()
    assert "AVISIT in day0, day120" in d.lineage["table3:xq_summary"][1]
    lsm = d.figure2_lsmeans
    assert set(lsm.loc[lsm["PARAMCD"] == "xq_summary", "AVISIT"]) == {"day0", "day120"}
    shown = d.figure2[d.figure2["PARAMCD"] == "xq_summary"]  # the points of the model
    assert set(shown["AVISIT"]) == {"day0", "day120"}
    assert set(d.figure2.loc[d.figure2["PARAMCD"] == "uws_ml_min", "AVISIT"]) == set(
        p.analysis.efficacy_visits
    )
    assert set(lsm.loc[lsm["AVISIT"] == "day30", "AVISITN"]) == {31.0}
    assert set(lsm.loc[lsm["AVISIT"] == "day120", "AVISITN"]) == {120.0}
