"""The audit commands and the pre-flight check of every store command: keygen, checkpoint,
verify --checkpoints and the chain head; import and edit refuse a tampered store; export and
report warn in bold and stamp their output; init --protocol needs --reason for an amendment."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from xerotrial.cli import app
from xerotrial.store.audit_key import KEY_ENV

from .store.sample import write_sample

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, list(args))


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder holding the sample trial's store, trial.db."""
    monkeypatch.chdir(tmp_path)
    assert run("init").exit_code == 0
    for form, path in write_sample(tmp_path / "in").items():
        assert run("import", form, str(path)).exit_code == 0
    return tmp_path


def _copy(src: str | Path, dst: str | Path) -> None:
    """Copy an SQLite store with what its write-ahead log holds (a file copy may miss it)."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{dst}{suffix}").unlink(missing_ok=True)
    with sqlite3.connect(src) as a, sqlite3.connect(dst) as b:
        a.backup(b)
    a.close()
    b.close()


def _sql(sql: str, db: str = "trial.db") -> None:
    con = sqlite3.connect(db)
    con.execute(sql)
    con.commit()
    con.close()


def test_verify_prints_the_chain_head(here: Path) -> None:
    res = run("audit", "verify")
    assert res.exit_code == 0, res.output
    assert "chain head: entry 39, hash " in res.stdout and "MACs none (unkeyed store)" in res.stdout


def test_checkpoint_then_verify_against_it(here: Path) -> None:
    res = run("audit", "checkpoint", "--to", "cp.jsonl")
    assert res.exit_code == 0, res.output
    rec = json.loads((here / "cp.jsonl").read_text())
    assert rec["seq"] == 39 and len(rec["hash"]) == 64 and rec["store"].endswith("trial.db")
    assert run("audit", "checkpoint", "--to", f"sqlite:///{here / 'cp.db'}").exit_code == 0
    for source in ("cp.jsonl", f"sqlite:///{here / 'cp.db'}"):
        res = run("audit", "verify", "--checkpoints", source)
        assert res.exit_code == 0 and "checkpoints agree" in res.stdout, res.output
    # a rollback: the store replaced by an older copy of itself
    _copy("trial.db", "older.db")
    run("edit", "sites", "--key", "site=S2", "--set", "name=Aarhus", "--reason", "name")
    assert run("audit", "checkpoint", "--to", "cp.jsonl").exit_code == 0
    _copy("older.db", "trial.db")
    res = run("audit", "verify", "--checkpoints", "cp.jsonl")
    assert res.exit_code == 1
    assert "entry 40 is not in the chain" in res.stderr


def test_keygen_and_a_keyed_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    res = run("audit", "keygen", "--out", "audit.key")
    assert res.exit_code == 0 and "wrote audit key" in res.stdout
    assert run("audit", "keygen", "--out", "audit.key").exit_code == 2  # never overwritten
    monkeypatch.setenv(KEY_ENV, str(tmp_path / "audit.key"))
    assert run("init").exit_code == 0
    res = run("audit", "verify")
    assert res.exit_code == 0 and "MACs verified" in res.stdout, res.output
    monkeypatch.delenv(KEY_ENV)
    res = run("audit", "verify")
    assert res.exit_code == 0 and "MACs not checked (no key)" in res.stdout
    assert "warning:" in res.stderr and "MACs were not checked" in res.stderr


def test_writers_refuse_a_tampered_store(here: Path) -> None:
    _sql("UPDATE participants SET age_years = 99 WHERE subject = 'P01'")
    res = run(
        "edit", "participants", "--key", "subject=P01", "--set", "age_years=62", "--reason", "typo"
    )
    assert res.exit_code == 2
    assert "fails its audit check" in res.stderr and 'participants row {"subject":"P01"}' in (
        res.stderr
    )
    res = run("import", "sites", str(here / "in" / "sites.csv"))
    assert res.exit_code == 2 and "xerotrial audit verify" in res.stderr


def test_export_warns_and_stamps(here: Path) -> None:
    res = run("export", "raw", "--out", "ok")
    assert res.exit_code == 0 and "audit: verified" in res.stdout
    assert (here / "ok" / "AUDIT_STATUS.txt").read_text().startswith("verified:")
    _sql("DELETE FROM hla_antibodies")
    for what in ("raw", "adam"):
        res = run("export", what, "--out", f"bad-{what}")
        assert res.exit_code == 0, res.output
        assert "WARNING: the store fails its audit check" in res.stderr
        status = (here / f"bad-{what}" / "AUDIT_STATUS.txt").read_text()
        assert status.startswith("NOT VERIFIED") and "deleted without a trace" in status
        assert "chain head: entry 39" in status


def test_init_protocol_amendment_needs_a_reason(here: Path) -> None:
    src = Path(__file__).parents[1] / "src/xerotrial/data/protocol.toml"
    (here / "amended.toml").write_text(src.read_text() + "# amendment 1\n")
    res = run("init", "--protocol", "amended.toml")
    assert res.exit_code == 2 and "give its reason (--reason TEXT)" in res.stderr
    res = run("init", "--protocol", "amended.toml", "--reason", "amendment 1")
    assert res.exit_code == 0, res.output
    res = run("audit", "show", "--limit", "1")
    assert "store_meta" in res.stdout and "reason='amendment 1'" in res.stdout
    assert run("init", "--reason", "x").exit_code == 2  # a reason without a protocol
    _sql("UPDATE store_meta SET value = value || '#' WHERE key = 'protocol_toml'")
    res = run("audit", "verify")
    assert res.exit_code == 1 and "store's protocol" in res.stderr


def test_report_of_a_tampered_store_says_so(demo_output: Path, tmp_path: Path) -> None:
    db = tmp_path / "trial.db"
    _copy(demo_output / "trial.db", db)
    html = (demo_output / "report.html").read_text(encoding="utf-8")
    assert 'Audit trail: <strong id="audit-status">verified</strong>' in html
    assert "NOT VERIFIED" not in html
    _sql("UPDATE sialometry SET cup_after_g = cup_after_g + 1 WHERE rowid = 1", str(db))
    res = run("report", "--db", str(db), "--out", str(tmp_path / "report"))
    assert res.exit_code == 0, res.output
    assert "WARNING: the store fails its audit check: 1 problem" in res.stderr
    html = (tmp_path / "report" / "report.html").read_text(encoding="utf-8")
    assert 'id="audit-unverified"' in html and "NOT VERIFIED" in html
    assert "changed without a trace" in html
