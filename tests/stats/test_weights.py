"""Observation weights (SAS WEIGHT, mmrm ``weights``) against R mmrm's weighted fit of its
``fev_data`` (the anchors' ``sas_outputs/R/R_weighted_mmrm.txt``, at its printed digits):
the covariance, the fixed effects with Satterthwaite df, and -2 REML log L. SAS's own listing
(``SAS/sas_weighted.txt``) stops earlier (UN(1,1) 22.3763 against 22.3772 at the optimum
that mmrm and xerotrial reach) and is checked at its -2 log L."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from xerotrial.stats.errors import DataValidationError
from xerotrial.stats.model import fit

from .sas_listing import ANCHORS

pytestmark = pytest.mark.skipif(
    not ANCHORS.exists(), reason=f"mmrm anchors not found at {ANCHORS} (shared/ is absent)"
)
FORMULA = "FEV1 ~ RACE + SEX + ARMCD * AVISIT"
VISITS = ["VIS4", "VIS1", "VIS2", "VIS3"]  # mmrm's reference visit first, as its table


@pytest.fixture(scope="module")
def weighted():
    data = pd.read_csv(ANCHORS / "data" / "fev_data.csv")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fit(data, FORMULA, "USUBJID", "AVISIT", "un", weights="WEIGHT",
                   time_order=VISITS)  # fmt: skip


def test_the_weighted_fit_is_mmrms(weighted) -> None:
    # mmrm's "Covariance estimate" (rows and columns VIS4 VIS1 VIS2 VIS3)
    mmrm = np.array(
        [[49.7552, 6.5406, 3.7312, 0.0859], [6.5406, 22.3772, 6.6763, 2.6997],
         [3.7312, 6.6763, 13.3126, 1.3678], [0.0859, 2.6997, 1.3678, 8.3600]]
    )  # fmt: skip
    cp = weighted.covariance_parameters().set_index("parameter")["estimate"]
    for i in range(4):
        for j in range(i + 1):
            assert round(cp[f"UN({i + 1},{j + 1})"], 4) == mmrm[i, j], (i, j)
    assert round(weighted.neg2_loglik, 1) == 3475.8  # mmrm's deviance, and SAS's
    fe = weighted.fixed_effects("satterthwaite").set_index("term")
    # (estimate, SE, df) as mmrm prints them. xerotrial's reference sex is Female (levels
    # sorted), mmrm's Male: its intercept is mmrm's plus SEXFemale, its SEX[T.Male] minus it
    assert round(fe.loc["Intercept", "estimate"] - 0.2326, 4) == 45.8591
    for term, (est, se, df) in {
        "RACE[T.Black or African American]": (1.2031, 0.6292, 186.62),
        "RACE[T.White]": (5.3808, 0.6707, 177.74),
        "SEX[T.Male]": (-0.2326, 0.5325, 186.60),
        "ARMCD[T.TRT]": (4.2616, 1.6902, 133.26),
        "AVISIT[T.VIS1]": (-14.7955, 1.3187, 149.12),
        "AVISIT[T.VIS2]": (-9.9288, 1.2645, 158.71),
        "AVISIT[T.VIS3]": (-4.7480, 1.2491, 151.29),
        "ARMCD[T.TRT]:AVISIT[T.VIS1]": (-0.8654, 1.8916, 134.81),
        "ARMCD[T.TRT]:AVISIT[T.VIS2]": (-0.8435, 1.8169, 153.31),
        "ARMCD[T.TRT]:AVISIT[T.VIS3]": (-0.8687, 1.8317, 152.49),
    }.items():
        row = fe.loc[term]
        assert (round(row["estimate"], 4), round(row["se"], 4), round(row["df"], 2)) == (
            est, se, df), term  # fmt: skip


def test_unit_weights_change_nothing() -> None:
    data = pd.read_csv(ANCHORS / "data" / "fev_data.csv").assign(ONE=1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = fit(data, FORMULA, "USUBJID", "AVISIT", "ar1")
        b = fit(data, FORMULA, "USUBJID", "AVISIT", "ar1", weights="ONE")
    assert np.allclose(a.theta, b.theta, rtol=0, atol=1e-10)
    assert np.allclose(a.beta, b.beta, rtol=0, atol=1e-10)
    assert abs(a.neg2_loglik - b.neg2_loglik) < 1e-9
    ta, tb = a.fixed_effects("between-within"), b.fixed_effects("between-within")
    assert (ta["df"] == tb["df"]).all()


def test_bad_weights_are_refused(tmp_path) -> None:
    data = pd.read_csv(ANCHORS / "data" / "fev_data.csv")
    data.loc[3, "WEIGHT"] = 0.0
    with pytest.raises(DataValidationError, match=r"column 'WEIGHT': weight '0.0' is not a posi"):
        fit(data, FORMULA, "USUBJID", "AVISIT", "un", weights="WEIGHT")
    with pytest.raises(DataValidationError, match="R-side structures, not random-intercept"):
        fit(data, FORMULA, "USUBJID", "AVISIT", "random-intercept", weights="WEIGHT")
    from xerotrial.cli import cli

    data.loc[3, "WEIGHT"] = np.nan  # an empty weight: the row is left out, and said
    path = tmp_path / "fev.csv"
    data.to_csv(path, index=False)
    args = ["fit", str(path), "--formula", FORMULA, "--subject", "USUBJID", "--time", "AVISIT"]
    r = CliRunner().invoke(cli, [*args, "--weights", "WEIGHT", "--df", "satterthwaite", "--json"])
    assert r.exit_code == 0, r.output
    assert "'WEIGHT'" in r.output and "line 5" in r.output
