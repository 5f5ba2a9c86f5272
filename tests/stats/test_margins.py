"""Type II tests and LS means with observed-margin weights against R: car::Anova on an mmrm
fit (mmrm's Anova.mmrm, type "II") and emmeans ``weights = "proportional"`` (SAS's OM), for
mmrm's fev_data with an unstructured covariance, Satterthwaite and Kenward-Roger (linear)
(``tests/reference/mmrm_engine.json``, ``validation/make_mmrm_engine_references.R``)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from xerotrial.stats.errors import DataValidationError
from xerotrial.stats.model import fit

from .sas_listing import ANCHORS

MMRM = Path(__file__).resolve().parents[1] / "reference" / "mmrm_engine.json"
pytestmark = pytest.mark.skipif(
    not ANCHORS.exists(), reason=f"mmrm anchors not found at {ANCHORS} (shared/ is absent)"
)
DF = {"Satterthwaite": "satterthwaite", "Kenward-Roger": "kenward-roger-linear"}


def _cases() -> list[dict]:
    return json.loads(MMRM.read_text()).get("margins", []) if MMRM.exists() else []


@pytest.fixture(scope="module")
def un_fit():
    data = pd.read_csv(ANCHORS / "data" / "fev_data.csv")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fit(data, "FEV1 ~ RACE + SEX + ARMCD * AVISIT", "USUBJID", "AVISIT", "un",
                   time_order=["VIS1", "VIS2", "VIS3", "VIS4"])  # fmt: skip


@pytest.mark.parametrize("case", _cases(), ids=lambda c: c["method"])
def test_type2_tests_are_cars(un_fit, case: dict) -> None:
    table = un_fit.type2(DF[case["method"]]).set_index("term")
    assert len(table) == len(case["type2"])
    for row in case["type2"]:
        ours = table.loc[row["term"]]
        assert ours["num_df"] == row["num_df"]
        assert ours["den_df"] == pytest.approx(row["den_df"], rel=1e-6), row["term"]
        assert ours["F"] == pytest.approx(row["f"], rel=1e-6), row["term"]
        assert ours["p"] == pytest.approx(row["p"], rel=1e-5, abs=1e-300), row["term"]


@pytest.mark.parametrize("case", _cases(), ids=lambda c: c["method"])
def test_observed_margin_lsmeans_are_emmeans(un_fit, case: dict) -> None:
    df = DF[case["method"]]
    for factor, key, weights in (
        ("ARMCD", "lsmeans_armcd_proportional", "proportional"),
        ("AVISIT", "lsmeans_avisit_proportional", "proportional"),
        ("ARMCD", "lsmeans_armcd_equal", "equal"),
    ):
        table = un_fit.lsmeans(factor, df_method=df, weights=weights).set_index(factor)
        for row in case[key]:
            ours = table.loc[row["level"]]
            for k in ("estimate", "se", "df"):
                assert ours[k] == pytest.approx(row[k], rel=1e-6), (key, row["level"], k)


def test_the_margins_differ_and_bad_weights_are_refused(un_fit) -> None:
    equal = un_fit.lsmeans("ARMCD", weights="equal")["estimate"].to_numpy()
    om = un_fit.lsmeans("ARMCD", weights="proportional")["estimate"].to_numpy()
    assert not np.allclose(equal, om)  # RACE and SEX are unbalanced in fev_data
    # by visit, only RACE and SEX are averaged over: the arm difference within a visit
    # does not depend on their margins (no arm x race or arm x sex term)
    d_eq = un_fit.contrasts_vs_reference("ARMCD", by="AVISIT", weights="equal")
    d_om = un_fit.contrasts_vs_reference("ARMCD", by="AVISIT", weights="proportional")
    assert np.allclose(d_eq["estimate"], d_om["estimate"], rtol=0, atol=1e-10)
    with pytest.raises(DataValidationError, match="LS-means weights 'cells'"):
        un_fit.lsmeans("ARMCD", weights="cells")


@pytest.mark.parametrize("case", _cases()[:1], ids=lambda c: c["method"])
def test_the_command_line_prints_type2_tests_and_observed_margins(case: dict) -> None:
    """``xerotrial fit --type2 --lsmeans ARMCD --lsmeans-weights proportional``: the same
    numbers as car and emmeans, in --json and in the printed tables."""
    from click.testing import CliRunner

    from xerotrial.cli import cli

    args = ["fit", str(ANCHORS / "data" / "fev_data.csv"), "--formula",
            "FEV1 ~ RACE + SEX + ARMCD * AVISIT", "--subject", "USUBJID", "--time", "AVISIT",
            "--time-order", "VIS1,VIS2,VIS3,VIS4", "--df", DF[case["method"]], "--type2",
            "--lsmeans", "ARMCD", "--lsmeans-weights", "proportional"]  # fmt: skip
    r = CliRunner().invoke(cli, [*args, "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["lsmeans_weights"] == "proportional"
    type2 = {row["term"]: row for row in out["type2"]}
    for row in case["type2"]:
        assert type2[row["term"]]["F"] == pytest.approx(row["f"], rel=1e-6)
    lsm = {row["ARMCD"]: row for row in out["lsmeans"]}
    for row in case["lsmeans_armcd_proportional"]:
        assert lsm[row["level"]]["estimate"] == pytest.approx(row["estimate"], rel=1e-6)
    printed = CliRunner().invoke(cli, args)
    assert printed.exit_code == 0, printed.output
    assert "Type 2 tests" in printed.output
    assert "LS means of ARMCD (observed margins)" in printed.output
    refused = CliRunner().invoke(cli, args[:10] + ["--lsmeans-weights", "proportional"])
    assert refused.exit_code != 0 and "need --lsmeans FACTOR" in refused.output
