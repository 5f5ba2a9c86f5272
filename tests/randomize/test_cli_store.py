"""`xerotrial randomize setup | allocate | unblind | unblind-study | status` on a study store
(issue 14's command-line contract)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from xerotrial.cli import cli
from xerotrial.store.engine import open_store
from xerotrial.store.study_store import init_study_store

from .conftest import DEFINITION, enrol, subjects


def _run(*args: str):  # noqa: ANN202
    return CliRunner().invoke(cli, ["randomize", *args])


@pytest.fixture
def db(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'phase2.db'}"
    init_study_store(url, DEFINITION, user="test")
    engine = open_store(url)
    enrol(engine, subjects(4))
    engine.dispose()
    return url


def test_setup_allocate_unblind_on_the_command_line(db: str, tmp_path: Path) -> None:
    r = _run("setup", "--db", db, "--seed", "42", "--per-stratum", "6")
    assert r.exit_code == 0, r.output
    digest = re.search(r"sha256 ([0-9a-f]{64})", r.output).group(1)
    assert "24 slots in 4 strata (6 each)" in r.output
    offline = _run("list", "--design", str(DEFINITION), "--seed", "42", "--per-stratum", "6",
                   "-o", str(tmp_path / "list.csv"))  # fmt: skip
    assert digest in offline.output  # the stored list is the one the seed gives
    again = _run("setup", "--db", db, "--seed", "43")
    assert again.exit_code == 2 and "a list is made once" in again.output

    r = _run("allocate", "--db", db, "--subject", "S000")
    assert r.exit_code == 0, r.output
    assert re.fullmatch(
        r"S000: randomization number R0001 \(stratum site=rh;dose=1\), arm (atmsc|placebo)\n",
        r.output,
    )  # the operating-system account can read the database: it is shown the arm
    twice = _run("allocate", "--db", db, "--subject", "S000")
    assert twice.exit_code == 2 and "randomized already: R0001" in twice.output
    unknown = _run("allocate", "--db", db, "--subject", "NOPE")
    assert unknown.exit_code == 2 and "no subject 'NOPE'" in unknown.output

    no_reason = _run("unblind", "--db", db, "--subject", "S000", "--reason", "")
    assert no_reason.exit_code == 2 and "needs its reason" in no_reason.output
    r = _run("unblind", "--db", db, "--subject", "S000", "--reason", "anaphylaxis")
    assert r.exit_code == 0 and re.match(
        r"S000: arm (atmsc|placebo) \(unblinded by local:", r.output
    )

    status = _run("status", "--db", db)
    assert status.exit_code == 0
    assert f"sha256: {digest}" in status.output and "blinding: blinded" in status.output
    assert (
        "site=rh;dose=1: 1 of 6 slots used" in status.output and "unblindings: 1" in status.output
    )
    assert "atmsc" not in status.output and "placebo" not in status.output

    early = _run("unblind-study", "--db", db, "--decision", "final")
    assert early.exit_code == 2 and "lock the store first" in early.output


def test_setup_needs_a_design_in_the_list_form(tmp_path: Path) -> None:
    text = DEFINITION.read_text(encoding="utf-8")
    start, end = text.index("[allocation]"), text.index("# ----", text.index("[allocation]"))
    old_form = (
        '[allocation]\nmethod = "block"\n\n[allocation.arms.atmsc]\nlabel = "AT-MSC"\n\n'
        '[allocation.arms.placebo]\nlabel = "Placebo"\n\n'
    )
    definition = tmp_path / "study.toml"
    definition.write_text(text[:start] + old_form + text[end:], encoding="utf-8")
    url = f"sqlite:///{tmp_path / 'old.db'}"
    init_study_store(url, definition, user="test")
    r = _run("setup", "--db", url, "--seed", "1")
    assert r.exit_code == 2 and "no randomization design" in r.output
