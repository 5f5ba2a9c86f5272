"""Blinding everywhere and the DMC report (issue 14), on the phase II example randomized from a
concealed list (tests/randomize/conftest.py: randomized_phase2)."""

from __future__ import annotations

import csv
import datetime as dt
import json
import math
import re
from pathlib import Path
from statistics import NormalDist

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine

from xerotrial.cli import cli
from xerotrial.randomize.allocate import (
    RandomizationForbiddenError,
    allocation_arms,
    unblind_study,
    unblind_subject,
)
from xerotrial.report.dmc import write_dmc_report
from xerotrial.stats.group_sequential import boundaries
from xerotrial.store.accounts import Actor, User
from xerotrial.store.lock import lock_store

from .conftest import randomized_phase2

LOCAL = Actor.local("tester")
STAT = Actor.of(User("stat", "statistician", None))
DMC = Actor.of(User("dmc", "unblinded-statistician", None))
#: what names an arm: the codes and labels of the definition's arms
ARM_WORDS = ("atmsc", "at-msc", "placebo")
ARM_COLUMNS = {"arm", "ARM", "ARMCD", "TRT01P", "TRT01A", "ACTARM"}
TITLE = "a randomized, placebo-controlled phase II trial"  # the study's title names one
AS_OF = dt.date.today() + dt.timedelta(days=200)  # month 4's window has closed


@pytest.fixture(scope="module")
def blinded(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('blinded') / 'phase2.db'}"
    randomized_phase2(url).dispose()
    return url


def _run(*args: str):  # noqa: ANN202
    return CliRunner().invoke(cli, list(args))


