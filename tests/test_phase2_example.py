"""The phase II example (examples/phase2): a second study with no code of its own. Its
definition is checked, its REDCap export imported, its parameters derived, its plan's models
fitted and its report written by the core alone; the derived values and the model results
agree with an independent R derivation and fit (validation/phase2_reference.R ->
tests/reference/phase2_reference.json)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from typer.testing import CliRunner

from xerotrial.cli import app

ROOT = Path(__file__).parents[1]
EXAMPLE = ROOT / "examples" / "phase2"
REFERENCE = ROOT / "tests" / "reference" / "phase2_reference.json"
runner = CliRunner()


def _ok(*args: str) -> str:
    r = runner.invoke(app, list(args))
    assert r.exit_code == 0, r.output
    return r.output


@pytest.fixture(scope="module")
def reported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("phase2")
    db = str(out / "p2.db")
    _ok("study", "check", str(EXAMPLE / "study.toml"))
    _ok("init", "--db", db, "--study", str(EXAMPLE / "study.toml"))
    _ok("import", "redcap", str(EXAMPLE / "records.csv"), "--db", db)
    _ok("report", "--db", db, "--out", str(out / "report"))
    return out / "report"


@pytest.fixture(scope="module")
def reference() -> dict:
    return json.loads(REFERENCE.read_text(encoding="utf-8"))


def _endpoints(reported: Path) -> dict[str, dict]:
    results = json.loads((reported / "results.json").read_text(encoding="utf-8"))
    return {e["name"]: e for e in results["endpoints"]}


def _close(a: float, b: float, rel: float) -> bool:
    return math.isclose(a, b, rel_tol=rel, abs_tol=rel)


def test_the_derived_values_are_rs(reported: Path, reference: dict) -> None:
    import pandas as pd

    bds = pd.read_csv(reported / "tables" / "adbds.csv", dtype={"SUBJID": str})
    for ref in reference["endpoints"]:
        ours = bds[bds["PARAMCD"] == ref["param"]].set_index(["SUBJID", "AVISIT"])
        assert len(ref["analysis_values"]) > 0
        for subject, visit, aval, base, chg in ref["analysis_values"]:
            row = ours.loc[(str(subject), visit)]
            for got, want in ((row["AVAL"], aval), (row["BASE"], base), (row["CHG"], chg)):
                if want is None:
                    assert math.isnan(got), (ref["param"], subject, visit)
                else:
                    assert _close(float(got), float(want), 1e-12), (ref["param"], subject, visit)


def test_the_models_agree_with_r(reported: Path, reference: dict) -> None:
    ours = _endpoints(reported)
    for ref in reference["endpoints"]:
        e = ours[ref["param"]]
        assert "not_run" not in e, e.get("not_run")
        assert e["n_subjects"] == ref["n_subjects"]
        lsm = {(x["ARM"], x["AVISIT"]): x for x in e["lsmeans"]}
        for r in ref["lsmeans"]:
            x = lsm[(r["arm"], r["visit"])]
            assert _close(x["estimate"], r["estimate"], 1e-6), (ref["param"], r)
            assert _close(x["se"], r["se"], 1e-6), (ref["param"], r)
            assert _close(x["df"], r["df"], 1e-6), (ref["param"], r)
        for got_row, want_row in zip(e["covariance_matrix"], ref["covariance"], strict=True):
            for got, want in zip(got_row, want_row, strict=True):
                assert _close(got, want, 1e-6), (ref["param"], "covariance")
        diffs = {x["AVISIT"]: x for x in e["diffs"]}
        for r in ref["diffs"]:
            x = diffs[r["visit"]]
            assert _close(x["estimate"], r["estimate"], 1e-6), (ref["param"], r)
            assert _close(x["se"], r["se"], 1e-6), (ref["param"], r)
            assert _close(x["df"], r["df"], 1e-6), (ref["param"], r)
            assert _close(x["lower"], r["lower"], 1e-6) and _close(x["upper"], r["upper"], 1e-6)
            assert _close(x["p"], r["p"], 1e-6), (ref["param"], r)


def test_the_report_reads_like_a_report(reported: Path) -> None:
    html = (reported / "report.html").read_text(encoding="utf-8")
    assert "(primary endpoint)" in html
    assert "{{" not in html and "{%" not in html
    assert "NOT VERIFIED" not in html
    for e in _endpoints(reported).values():
        assert (reported / "tables" / f"{e['name']}_diffs.csv").is_file()


def test_no_core_code_names_the_example() -> None:
    import tomllib

    from seed_names import code_strings  # tools/ (pytest's pythonpath)

    from xerotrial.study import SEED_STUDY

    def names(path: Path) -> set[str]:
        d = tomllib.loads(path.read_text(encoding="utf-8"))
        arms = d.get("allocation", {}).get("arms", {})
        arms = [a["code"] for a in arms] if isinstance(arms, list) else arms
        fields = {f for form in d["forms"].values() for f in form.get("fields", {})}
        return {*arms, *d["forms"], *d["visits"], *d.get("derivations", {}), *fields}

    # the example's own names (those the seed trial has too, e.g. subject, are the seed's; the
    # domain's words — saliva kinds, the XQ, a baseline, an age — belong to no one study)
    domain = {"baseline", "age", "UWS", "SWS", "XQ", "years_since_radiotherapy"}
    own = names(EXAMPLE / "study.toml") - names(Path(SEED_STUDY)) - domain
    assert {"atmsc", "placebo", "month_4", "uws_before_g"} <= own
    hits = sorted(
        f"{p.relative_to(ROOT)}: {name!r}"
        for p in (ROOT / "src" / "xerotrial").rglob("*.py")
        for name in own & {text for _, text in code_strings(p)}
    )
    assert hits == []


def test_the_study_stores_other_commands(reported: Path, tmp_path: Path) -> None:
    import pandas as pd
    import pyreadstat

    db = str(reported.parent / "p2.db")
    _ok("export", "adam", "--db", db, "--out", str(tmp_path / "adam"), "--format", "xpt")
    xpt, meta = pyreadstat.read_xport(str(tmp_path / "adam" / "adbds.xpt"))
    csv = pd.read_csv(reported / "tables" / "adbds.csv")
    assert meta.table_name == "ADBDS" and len(xpt) == len(csv)
    assert xpt["AVAL"].round(12).equals(csv["AVAL"].round(12))
    header = _ok("template", "sialometry", "--db", db).strip().split(",")
    assert header[:2] == ["subject", "visit"] and header[-1] == "form_status"
    assert "uws_before_g" in header
    assert "sialometry:" in _ok("template", "--list", "--db", db)
    shown = _ok("audit", "show", "--db", db, "--table", "subjects", "--limit", "1")
    assert "insert subjects" in shown
    r = runner.invoke(app, ["audit", "show", "--db", db, "--table", "sites"])
    assert r.exit_code == 2 and "forms: subjects, enrolment" in r.output


SINGLE_ARM_PLAN = """[analysis]

