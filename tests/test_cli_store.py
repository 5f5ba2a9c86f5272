"""The store's command-line contracts: init, import, template, edit, audit, export."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from xerotrial.cli import app
from xerotrial.cli_store import EXPORT_FORMATS

from .store.sample import SAMPLE, write_sample

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, list(args))


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _error(res, code: int = 2) -> str:
    assert res.exit_code == code, res.output
    assert res.exception is None or isinstance(res.exception, SystemExit), res.exception
    assert "Traceback" not in res.output
    return res.output


def test_full_workflow_on_default_store(here: Path) -> None:
    res = run("init")
    assert res.exit_code == 0, res.output
    assert (here / "trial.db").exists()
    files = write_sample(here / "in")
    for form, path in files.items():
        res = run("import", form, str(path), "--reason", "first entry")
        assert res.exit_code == 0, res.output
        assert "imported" in res.output
    res = run("import", "visits", str(files["visits"]))
    assert res.exit_code == 0 and "0 row(s) imported, 5 unchanged" in res.output
    res = run(
        "edit",
        "sialometry",
        "--key",
        "subject=P01",
        "--key",
        "visit=day0",
        "--key",
        "kind=UWS",
        "--set",
        "cup_after_g=12.95",
        "--reason",
        "re-weighed",
    )
    assert res.exit_code == 0, res.output
    assert "cup_after_g 12.9 -> 12.95" in res.output
    res = run("audit", "verify")
    assert res.exit_code == 0 and "40 entries" in res.output
    res = run("audit", "show", "--limit", "1")
    assert (
        res.exit_code == 0
        and " local:" in res.output
        and "update sialometry" in res.output
        and "re-weighed" in (res.output)
    )
    res = run("audit", "show", "--json", "--table", "donors")
    assert res.exit_code == 0 and res.output.count("\n") == 1
    for what, formats in (("raw", ("csv", "parquet", "xpt")), ("adam", ("csv", "xpt"))):
        for fmt in formats:
            res = run(
                "export", what, "--db", "trial.db", "--out", f"out/{what}/{fmt}", "--format", fmt
            )
            assert res.exit_code == 0, res.output
    assert (here / "out/raw/csv/sialometry.csv").read_text().splitlines()[0] == (
        "subject,visit,kind,cup_before_g,cup_after_g,minutes"
    )
    assert (here / "out/adam/xpt/adflow.xpt").exists()
    res = run(
        "edit",
        "hla_antibodies",
        "--key",
        "subject=P01",
        "--key",
        "study_day=30",
        "--key",
        "specificity=A*02:01",
        "--delete",
        "--reason",
        "mix-up",
    )
    assert res.exit_code == 0 and "deleted" in res.output


def test_template(here: Path) -> None:
    res = run("template", "--list")
    assert res.exit_code == 0
    for form in SAMPLE:
        assert f"\n{form}: " in "\n" + res.output
    res = run("template", "sialometry")
    assert res.output == "subject,visit,kind,cup_before_g,cup_after_g,minutes\n"
    res = run("template", "xq", "-o", "xq.csv")
    assert res.exit_code == 0
    assert (here / "xq.csv").read_text() == "subject,visit," + ",".join(
        f"xq{i}" for i in range(1, 9)
    ) + "\n"
    assert "unknown form 'nope'" in _error(run("template", "nope"))
    assert "name a form" in _error(run("template"))


def test_errors_exit_2(here: Path) -> None:
    write_sample(here / "in")
    assert "no store at trial.db" in _error(run("import", "participants", "in/participants.csv"))
    assert "no store" in _error(run("audit", "verify", "--db", "other.db"))
    assert "no store" in _error(run("export", "raw", "--out", "x"))
    assert run("init", "--db", "sqlite:///trial.db").exit_code == 0
    assert "unknown form 'patients'" in _error(run("import", "patients", "in/x.csv"))
    assert "no such file" in _error(run("import", "participants", "missing.csv"))
    (here / "bad.xlsx").write_text("not a spreadsheet")
    assert "cannot be read as a table" in _error(run("import", "participants", "bad.xlsx"))
    assert run("import", "sites", "in/sites.csv").exit_code == 0
    bad = SAMPLE["participants"] + "P03,S1,patient,Q,12,,,,\n"
    (here / "bad.csv").write_text(bad)
    out = _error(run("import", "participants", "bad.csv"))
    assert "rejected, nothing was imported (2 problems)" in out
    assert "line 5 (data row 4), column 'sex'" in out
    assert "line 5 (data row 4), column 'age_years'" in out
    assert "needs a reason" in _error(
        run("edit", "participants", "--key", "subject=P01", "--set", "age_years=3", "--reason", "")
    )
    assert "--set" in _error(run("edit", "participants", "--key", "subject=P01", "--reason", "x"))
    assert "'sas' is not one of 'raw', 'sdtm'" in _error(run("export", "sas", "--out", "x"))
    assert "--format" in _error(run("export", "raw", "--out", "x", "--format", "sas"))
    assert "no such file" in _error(run("init", "--protocol", "nope.toml"))
    assert "--dictionary" in _error(run("import", "redcap", "in/participants.csv"))
    res = run(
        "import",
        "participants",
        "in/participants.csv",
        "--db",
        "postgresql+psycopg://nobody@127.0.0.1:1/none",
    )
    assert "cannot open the store" in _error(res)


def test_audit_verify_reports_tampering(here: Path) -> None:
    run("init")
    files = write_sample(here / "in")
    run("import", "sites", str(files["sites"]))
    run("import", "participants", str(files["participants"]))
    import sqlite3

    con = sqlite3.connect("trial.db")
    con.execute("UPDATE participants SET age_years = 99 WHERE subject = 'P01'")
    con.commit()
    con.close()
    out = _error(run("audit", "verify"), code=1)
    assert "age_years differ from the audit trail" in out


def test_protocol_option(here: Path) -> None:
    from xerotrial.trial.protocol import _bundled  # noqa: F401 - the bundled file exists

    src = Path(__file__).parents[1] / "src/xerotrial/data/protocol.toml"
    res = run("init", "--protocol", str(src))
    assert res.exit_code == 0, res.output
    (here / "broken.toml").write_text("[trial]\nid = 3\n")
    assert _error(run("init", "--protocol", "broken.toml"))
    assert os.path.exists("trial.db")


def test_init_upgrades_a_store_of_revision_0001(here: Path) -> None:
    from alembic import command

    from xerotrial.store.engine import make_engine, open_store, write_transaction
    from xerotrial.store.export import read_form
    from xerotrial.store.migrate import _config, current_revision

    engine = make_engine("sqlite:///trial.db")
    with write_transaction(engine) as conn:
        cfg = _config()
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001")
        conn.exec_driver_sql(
            'INSERT INTO participants (subject, site, "group", sex, age_years)'
            " VALUES ('P01', 'S1', 'patient', 'F', 61)"
        )
    engine.dispose()
    assert current_revision("trial.db") == "0001"
    res = run("init")
    assert res.exit_code == 0, res.output
    assert current_revision("trial.db") == "0003"
    engine = open_store("trial.db")
    assert read_form(engine, "sites")["site"].tolist() == ["S1"]
    engine.dispose()
    res = run("template", "sites")
    assert res.output == "site,name,country\n"


def test_export_formats_shown_in_the_help_are_the_exporters() -> None:
    from xerotrial.cli_store import STUDY_FORMATS
    from xerotrial.store.export import FORMATS
    from xerotrial.store.study_export import EXPORT_FORMATS as STUDY_EXPORTS

    assert EXPORT_FORMATS == FORMATS
    assert STUDY_FORMATS == STUDY_EXPORTS
    assert "[csv|parquet|redcap|xpt]" in run("export", "-h").output


def test_form_names_complete_in_the_shell() -> None:
    from click.shell_completion import ShellComplete

    from xerotrial.cli import cli

    def complete(*args: str) -> list[str]:
        comp = ShellComplete(cli, {}, "xerotrial", "_XEROTRIAL_COMPLETE")
        return [c.value for c in comp.get_completions(list(args[:-1]), args[-1])]

    assert complete("template", "sia") == ["sialometry"]
    assert "redcap" in complete("import", "") and "redcap" not in complete("edit", "")
    assert complete("export", "raw", "--format", "p") == ["parquet"]