def test_every_file_a_blinded_export_or_report_writes_carries_no_arm(
    blinded: str, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    for args in (
        ["report", "--db", blinded, "--out", str(out / "report"), "--format", "rtf"],
        ["report", "--db", blinded, "--out", str(out / "dmc"), "--dmc", "open"],
        ["export", "raw", "--db", blinded, "--out", str(out / "raw")],
        ["export", "raw", "--db", blinded, "--out", str(out / "redcap"), "--format", "redcap"],
        ["export", "adam", "--db", blinded, "--out", str(out / "adam"), "--format", "csv"],
        ["export", "sdtm", "--db", blinded, "--out", str(out / "sdtm"), "--format", "csv"],
        ["export", "odm", "--db", blinded, "--out", str(out / "odm.xml")],
    ):
        r = _run(*args)
        assert r.exit_code == 0, (args, r.output)
    files = sorted(p for p in out.rglob("*") if p.is_file())
    assert len(files) >= 20 and out / "report" / "report.rtf" in files
    # the planned arms of the trial design (SDTM's TA and TE, and define.xml describing
    # them) are the protocol's, not a subject's allocation
    design = {out / "sdtm" / name for name in ("ta.csv", "te.csv", "define.xml", "define.html")}
    for path in files:
        if path in design:
            continue
        text = path.read_text(encoding="utf-8").replace(TITLE, "")
        assert not [w for w in ARM_WORDS if w in text.lower()], path
        if path.suffix == ".csv":
            with path.open(encoding="utf-8") as fh:
                for row in csv.DictReader(fh):
                    assert not any(row.get(c) for c in ARM_COLUMNS), (path, row)
    for status in out.rglob("AUDIT_STATUS.txt"):  # and every export says so
        assert "blinding: BLINDED: the arms are pooled" in status.read_text(encoding="utf-8")
    report = (out / "report" / "report.html").read_text(encoding="utf-8")
    assert "Blinded: the arms are pooled in this report." in report
    assert "all arms (blinded)" in report
    assert json.loads((out / "report" / "results.json").read_text())["blinded"] is True
    assert "Pooled: this report shows no arm (the study is blinded)" in (
        out / "dmc" / "dmc_report.html"
    ).read_text(encoding="utf-8")


def test_the_closed_session_is_only_for_those_who_may_see_arms(
    blinded: str, tmp_path: Path
) -> None:
    from xerotrial.store.engine import open_store

    engine = open_store(blinded)
    try:
        with pytest.raises(RandomizationForbiddenError, match="may not see them"):
            write_dmc_report(engine, tmp_path, session="closed", actor=STAT, source="t")
        assert not (tmp_path / "dmc_report.html").exists()
        path = write_dmc_report(
            engine, tmp_path / "c", session="closed", actor=DMC, source="t", as_of=AS_OF
        )
        html = path.read_text(encoding="utf-8")
        assert "CLOSED SESSION: CONFIDENTIAL" in html
        with engine.connect() as conn:
            arms = allocation_arms(conn, DMC)
    finally:
        engine.dispose()
    tables = tmp_path / "c" / "tables"
    deaths = list(csv.DictReader((tables / "sae_deaths_by_arm.csv").open(encoding="utf-8")))
    assert {r["arm"] for r in deaths} == {"atmsc", "placebo"}
    assert sum(int(r["randomized"]) for r in deaths) == len(arms) == 38
    n = {a: sum(1 for x in arms.values() if x == a) for a in ("atmsc", "placebo")}
    assert {r["arm"]: int(r["randomized"]) for r in deaths} == n
    ae = list(csv.DictReader((tables / "ae_by_soc_term_grade.csv").open(encoding="utf-8")))
    assert ae and {r["arm"] for r in ae} <= {"atmsc", "placebo"}
    enrol = list(csv.DictReader((tables / "randomized.csv").open(encoding="utf-8")))
    assert sum(int(r["randomized"]) for r in enrol) == 38 and "arm" in enrol[0]


def test_the_interim_look_is_lan_demets_at_the_observed_fraction(
    blinded: str, tmp_path: Path
) -> None:
    from xerotrial.store.engine import open_store

    engine = open_store(blinded)
    try:
        write_dmc_report(engine, tmp_path, session="closed", actor=DMC, source="t", as_of=AS_OF)
    finally:
        engine.dispose()
    out = json.loads((tmp_path / "dmc.json").read_text(encoding="utf-8"))
    look = out["interim"]
    primary = next(e for e in out["efficacy"] if e["primary"])
    diff = next(d for d in primary["diffs"] if d["AVISIT"] == "month_4")
    assert (look["endpoint"], look["visit"], look["planned_subjects"]) == ("UWS", "month_4", 40)
    assert look["information_fraction"] == look["subjects"] / 40 and 0 < look["subjects"] <= 38
    b = boundaries([look["information_fraction"], 1.0], alpha=0.025, spending="obrien-fleming")
    assert look["critical_z"] == b.critical_values[0] and look["alpha_spent"] == b.alpha_spent[0]
    assert look["z"] == pytest.approx(diff["estimate"] / diff["se"], rel=1e-12)
    assert look["crossed"] == (look["z"] >= look["critical_z"])
    assert look["previous_looks"] == [] and look["futility"] == (look["z"] < 0.0)
    # conditional power under the current trend, from the B-value B(t) = z sqrt(t)
    t, z = look["information_fraction"], look["z"]
    final = boundaries([t, 1.0], alpha=0.025, spending="obrien-fleming").critical_values[1]
    b, drift = z * math.sqrt(t), z / math.sqrt(t)
    cp = 1 - NormalDist().cdf((final - b - drift * (1 - t)) / math.sqrt(1 - t))
    assert look["conditional_power"] == pytest.approx(cp, abs=1e-12)


def test_a_later_look_spends_after_the_looks_taken(tmp_path: Path) -> None:

    from .conftest import DEFINITION

    text = DEFINITION.read_text(encoding="utf-8").replace(
        "previous_looks = []", "previous_looks = [0.3, 0.5]"
    )
    definition = tmp_path / "study.toml"
    definition.write_text(text, encoding="utf-8")
    engine = randomized_phase2(f"sqlite:///{tmp_path / 'p.db'}", definition=definition)
    try:
        write_dmc_report(engine, tmp_path, session="closed", actor=DMC, source="t", as_of=AS_OF)
    finally:
        engine.dispose()
    look = json.loads((tmp_path / "dmc.json").read_text(encoding="utf-8"))["interim"]
    t = look["information_fraction"]
    b = boundaries([0.3, 0.5, t], alpha=0.025, spending="obrien-fleming")
    assert look["previous_looks"] == [0.3, 0.5]
    assert (look["critical_z"], look["alpha_spent"]) == (b.critical_values[2], b.alpha_spent[2])
    first = boundaries([t], alpha=0.025, spending="obrien-fleming").critical_values[0]
    assert look["critical_z"] > first  # the earlier looks spent part of the alpha: less is left


def test_emergency_unblinding_is_listed_pooled_in_the_open_session(tmp_path: Path) -> None:
    engine: Engine = randomized_phase2(f"sqlite:///{tmp_path / 'p.db'}")
    try:
        arm = unblind_subject(engine, subject="101", actor=LOCAL, reason="anaphylaxis")
        write_dmc_report(engine, tmp_path / "o", session="open", actor=STAT, source="t")
        write_dmc_report(engine, tmp_path / "c", session="closed", actor=DMC, source="t")
    finally:
        engine.dispose()
    opened = list(csv.DictReader((tmp_path / "o/tables/unblindings.csv").open(encoding="utf-8")))
    closed = list(csv.DictReader((tmp_path / "c/tables/unblindings.csv").open(encoding="utf-8")))
    assert [(r["subject"], r["reason"], r["by"]) for r in opened] == [
        ("101", "anaphylaxis", "local:tester")
    ]
    assert "arm" not in opened[0] and closed[0]["arm"] == arm


def test_after_the_studys_unblinding_the_report_compares_the_arms(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'p.db'}"
    engine = randomized_phase2(url)
    try:
        lock_store(engine, actor=LOCAL, reason="database lock")
        unblind_study(engine, actor=DMC, decision="final analysis: unblind (DMC minutes 12)")
    finally:
        engine.dispose()
    r = _run("report", "--db", url, "--out", str(tmp_path / "report"))
    assert r.exit_code == 0, r.output
    html = (tmp_path / "report" / "report.html").read_text(encoding="utf-8")
    assert "Blinded" not in html and "AT-MSC" in html and "Model not run" not in html
    r = _run("export", "raw", "--db", url, "--out", str(tmp_path / "raw"))
    status = (tmp_path / "raw" / "AUDIT_STATUS.txt").read_text(encoding="utf-8")
    assert "blinding: unblinded at database lock" in status
    rows = list(csv.DictReader((tmp_path / "raw" / "subjects.csv").open(encoding="utf-8")))
    assert sum(1 for x in rows if x["arm"]) == 38  # the randomized ones


@pytest.mark.parametrize(
    ("line", "rule"),
    [
        ("previous_looks = [0.5, 0.3]", "the information fractions of the looks taken"),
        ("previous_looks = [1.2]", "the information fractions of the looks taken"),
        ('futility_z = "low"', "must be a number (a z value)"),
        ('spending = "haybittle"', "must be one of obrien-fleming, pocock"),
        ("planned_subjects = 1", "an interim look needs planned_subjects"),
    ],
)
def test_the_dmc_plan_is_checked(tmp_path: Path, line: str, rule: str) -> None:
    from xerotrial.study import load_study
    from xerotrial.study.check import StudyDefinitionError

    from .conftest import DEFINITION

    key = line.split(" = ")[0]
    text = DEFINITION.read_text(encoding="utf-8")
    text = re.sub(rf"^{key} = .*$", line, text, count=1, flags=re.M)
    path = tmp_path / "study.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(StudyDefinitionError) as err:
        load_study(path)
    hits = [p for p in err.value.problems if p.column.startswith("analysis.dmc")]
    assert hits and rule in hits[0].rule, err.value.problems