[[analysis.endpoints]]
param = "UWS"
primary = true
response = "AVAL"
visits = ["baseline", "month_1", "month_4", "month_12"]
covariates = []
covariance = "cs"
df = "kenward-roger"
primary_visit = "month_4"

[[analysis.endpoints]]
param = "XQ"
response = "AVAL"
visits = ["baseline", "month_1", "month_4", "month_12"]
covariates = []
covariance = "random-intercept"
df = "kenward-roger"
"""


def test_a_single_arm_plan_agrees_with_r(tmp_path: Path, reference: dict) -> None:
    """The seed trial's kind of analysis (no arms compared: each visit minus baseline) on the
    same data, against R mmrm with compound symmetry and Kenward-Roger."""
    text = (EXAMPLE / "study.toml").read_text(encoding="utf-8")
    (tmp_path / "single.toml").write_text(text[: text.index("[analysis]")] + SINGLE_ARM_PLAN)
    db = str(tmp_path / "single.db")
    _ok("init", "--db", db, "--study", str(tmp_path / "single.toml"))
    _ok("import", "redcap", str(EXAMPLE / "records.csv"), "--db", db)
    _ok("report", "--db", db, "--out", str(tmp_path / "report"))
    ours = _endpoints(tmp_path / "report")
    html = (tmp_path / "report" / "report.html").read_text(encoding="utf-8")
    assert "Each visit minus baseline" in html
    for ref in reference["single_arm"]:
        e = ours[ref["param"]]
        assert e["n_subjects"] == ref["n_subjects"] and e["n_records"] == ref["n_observations"]
        lsm = {x["AVISIT"]: x for x in e["lsmeans"]}
        for r in ref["lsmeans"]:
            for k in ("estimate", "se", "df", "lower", "upper"):
                assert _close(lsm[r["visit"]][k], r[k], 1e-6), (ref["param"], r["visit"], k)
        diffs = {x["contrast"].split(" - ")[0]: x for x in e["diffs"]}
        assert set(diffs) == {r["visit"] for r in ref["diffs"]}
        for r in ref["diffs"]:
            for k in ("estimate", "se", "df", "lower", "upper", "p"):
                assert _close(diffs[r["visit"]][k], r[k], 1e-6), (ref["param"], r["visit"], k)


def test_no_core_code_names_a_seed_form_or_visit() -> None:
    """Issue 12's measure (tools/seed_names.py): outside the seed trial's own modules, no code
    line names one of its forms or visits (the generic words visits and sites aside)."""
    from seed_names import ROOT as SRC
    from seed_names import SEED_VISITS, SHARED_WORDS, is_seed_code, seed_name_lines

    from xerotrial.store.forms import FORMS

    names = frozenset({*FORMS, *SEED_VISITS}) - SHARED_WORDS
    hits = {
        rel: sorted(seed_name_lines(p, names))
        for p in SRC.rglob("*.py")
        if "migrations" not in p.parts
        and not is_seed_code(rel := str(p.relative_to(SRC)))
        and seed_name_lines(p, names)
    }
    assert hits == {}
    assert is_seed_code("store/forms.py") and not is_seed_code("store/study_store.py")
