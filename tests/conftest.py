"""Session fixtures shared across test folders: the synthetic demo trial, built once."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner


@pytest.fixture(scope="session")
def demo_output(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``xerotrial demo --out DIR`` run once per session (CRFs, trial.db and the report)."""
    from xerotrial.cli import app

    out = tmp_path_factory.mktemp("demo-output")
    result = CliRunner().invoke(app, ["demo", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().splitlines()[-1] == str((out / "report.html").resolve())
    return out
