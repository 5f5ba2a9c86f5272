"""The phase II demo (``xerotrial demo --study phase2``): a synthetic MESRIX-III whose analysis by
xerotrial prints the published 4-month results (Jakobsen et al., Clin Cancer Res 2024) at their
printed precision, blinded until the lock and unblinded after it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from xerotrial.cli import cli

#: The published 4-month results: per endpoint, the arms' values (within-arm change, or the
#: UWS percentage increase) as printed, and the decimals printed.
PUBLISHED = {
    "UWS": ({"atmsc": ("0.04", "0.02", "0.06"), "placebo": ("0.01", "-0.01", "0.04")}, 2),
    "UWSPCT": ({"atmsc": ("38",), "placebo": ("21",)}, 0),
    "HNDR": ({"atmsc": ("-13.6",), "placebo": ("-7.7",)}, 1),
    "HNSS": ({"atmsc": ("-14.8",), "placebo": ("-9.3",)}, 1),
    "HNSW": ({"atmsc": ("-7.9",), "placebo": ("-8.0",)}, 1),
    "XQ": ({"atmsc": ("-5.9",), "placebo": ("-5.1",)}, 1),
}


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("phase2") / "demo"
    r = CliRunner().invoke(cli, ["demo", "--study", "phase2", "--out", str(out)])
    assert r.exit_code == 0, r.output
    return out


def _printed(x: float, decimals: int) -> str:
    s = f"{x:.{decimals}f}"
    return s[1:] if s.startswith("-") and float(s) == 0 else s


def test_unblinded_analysis_prints_the_published_results(demo: Path) -> None:
    results = json.loads((demo / "unblinded" / "results.json").read_text())
    assert results["blinded"] is False
    by_name = {e["name"]: e for e in results["endpoints"]}
    for name, (arms, decimals) in PUBLISHED.items():
        e = by_name[name]
        for arm, want in arms.items():
            row = next(x for x in e["lsmeans"] if x["ARM"] == arm and x["AVISIT"] == "month_4")
            got = tuple(_printed(row[k], decimals) for k in ("estimate", "lower", "upper"))
            assert got[: len(want)] == want, (name, arm, got)
        diff = next(x for x in e["diffs"] if x["AVISIT"] == "month_4")
        assert diff["p"] > 0.05, (name, diff)  # no significant difference between the arms
    assert by_name["UWS"]["primary"] and by_name["UWS"]["n_subjects"] == 118


def test_blinded_report_pools_the_arms(demo: Path) -> None:
    blinded = json.loads((demo / "blinded" / "results.json").read_text())
    assert blinded["blinded"] is True
    assert all("lsmeans" not in e and "diffs" not in e for e in blinded["endpoints"])
    for path in (demo / "blinded").rglob("*"):
        if path.is_file():  # no arm code anywhere, no arm label in a cell (the title says
            text = path.read_text()  # "placebo-controlled")
            assert "atmsc" not in text.lower(), path
            assert not re.search(r">\s*(AT-MSC|Placebo)\s*<|,(AT-MSC|Placebo)[,\n]", text), path
    html = (demo / "unblinded" / "report.html").read_text()
    assert "AT-MSC − Placebo" in html and "synthetic" in html


ESTIMAND_REF = Path(__file__).resolve().parents[1] / "data" / "phase2_estimand_rbmi.json"


def test_the_estimand_is_rbmis_on_the_same_records(demo: Path) -> None:
    """The definition's [analysis.estimand] (discontinuation JR, rescue CR, conditional mean
    + jackknife) against R rbmi reading records.csv itself (validation/phase2_estimand.R,
    fits polished): the same data, events and results to 1e-6."""
    estimand = json.loads((demo / "unblinded" / "results.json").read_text())["estimand"]
    reference = json.loads(ESTIMAND_REF.read_text())
    assert estimand["events"] == {"discontinuation": 3, "rescue": 4}
    assert estimand["n_subjects"] == reference["n_subjects"] == 120
    got = {r["parameter"]: r for r in estimand["results"]}
    assert len(got) == len(reference["results"]) == 6
    for row in reference["results"]:
        for k in ("est", "se", "lci", "uci", "pval"):
            assert got[row["parameter"]][k] == pytest.approx(row[k], abs=1e-6), (row, k)
    html = (demo / "unblinded" / "report.html").read_text()
    assert "Estimand: UWS under its intercurrent events" in html


def test_the_blinded_report_runs_no_estimand(demo: Path) -> None:
    assert json.loads((demo / "blinded" / "results.json").read_text())["estimand"] is None


def test_the_ancova_at_the_primary_visit_is_rs_lm(demo: Path) -> None:
    uws = next(
        e
        for e in json.loads((demo / "unblinded" / "results.json").read_text())["endpoints"]
        if e["name"] == "UWS"
    )
    ref = json.loads(ESTIMAND_REF.read_text())["ancova_month_4"]
    got = uws["ancova"]
    assert got["n"] == ref["n"] and got["visit"] == "month_4"
    diff = got["diffs"][0]
    for k in ("est", "se", "lower", "upper", "p"):
        assert diff["estimate" if k == "est" else k] == pytest.approx(ref[k], abs=1e-10), k
    assert diff["df"] == ref["df"]
    for row in ref["lsmeans"]:
        mine = next(x for x in got["lsmeans"] if x["ARM"] == row["arm"])
        assert mine["estimate"] == pytest.approx(row["est"], abs=1e-10)
        assert mine["se"] == pytest.approx(row["se"], abs=1e-10)


def test_the_title_pages_say_the_state_of_the_data(demo: Path) -> None:
    blinded = (demo / "blinded" / "report.html").read_text()
    unblinded = (demo / "unblinded" / "report.html").read_text()
    for html in (blinded, unblinded):
        assert '<table class="title-rows"' in html
        assert "120 subjects: intent-to-treat 120; safety 120; full analysis 118" in html
        assert "NCT04776538" in html and "study definition version 1.0" in html
    assert "not locked; blinded (the arms are concealed)" in blinded
    assert "locked by local:data-manager" in unblinded and "; unblinded</td>" in unblinded
