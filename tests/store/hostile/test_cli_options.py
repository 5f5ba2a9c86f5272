"""Every store command's options, given wrong: exit status 2, a message that names the
option or value and what to do, no traceback, and the store unchanged."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from xerotrial.cli import app
from xerotrial.store.audit import verify
from xerotrial.store.engine import open_store

runner = CliRunner()
KEY = ["--key", "subject=P01"]

# (arguments, words of the message)
BAD = [
    (["import", "nosuch", "x.csv"], "unknown form 'nosuch'"),
    (["import", "sites", "missing.csv"], "missing.csv: no such file"),
    (
        ["import", "sites", "x.csv", "--skip-instrument", "a"],
        "--skip-instrument is for FORM redcap",
    ),
    (["import", "redcap", "x.csv"], "needs --dictionary"),
    (["import", "sites", "x.csv", "--db", "nowhere.db"], "no store at nowhere.db"),
    (["import", "sites"], "Missing argument 'FILE'"),
    (
        [
            "edit",
            "participants",
            *KEY,
            "--key",
            "subject=P02",
            "--set",
            "age_years=60",
            "--reason",
            "r",
        ],
        "--key names 'subject' twice",
    ),
    (
        [
            "edit",
            "participants",
            *KEY,
            "--set",
            "age_years=60",
            "--set",
            "age_years=61",
            "--reason",
            "r",
        ],
        "--set names 'age_years' twice",
    ),
    (
        ["edit", "participants", "--key", "subject", "--set", "age_years=60", "--reason", "r"],
        "--key 'subject': write COLUMN=VALUE",
    ),
    (
        ["edit", "participants", "--key", "=P01", "--set", "age_years=60", "--reason", "r"],
        "write COLUMN=VALUE",
    ),
    (["edit", "participants", *KEY, "--set", "nosuch=1", "--reason", "r"], "no column 'nosuch'"),
    (["edit", "participants", *KEY, "--set", "subject=P09", "--reason", "r"], "part of the key"),
    (["edit", "participants", *KEY, "--set", "age_years=60"], "Missing option '--reason'"),
    (["edit", "participants", *KEY, "--set", "age_years=60", "--reason", "  "], "needs a reason"),
    (
        ["edit", "participants", *KEY, "--set", "age_years=6", "--reason", "r", "--delete"],
        "either --set",
    ),
    (["edit", "participants", *KEY, "--reason", "r"], "either --set"),
    (["edit", "nosuch", *KEY, "--set", "a=1", "--reason", "r"], "unknown form 'nosuch'"),
    (
        ["edit", "participants", "--key", "subject=P99", "--set", "age_years=60", "--reason", "r"],
        "no participants row",
    ),
    (
        ["edit", "participants", "--key", "visit=day0", "--set", "age_years=60", "--reason", "r"],
        "rows are named by subject",
    ),
    (["edit", "participants", *KEY, "--set", "age_years=1_0", "--reason", "r"], "whole number"),
    (
        [
            "edit",
            "participants",
            *KEY,
            "--set",
            "enrolment_order=99999999999999999999",
            "--reason",
            "r",
        ],
        "magnitude",
    ),
    (
        [
            "edit",
            "safety_labs",
            *KEY,
            "--key",
            "visit=day30",
            "--key",
            "test=alt",
            "--set",
            "value=1e300",
            "--reason",
            "r",
        ],
        "magnitude",
    ),
    (["template", "nosuch"], "unknown form 'nosuch'"),
    (["template"], "name a form, or use --list"),
    (["export", "sas", "--out", "o"], "'sas' is not one of 'raw', 'sdtm'"),
    (["export", "raw", "--out", "o", "--format", "sas"], "'sas' is not one of"),
    (["export", "raw"], "Missing option '--out'"),
    (["export", "raw", "--out", "trial.db"], "'trial.db' is a file"),
    (["audit", "show", "--limit", "abc"], "'abc' is not a valid integer"),
    (["audit", "nosuch"], "No such command 'nosuch'"),
    (["audit", "show", "--limit", "0"], "0 is not in the range x>=1"),
    (["audit", "show", "--table", "nosuch"], "--table 'nosuch': not a form"),
    (["init", "--protocol", "nope.toml"], "nope.toml: no such file"),
    (["report", "--db", "nowhere.db", "--out", "r"], "no store at nowhere.db"),
    (["report", "--out", "trial.db"], "'trial.db' is a file"),
    (["demo", "--out", "trial.db"], "'trial.db' is a file"),
    (["completion", "tcsh"], "'tcsh' is not one of"),
    (["score", "xq"], "Missing argument 'ITEMS.csv'"),
    (["score", "nosuch", "x"], "No such command 'nosuch'"),
    (["nosuchcommand"], "No such command"),
    (["--nosuch"], "No such option '--nosuch'"),
]


@pytest.fixture
def here(sample_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copyfile(sample_db, tmp_path / "trial.db")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize(("args", "words"), BAD, ids=[" ".join(a)[:60] for a, _ in BAD])
def test_bad_options_exit_2_and_change_nothing(args: list[str], words: str, here: Path) -> None:
    engine = open_store(here / "trial.db")
    before = verify(engine).entries
    res = runner.invoke(app, args)
    assert res.exit_code == 2, res.output
    assert res.exception is None or isinstance(res.exception, SystemExit), res.exception
    assert "Traceback" not in res.output
    assert words in res.output, res.output
    after = verify(engine)
    assert after.ok and after.entries == before
    engine.dispose()


def test_every_store_command_is_in_the_corpus() -> None:
    from xerotrial.cli_store import STORE_COMMANDS

    named = {args[0] for args, _ in BAD}
    assert {c.name for c in STORE_COMMANDS} <= named
