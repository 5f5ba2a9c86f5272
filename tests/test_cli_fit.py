"""`xerotrial fit`: the command-line contract and its error messages (exit status 2)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from xerotrial.cli import app

EXAMPLE = Path(__file__).resolve().parents[1] / "src" / "xerotrial" / "data" / "example_uws.csv"
SLEEP = Path(__file__).resolve().parent / "reference" / "sleepstudy.csv"
REF = json.loads((Path(__file__).resolve().parent / "reference" / "r_references.json").read_text())
MIXED = Path(__file__).resolve().parent / "reference" / "r_mixed.json"
runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, ["fit", *map(str, args)])


def test_json_contract_matches_r_on_sleepstudy():
    order = ",".join(f"d{i}" for i in range(10))
    res = run(
        SLEEP,
        "--formula",
        "Reaction ~ Day",
        "--subject",
        "Subject",
        "--time",
        "Day",
        "--covariance",
        "random-intercept",
        "--df",
        "kenward-roger",
        "--lsmeans",
        "Day",
        "--reference",
        "d0",
        "--time-order",
        order,
        "--json",
    )
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    ref = REF["sleepstudy_random_intercept"]
    assert out["n_obs"] == 180 and out["n_subjects"] == 18 and out["converged"] is True
    assert out["neg2_reml_loglik"] == pytest.approx(ref["neg2_reml_loglik"], rel=1e-9)
    cov = out["covariance"]
    assert cov["structure"] == "random-intercept"
    assert set(cov["parameters"]) == {"Intercept", "Residual"}
    assert len(cov["matrix"]) == 10 and cov["matrix"][0][1] == pytest.approx(
        ref["covariance_parameters"]["subject_intercept_variance"], rel=1e-6
    )
    assert [set(f) >= {"term", "estimate", "se", "df", "t", "p"} for f in out["fixed"]]
    lsm = out["lsmeans"]
    assert [r["Day"] for r in lsm] == order.split(",")
    for ours, theirs in zip(lsm, ref["lsmeans"]["kenward_roger"], strict=True):
        assert ours["estimate"] == pytest.approx(theirs["emmean"], rel=1e-6)
        assert ours["lower"] == pytest.approx(theirs["lower.CL"], rel=1e-6)
        assert ours["df"] == pytest.approx(theirs["df"], rel=1e-4)
    con = out["contrasts"]
    assert [c["contrast"] for c in con] == [f"d{i} - d0" for i in range(1, 10)]
    for ours, theirs in zip(con, ref["contrasts_vs_baseline"]["kenward_roger"], strict=True):
        assert ours["p"] == pytest.approx(theirs["p.value"], rel=1e-4)
        assert ours["upper"] == pytest.approx(theirs["upper.CL"], rel=1e-6)


def test_by_factor_keys(tmp_path):
    res = run(
        EXAMPLE,
        "--formula",
        "uws ~ visit * cohort",
        "--subject",
        "subject",
        "--time",
        "visit",
        "--covariance",
        "cs",
        "--df",
        "satterthwaite",
        "--lsmeans",
        "visit",
        "--by",
        "cohort",
        "--reference",
        "day0",
        "--json",
    )
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert {"visit", "cohort", "estimate", "se", "df", "lower", "upper"} <= set(out["lsmeans"][0])
    assert len(out["lsmeans"]) == 10
    assert {"contrast", "cohort", "estimate", "se", "df", "t", "p", "lower", "upper"} <= set(
        out["contrasts"][0]
    )
    assert out["contrasts"][0]["contrast"] == "day1 - day0"
    assert out["n_missing_response"] == 1 and out["n_obs"] == 49


def test_readable_tables():
    res = run(
        EXAMPLE,
        "--formula",
        "uws ~ visit",
        "--subject",
        "subject",
        "--time",
        "visit",
        "--covariance",
        "random-intercept",
        "--df",
        "containment",
        "--lsmeans",
        "visit",
    )
    assert res.exit_code == 0, res.output
    for text in ("Covariance parameters", "Fixed effects", "LS means of visit", "day120 - day0"):
        assert text in res.stdout


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "data.csv"
    p.write_text(text)
    return p


@pytest.mark.parametrize(
    ("csv", "args", "needle"),
    [
        (
            "subject,visit,uws\nA,d0,0.1\nA,d1,abc\nB,d0,0.2\nB,d1,0.3\n",
            [],
            "line 3 (data row 2), column 'uws': value 'abc' is not a number",
        ),
        (
            "subject,visit,uws\nA,d0,0.1\nA,d0,0.2\nB,d0,0.2\nB,d1,0.3\n",
            [],
            "lines 2 and 3: subject 'A' has more than one row",
        ),
        (
            "subject,visit,uws\nA,d0,0.1\nA,d1,0.2\nB,d0,0.2\nB,d1,0.3\n",
            ["--time-order", "d0,d1,d2"],
            "time level(s) ['d2'] of column 'visit' have no",
        ),
        (
            "subject,visit,uws\nA,d0,0.1\nA,d1,\nB,d0,0.2\nB,d1,\n",
            [],
            "time level(s) ['d1'] of column 'visit' have no",
        ),
        ("subj,visit,uws\nA,d0,0.1\n", [], "column(s) ['subject'] not found"),
    ],
)
def test_bad_input_exits_2_without_traceback(tmp_path, csv, args, needle):
    p = _write(tmp_path, csv)
    res = run(p, "--formula", "uws ~ visit", "--subject", "subject", "--time", "visit", *args)
    assert res.exit_code == 2
    assert needle in res.output.replace("\n", " ")
    assert str(p) in res.output.replace("\n", "")
    assert "Traceback" not in res.output


def test_formula_term_not_a_column_and_rank_deficiency(tmp_path):
    res = run(EXAMPLE, "--formula", "uws ~ visit + dose", "--subject", "subject", "--time", "visit")
    assert res.exit_code == 2 and "['dose'] not found" in res.output
    d = pd.read_csv(EXAMPLE)
    d["copy"] = d["cohort"]
    p = tmp_path / "dup.csv"
    d.to_csv(p, index=False)
    res = run(
        p,
        "--formula",
        "uws ~ visit + cohort + copy",
        "--subject",
        "subject",
        "--time",
        "visit",
        "--covariance",
        "cs",
    )
    assert res.exit_code == 2 and "not of full rank" in res.output


def test_unknown_options_and_missing_file(tmp_path):
    assert run(tmp_path / "none.csv", "--formula", "y ~ x", "--subject", "s").exit_code == 2
    res = run(
        EXAMPLE,
        "--formula",
        "uws ~ visit",
        "--subject",
        "subject",
        "--time",
        "visit",
        "--covariance",
        "banded",
    )
    assert res.exit_code == 2 and "not one of" in res.output
    res = run(
        EXAMPLE,
        "--formula",
        "uws ~ visit",
        "--subject",
        "subject",
        "--time",
        "visit",
        "--df",
        "magic",
    )
    assert res.exit_code == 2


def _kr_fit(*extra: str) -> dict:
    case = json.loads(MIXED.read_text())["trial_like_ri_arm_visit_base_reml"]
    data = MIXED.parent / "data" / case["data"]
    res = run(
        data,
        "--formula",
        "y ~ arm * visit + base",
        "--subject",
        "subject",
        "--time",
        "visit",
        "--time-order",
        ",".join(case["time_levels"]),
        "--covariance",
        "random-intercept",
        "--df",
        "kenward-roger",
        "--lsmeans",
        "visit",
        "--reference",
        "day0",
        "--json",
        *extra,
    )
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


def test_kr_information_expected_reproduces_pbkrtest():
    """--kr-information expected gives R's Kenward-Roger df (pbkrtest, through lmerTest and
    emmeans); the default, observed, is SAS's DDFM=KR and differs in the first decimal."""
    case = json.loads(MIXED.read_text())["trial_like_ri_arm_visit_base_reml"]
    expected = _kr_fit("--kr-information", "expected")
    observed = _kr_fit()
    assert expected["kr_information"] == "expected" and observed["kr_information"] == "observed"
    em = case["emmeans"]["kenward_roger"]
    for ours, theirs in zip(expected["lsmeans"], em["lsmeans"], strict=True):
        assert ours["visit"] == theirs["visit"]
        assert ours["df"] == pytest.approx(theirs["df"], rel=1e-4)
        assert ours["se"] == pytest.approx(theirs["SE"], rel=1e-6)
    for ours, theirs in zip(expected["contrasts"], em["contrasts_vs_first"], strict=True):
        assert ours["contrast"] == theirs["contrast"]
        assert ours["df"] == pytest.approx(theirs["df"], rel=1e-4)
        assert ours["p"] == pytest.approx(theirs["p.value"], rel=1e-4)
    for ours, theirs in zip(expected["fixed"], case["fixed_kenward_roger"], strict=True):
        assert ours["df"] == pytest.approx(theirs["df"], rel=1e-4)
    gaps = [
        abs(o["df"] - e["df"])
        for o, e in zip(observed["lsmeans"], expected["lsmeans"], strict=True)
    ]
    assert min(gaps) > 0.1
    assert [r["estimate"] for r in observed["lsmeans"]] == pytest.approx(
        [r["estimate"] for r in expected["lsmeans"]], rel=1e-12
    )


def test_kr_information_is_only_reported_with_kenward_roger(tmp_path):
    res = run(
        EXAMPLE,
        "--formula",
        "uws ~ visit",
        "--subject",
        "subject",
        "--time",
        "visit",
        "--covariance",
        "cs",
        "--df",
        "satterthwaite",
        "--json",
    )
    assert res.exit_code == 0 and "kr_information" not in json.loads(res.stdout)
    res = run(
        EXAMPLE,
        "--formula",
        "uws ~ visit",
        "--subject",
        "subject",
        "--time",
        "visit",
        "--kr-information",
        "fisher",
    )
    assert res.exit_code == 2 and "'fisher' is not one of 'observed', 'expected'" in res.output
    res = run(
        EXAMPLE,
        "--formula",
        "uws ~ visit",
        "--subject",
        "subject",
        "--time",
        "visit",
        "--covariance",
        "cs",
        "--kr-information",
        "expected",
    )
    assert res.exit_code == 0 and "df kenward-roger (expected information)" in res.stdout
