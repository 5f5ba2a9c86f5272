"""``xerotrial estimand``: the command line of issue 15, called as the contract writes it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from xerotrial.cli import app

RBMI = Path(__file__).resolve().parents[2] / "shared" / "reference" / "rbmi"
DATA = RBMI / "antidepressant_data.csv"
pytestmark = pytest.mark.skipif(
    not DATA.exists(), reason=f"rbmi's reference data not found at {RBMI} (shared/ is absent)"
)
runner = CliRunner()


def _ice(tmp_path: Path, strategy: str = "JR") -> Path:
    ice = json.loads((RBMI / "rbmi_condmean_jackknife.json").read_text())["ice"]
    path = tmp_path / "ice.csv"
    path.write_text(
        "subject,visit,strategy\n"
        + "".join(f"{r['PATIENT']},{r['VISIT']},{strategy}\n" for r in ice)
    )
    return path


def _call(*extra: str):
    return runner.invoke(
        app,
        [
            "estimand",
            str(DATA),
            "--outcome",
            "CHANGE",
            "--subject",
            "PATIENT",
            "--visit",
            "VISIT",
            "--group",
            "THERAPY",
            "--reference",
            "PLACEBO",
            "--covariates",
            "BASVAL*VISIT,THERAPY*VISIT",
            "--analysis-covariates",
            "BASVAL",
            *extra,
        ],
    )


def test_json_contract_and_rbmi_vignette_row(tmp_path):
    out = _call(
        "--visit-order",
        "4,5,6,7",
        "--ice",
        str(_ice(tmp_path)),
        "--method",
        "condmean-jackknife",
        "--covariance",
        "un",
        "--json",
    )
    assert out.exit_code == 0, out.output
    doc = json.loads(out.output)
    assert doc["method"] == "condmean-jackknife" and doc["n_samples"] == 172
    assert [r["parameter"] for r in doc["results"][:3]] == ["trt_4", "lsm_ref_4", "lsm_alt_4"]
    assert set(doc["results"][0]) == {"parameter", "visit", "est", "se", "lci", "uci", "pval"}
    row = next(r for r in doc["results"] if r["parameter"] == "trt_7")
    assert row["visit"] == "7"
    # rbmi's vignette: JR, visit 7: 2.126 (0.444 to 3.807), p 0.013
    assert [round(row[k], 3) for k in ("est", "lci", "uci", "pval")] == [2.126, 0.444, 3.807, 0.013]


def test_text_table_says_which_difference_trt_is(tmp_path):
    out = _call(
        "--ice",
        str(_ice(tmp_path, "CR")),
        "--method",
        "approx-bayes",
        "--samples",
        "20",
        "--seed",
        "3",
    )
    assert out.exit_code == 0, out.output
    assert "trt = PLACEBO minus DRUG" in out.output
    assert "intercurrent events: CR 43" in out.output and "seed 3" in out.output
    assert "trt_7" in out.output


def test_bad_ice_file_names_line_and_column(tmp_path):
    bad = tmp_path / "ice.csv"
    bad.write_text("subject,visit,strategy\n1513,5,JR\n1514,9,JR\n")
    out = _call("--ice", str(bad), "--method", "condmean-jackknife")
    assert out.exit_code == 2
    assert "ice.csv: line 3 (data row 2), column 'visit', value '9': not a visit" in out.output
