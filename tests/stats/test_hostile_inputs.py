"""Issue 11 section 5 through the engine's API: inputs that crashed it, hung it or gave numbers
that meant nothing are refused with a DataValidationError or warned about, naming the row."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest

from xerotrial.errors import ConvergenceWarning, DataValidationError, DataWarning
from xerotrial.stats.covariance import (
    SPATIAL,
    STRUCTURES,
    check_parameters,
    n_covariance_parameters,
)
from xerotrial.stats.design import build_design, row_lines
from xerotrial.stats.model import fit
from xerotrial.stats.options import MAX_COVARIANCE_PARAMETERS
from xerotrial.stats.replicates import fit_replicates
from xerotrial.stats.simulate import TrialDesign, run_power
from xerotrial.tables import read_table


def _trial(subjects: int = 8, visits: int = 3, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "id": np.repeat([f"P{i}" for i in range(subjects)], visits),
            "visit": [f"v{t + 1}" for t in range(visits)] * subjects,
            "y": rng.normal(size=subjects * visits) + np.repeat(rng.normal(size=subjects), visits),
        }
    )


def _fit(data: pd.DataFrame, formula: str = "y ~ visit", **kw):
    kw.setdefault("covariance", "un")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = fit(data, formula, subject="id", time="visit", **kw)
    return res, caught


# ---------------------------------------------------------------- one visit
def test_single_visit_factor_in_the_formula_is_refused_not_a_zero_division():
    one = _trial(visits=1)
    with pytest.raises(DataValidationError, match=r"column 'visit' has one level \('v1'\)") as e:
        fit(one, "y ~ visit", subject="id", time="visit", covariance="un")
    assert "Remove 'visit' from the formula (e.g. 'y ~ 1')" in str(e.value)
    assert e.value.column == "visit"


@pytest.mark.parametrize(
    "structure", [s for s in STRUCTURES if STRUCTURES[s].min_times > 1 and s not in SPATIAL]
)
def test_single_visit_structures_with_a_between_visit_parameter_are_refused(structure):
    with pytest.raises(DataValidationError, match="needs at least 2 time levels") as e:
        fit(_trial(visits=1), "y ~ 1", subject="id", time="visit", covariance=structure)
    assert "Use 'un' or 'diag'" in str(e.value)


@pytest.mark.parametrize("structure", SPATIAL)
def test_spatial_structures_at_one_point_are_refused(structure):
    one = _trial(visits=1).assign(day=7.0)
    with pytest.raises(DataValidationError, match="two or more distinct points") as e:
        fit(one, "y ~ 1", subject="id", covariance=structure, coordinates=["day"])
    assert "Use 'un' or 'diag'" in str(e.value)


def test_single_visit_random_intercept_is_refused():
    with pytest.raises(DataValidationError, match="two or more observations"):
        fit(_trial(visits=1), "y ~ 1", subject="id", time="visit", covariance="random-intercept")


@pytest.mark.parametrize("structure", ["un", "diag", "toep", "toeph", "adh"])
def test_single_visit_one_variance_still_fits_as_an_ordinary_linear_model(structure):
    one = _trial(visits=1)
    res, caught = _fit(one, "y ~ 1", covariance=structure)
    assert res.converged and not caught
    assert res.theta[0] == pytest.approx(one["y"].var(ddof=1), rel=1e-8)


# ---------------------------------------------------------------- infinite values
@pytest.mark.parametrize("bad", [math.inf, -math.inf])
def test_infinite_response_in_a_frame_names_the_row(bad):
    d = _trial()
    d.loc[4, "y"] = bad
    with pytest.raises(DataValidationError, match=r"line 6 \(data row 5\), column 'y'") as e:
        fit(d, "y ~ visit", subject="id", time="visit", covariance="cs")
    assert (e.value.row, e.value.line, e.value.column) == (5, 6, "y")
    assert "not a finite number" in str(e.value)


def test_infinite_covariate_and_text_inf_are_refused():
    d = _trial().assign(base=1.0)
    d.loc[2, "base"] = math.inf
    with pytest.raises(DataValidationError, match=r"data row 3\), column 'base'"):
        fit(d, "y ~ visit + base", subject="id", time="visit", covariance="cs")
    d = _trial().astype({"y": object})
    d.loc[1, "y"] = "inf"
    with pytest.raises(DataValidationError, match=r"data row 2\), column 'y'"):
        fit(d, "y ~ visit", subject="id", time="visit", covariance="cs")


def test_infinite_replicate_response_is_refused():
    d = _trial()
    y = np.tile(d["y"].to_numpy(), (3, 1))
    y[1, 7] = math.inf
    with pytest.raises(DataValidationError, match="replicate 2, row 8"):
        fit_replicates(d.drop(columns="y"), "y ~ visit", "id", y, time="visit")


# ---------------------------------------------------------------- too many parameters
def test_parameter_guard_refuses_un_over_100_visits_at_once():
    d = _trial(subjects=3, visits=100)
    with pytest.raises(DataValidationError) as e:
        fit(d, "y ~ 1", subject="id", time="visit", covariance="un")
    msg = str(e.value)
    assert "un over 100 time levels has 5,050 covariance parameters" in msg
    assert f"at most {MAX_COVARIANCE_PARAMETERS:,}" in msg and "ar1 (2)" in msg


def test_parameter_guard_counts_groups_and_is_shared_by_power():
    t = 1
    while n_covariance_parameters("un", t + 1) <= MAX_COVARIANCE_PARAMETERS:
        t += 1
    assert check_parameters("un", t) == t * (t + 1) // 2  # the largest un that is fitted
    with pytest.raises(DataValidationError, match=r"\(2 groups\)"):
        check_parameters("un", t, groups=2)
    with pytest.raises(DataValidationError, match="5,050 covariance parameters"):
        TrialDesign(visits=100, effect=(0.5,), sd=(1.0,), covariance="un")


def test_more_covariance_parameters_than_residual_df_is_refused():
    d = _trial(subjects=2, visits=4)  # un: 10 parameters, 8 - 4 = 4 residual df
    with pytest.raises(DataValidationError, match="10 covariance parameters but the data have 4"):
        fit(d, "y ~ visit", subject="id", time="visit", covariance="un")


# ---------------------------------------------------------------- one subject
@pytest.mark.parametrize("structure", ["random-intercept", "ar1"])
def test_one_subject_is_not_silently_converged(structure):
    d = _trial(subjects=1, visits=6)
    res, caught = _fit(d, "y ~ 1", covariance=structure)
    notes = [str(w.message) for w in caught if issubclass(w.category, ConvergenceWarning)]
    assert any("1 subject" in n and "not identifiable" in n and "df 0" in n for n in notes)


def test_as_many_subjects_as_between_subject_columns_warns():
    d = _trial(subjects=2, visits=6).assign(arm=lambda f: np.where(f["id"] == "P0", "a", "b"))
    _, caught = _fit(d, "y ~ arm", covariance="random-intercept")
    assert any("2 subjects for 2 between-subject" in str(w.message) for w in caught)


def test_enough_subjects_give_no_identifiability_warning():
    _, caught = _fit(_trial(subjects=8), covariance="cs")
    assert not caught


# ---------------------------------------------------------------- rows left out
def test_rows_with_an_empty_subject_time_or_response_are_warned_with_their_lines():
    d = _trial(subjects=6).astype({"id": object, "visit": object})
    d.loc[[3, 9], "id"] = None
    d.loc[5, "visit"] = None
    d.loc[[0, 12], "y"] = math.nan
    res, caught = _fit(d, covariance="cs")
    notes = [str(w.message) for w in caught if issubclass(w.category, DataWarning)]
    assert notes == [
        "data: 5 rows left out of the fit: 2 with an empty response 'y' (lines 2, 14), "
        "2 with an empty 'id' (lines 5, 11), 1 with an empty 'visit' (line 7)"
    ]
    assert res.n_obs == len(d) - 5


def test_many_rows_left_out_list_the_first_lines():
    d = _trial(subjects=6)
    d.loc[[1, 2, 4, 5, 7, 8, 10], "y"] = math.nan
    _, caught = _fit(d, covariance="cs")
    assert "7 rows left out" in str(caught[0].message)
    assert "(lines 3, 4, 6, 7, 9 and 2 more)" in str(caught[0].message)


# ---------------------------------------------------------------- file lines
def test_file_lines_from_read_table_survive_blank_lines(tmp_path):
    p = tmp_path / "d.csv"
    p.write_text("id,visit,y\n\nA,v1,1\nA,v2,2\n\n\nB,v1,x\nB,v2,3\n")
    frame = read_table(p, numeric=True)
    assert row_lines(frame).tolist() == [3, 4, 7, 8]
    with pytest.raises(DataValidationError, match=r"line 7 \(data row 3\)") as e:
        build_design(frame, "y ~ visit", subject="id", time="visit", source=str(p))
    assert e.value.line == 7
    frame.loc[2, "y"] = math.nan
    frame["y"] = frame["y"].astype(float)
    frame.loc[3, "visit"] = "v1"  # a repeated visit: both lines named
    with pytest.raises(DataValidationError, match="lines 7 and 8"):
        build_design(frame, "y ~ visit", subject="id", time="visit")


def test_in_memory_frames_fall_back_to_row_plus_one():
    frame = pd.DataFrame({"y": [1.0, 2.0, 3.0]})
    assert row_lines(frame).tolist() == [2, 3, 4]
    frame.attrs["lines"] = [2, 9]  # not one line per row (a filtered frame): not used
    assert row_lines(frame).tolist() == [2, 3, 4]


# ---------------------------------------------------------------- power
def _power(n: list[int], dropout: float = 0.0):
    d = TrialDesign(
        visits=4,
        effect=(0, 0, 0, 1.0),
        sd=(1.0,),
        correlation=0.5,
        dropout=(dropout,),
        covariance="un",
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = run_power(d, n, n_sims=40, seed=1, workers=1)
    return res, [str(w.message) for w in caught if issubclass(w.category, ConvergenceWarning)]


def test_power_where_every_fit_fails_is_not_estimable():
    res, notes = _power([2, 3])
    bad, good = res.results
    assert math.isnan(bad.power) and math.isnan(bad.mc_se) and not bad.estimable
    assert bad.n_failed == 40 and "10 covariance parameters but 8 residual" in bad.first_failure
    assert good.estimable and good.n_failed == 0 and good.first_failure is None
    assert len(notes) == 1 and "n = 2 per arm is not estimable: all 40 simulated fits" in notes[0]
    out, fine = res.to_dict()["results"]
    assert out["power"] is None and out["mc_se"] is None and out["first_failure"]
    assert "first_failure" not in fine  # the JSON contract's keys when nothing failed
