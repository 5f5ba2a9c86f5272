"""`xerotrial power` on issue 11 section 5's hostile inputs: a power no fit supports is "not
estimable" (null in --json) with a warning saying how many fits failed and why; --from-data
reads its table as `fit` does (strict, the file's lines)."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from xerotrial.cli import app

runner = CliRunner()
DESIGN = ["--visits", "4", "--effect", "0,0,0,1", "--sd", "1", "--correlation", "0.5"]


def power(*args: str):
    return runner.invoke(
        app, ["power", *DESIGN, "--covariance", "un", "--sims", "40", "--workers", "1", *args]
    )


def test_every_fit_failing_is_not_estimable_with_a_warning():
    res = power("--n-per-arm", "2,3")
    assert res.exit_code == 0, res.output
    row = next(line for line in res.output.splitlines() if line.strip().startswith("2 "))
    assert "not estimable" in row and "0.0000" not in row
    assert "warning: power at n = 2 per arm is not estimable: all 40 simulated fits failed" in (
        res.output.replace("\n", " ")
    )
    assert "10 covariance parameters but 8 residual degrees of freedom" in res.output


def test_every_fit_failing_in_json_is_null_and_warned():
    res = power("--n-per-arm", "2", "--json")
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    row = out["results"][0]
    assert row["power"] is None and row["mc_se"] is None and row["n_failed"] == 40
    assert "residual degrees of freedom" in row["first_failure"]
    assert len(out["warnings"]) == 1 and "not estimable" in out["warnings"][0]


def test_some_fits_failing_are_counted_in_a_warning():
    """run_power's warning for some failed fits, as `power --json` gives it (the API and the
    command line share this case: 2 per arm, 2 visits, compound symmetry and dropout make some
    fits fail at once, at their starting values)."""
    res = power(
        *("--n-per-arm", "2", "--dropout", "0.3", "--visits", "2", "--effect", "1", "--sd", "1"),
        *("--covariance", "cs", "--sims", "40", "--workers", "1", "--json"),
    )
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    row = out["results"][0]
    assert 0 < row["n_failed"] < 40 and row["power"] is not None
    assert "not positive definite" in row["first_failure"]
    assert out["warnings"] == [
        f"{row['n_failed']} of 40 simulated fits at n = 2 per arm failed and count as not "
        f"significant; the first: {row['first_failure']}"
    ]


def test_100_visits_with_un_is_refused_at_once():
    res = runner.invoke(
        app, ["power", "--n-per-arm", "5", "--visits", "100", "--effect", "1", "--sd", "1"]
    )
    assert res.exit_code == 2 and "Traceback" not in res.output
    assert "un over 100 time levels has 5,050 covariance parameters" in res.output.replace(
        "\n", " "
    )


def test_single_visit_random_intercept_is_refused_not_all_failed():
    res = runner.invoke(
        app,
        ["power", "--n-per-arm", "5", "--visits", "1", "--effect", "1", "--sd", "1"]
        + ["--covariance", "random-intercept", "--sims", "10"],
    )
    assert res.exit_code == 2 and "two or more observations" in res.output


def _pilot(tmp_path: Path, cell: str = "", blank: bool = True) -> Path:
    rows = ["id,arm,visit,y"]
    k = 0
    for s in range(8):
        arm = "placebo" if s < 4 else "msc"
        for t, v in enumerate(("d0", "d30", "d120")):
            k += 1
            y = f"{(s % 3) * 0.1 + t * 0.05 + (0.3 if arm == 'msc' and t == 2 else 0):.3f}"
            rows.append(f"P{s},{arm},{v},{cell if k == 5 else y}")
    sep = "\n\n" if blank else "\n"
    p = tmp_path / "pilot.csv"
    p.write_text(rows[0] + sep + "\n".join(rows[1:]) + "\n")
    return p


FROM = ["--formula", "y ~ arm * visit", "--subject", "id", "--time", "visit", "--arm", "arm"]


def test_from_data_infinite_response_names_the_file_line(tmp_path):
    p = _pilot(tmp_path, cell="inf")  # data row 5 is on line 7: a blank line after the header
    res = runner.invoke(
        app, ["power", "--from-data", str(p), *FROM, "--reference", "placebo", "--n-per-arm", "5"]
    )
    assert res.exit_code == 2 and "Traceback" not in res.output
    assert "line 7, column 'y', value 'inf': not a finite number" in res.output


def test_from_data_text_response_names_the_file_line_and_empty_rows_are_warned(tmp_path):
    p = _pilot(tmp_path, cell="n.d.")
    args = ["power", "--from-data", str(p), *FROM, "--reference", "placebo", "--n-per-arm", "5"]
    res = runner.invoke(app, args)
    assert res.exit_code == 2 and "line 7 (data row 5), column 'y'" in res.output
    p = _pilot(tmp_path, cell="")
    res = runner.invoke(app, [*args, "--sims", "10", "--workers", "1", "--json"])
    assert res.exit_code == 0, res.output
    assert (
        f"{p}: 1 row left out of the fit: 1 with an empty response 'y' (line 7)"
        in json.loads(res.stdout)["warnings"]
    )
