from __future__ import annotations

from pathlib import Path

import pytest

from xerotrial.report import ReportData, write_report

from .sample import make_data


@pytest.fixture(scope="session")
def report_data() -> ReportData:
    return make_data()


@pytest.fixture(scope="session")
def report_dir(tmp_path_factory: pytest.TempPathFactory, report_data: ReportData) -> Path:
    """A report folder written once for the session (with a foreign file that must survive)."""
    out = tmp_path_factory.mktemp("report")
    (out / "trial.db").write_bytes(b"not touched")
    write_report(report_data, out)
    return out


@pytest.fixture(scope="session")
def report_html(report_dir: Path) -> str:
    return (report_dir / "report.html").read_text(encoding="utf-8")
