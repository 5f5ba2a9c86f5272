"""`xerotrial report` on a PostgreSQL store gives the SQLite demo's numbers."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from xerotrial.cli import app
from xerotrial.store.forms import FORMS

from .conftest import _reset_pg, pg_url


def test_report_from_postgresql_equals_the_sqlite_demo(
    demo_output: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    pg_url()  # skips, saying why, without a server
    url = request.getfixturevalue("pg_session_url")
    _reset_pg(url)
    runner = CliRunner()
    assert runner.invoke(app, ["init", "--db", url]).exit_code == 0
    for form in FORMS:  # the demo's raw CRF files, imported in order
        result = runner.invoke(
            app, ["import", form, str(demo_output / "crf" / f"{form}.csv"), "--db", url]
        )
        assert result.exit_code == 0, result.output
    out = tmp_path / "pg-report"
    result = runner.invoke(app, ["report", "--db", url, "--out", str(out)])
    assert result.exit_code == 0, result.output
    for name in ("table1", "table2", "table3", "table4"):
        a = pd.read_csv(demo_output / "tables" / f"{name}.csv")
        b = pd.read_csv(out / "tables" / f"{name}.csv")
        pd.testing.assert_frame_equal(a, b, rtol=1e-10)
    assert "postgresql" in (out / "report.html").read_text(encoding="utf-8")
