"""`xerotrial fit` on issue 11 section 5's hostile inputs: a clear error (exit 2, no traceback)
naming the file, line and column, or a ``warning:`` line (and ``"warnings"`` in --json)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from xerotrial.cli import app
from xerotrial.stats.options import MAX_COVARIANCE_PARAMETERS

runner = CliRunner()


def _csv(tmp_path: Path, text: str, name: str = "data.csv") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def _trial_csv(tmp_path: Path, subjects: int = 6, visits: int = 3, blank: str = "") -> Path:
    rng = np.random.default_rng(4)
    rows = ["subject,visit,uws"]
    for s in range(subjects):
        u = rng.normal()
        rows += [f"S{s},v{t + 1},{u + rng.normal():.4f}" for t in range(visits)]
    return _csv(tmp_path, blank.join(f"{r}\n" for r in rows))


def fit(path: Path, *args: str, formula: str = "uws ~ visit"):
    return runner.invoke(
        app,
        ["fit", str(path), "--formula", formula, "--subject", "subject", "--time", "visit", *args],
    )


def _refused(res, *needles: str) -> str:
    text = res.output.replace("\n", " ")
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output and "error:" in res.output
    for needle in needles:
        assert needle in text, res.output
    return text


def test_single_visit_with_un_is_a_clear_error(tmp_path):
    p = _trial_csv(tmp_path, visits=1)
    _refused(fit(p, "--covariance", "un"), str(p), "column 'visit' has one level ('v1')", "~ 1")
    res = fit(p, "--covariance", "ar1", formula="uws ~ 1")
    _refused(res, "covariance 'ar1' needs at least 2 time levels", "Use 'un' or 'diag'")
    res = fit(p, "--covariance", "un", "--json", formula="uws ~ 1")  # one variance: it fits
    assert res.exit_code == 0 and json.loads(res.stdout)["n_obs"] == 6


def test_infinite_response_is_refused_with_file_line_and_column(tmp_path):
    p = _csv(tmp_path, "subject,visit,uws\nA,d0,0.1\n\nA,d1,inf\nB,d0,0.2\nB,d1,0.3\n")
    _refused(fit(p, "--covariance", "cs"), str(p), "line 4, column 'uws', value 'inf'", "finite")


def test_100_visits_with_un_is_refused_at_once_with_the_count(tmp_path):
    p = _trial_csv(tmp_path, subjects=3, visits=100)
    text = _refused(fit(p, "--covariance", "un", formula="uws ~ 1"), str(p))
    assert "un over 100 time levels has 5,050 covariance parameters" in text
    assert f"at most {MAX_COVARIANCE_PARAMETERS:,}" in text


def test_one_subject_is_warned_not_silently_converged(tmp_path):
    p = _trial_csv(tmp_path, subjects=1, visits=6)
    args = ("--covariance", "random-intercept")
    res = fit(p, *args, formula="uws ~ 1")
    assert res.exit_code == 0, res.output
    assert "warning:" in res.output and "not identifiable" in res.output
    out = json.loads(fit(p, *args, "--json", formula="uws ~ 1").stdout)
    assert any("1 subject" in w and "df 0" in w for w in out["warnings"])


def test_one_subject_with_no_residual_df_is_refused(tmp_path):
    p = _trial_csv(tmp_path, subjects=1, visits=4)
    _refused(fit(p, "--covariance", "cs"), "2 covariance parameters but the data have 0 residual")


def test_rows_with_an_empty_subject_are_warned_with_their_lines(tmp_path):
    text = (
        "subject,visit,uws\n"
        "A,d0,0.1\nA,d1,0.3\n\n"  # a blank line: the lines below are the file's
        ",d0,0.2\nB,d0,0.25\nB,d1,0.35\nC,d0,0.3\n,d1,0.4\nC,d1,0.5\nD,d0,0.1\nD,d1,\n"
    )
    p = _csv(tmp_path, text)
    res = fit(p, "--covariance", "cs")
    assert res.exit_code == 0, res.output
    expected = (
        f"{p}: 3 rows left out of the fit: 1 with an empty response 'uws' (line 12), "
        "2 with an empty 'subject' (lines 5, 9)"
    )
    assert f"warning: {expected}" in res.output.replace("\n", " ")
    out = json.loads(fit(p, "--covariance", "cs", "--json").stdout)
    assert expected in out["warnings"] and out["n_obs"] == 7


def test_row_numbers_after_blank_lines_name_the_file_line(tmp_path):
    p = _csv(tmp_path, "subject,visit,uws\n\nA,d0,0.1\n\n\nA,d1,abc\nB,d0,0.2\nB,d1,0.3\n")
    _refused(fit(p), "line 6 (data row 2), column 'uws': value 'abc' is not a number")
    p = _csv(tmp_path, "subject,visit,uws\nA,d0,0.1\n\nA,d0,0.2\nB,d0,0.2\nB,d1,0.3\n", "dup.csv")
    _refused(fit(p), "lines 2 and 4: subject 'A' has more than one row")


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("subject,visit,uws\nA,d0,0.1,9\nB,d0,0.2\n", "line 2"),  # a value past the header
        ("subject,visit,uws\nA,d0\nB,d0,0.2\n", "line 2"),  # a short line
        ("subject,visit,uws\nA,d0,0.1\nsubject,visit,uws\nB,d0,0.2\n", "repeats the header"),
    ],
)
def test_the_strict_reader_refuses_malformed_files(tmp_path, text, needle):
    _refused(fit(_csv(tmp_path, text)), needle)


def test_missing_file_exits_2(tmp_path):
    _refused(fit(tmp_path / "none.csv"), "no such file")
