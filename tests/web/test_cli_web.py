"""``xerotrial user`` and ``serve`` as written in issue 13, command-line attribution, and the
lock seen from the command line; the API under the real server (uvicorn, its own process)."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from typer.testing import CliRunner

from xerotrial.cli import app
from xerotrial.cli_web import ROLE_NAMES
from xerotrial.store.accounts import ROLES
from xerotrial.store.audit import show
from xerotrial.store.engine import open_store

from .conftest import DEFINITION, PASSWORD

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pw").write_text(PASSWORD + "\n")
    (tmp_path / "weak").write_text("secret\n")
    assert run("init", "--db", "s.db", "--study", DEFINITION).exit_code == 0
    return "s.db"


def test_the_roles_of_the_help_are_the_stores() -> None:
    assert ROLE_NAMES == ROLES


def test_user_add_token_disable(store: str) -> None:
    r = run("user", "add", "ana", "--role", "data-entry", "--site", "rh", "--password-file",
            "pw", "--db", store)  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "added ana (data-entry at site rh) as local:" in r.output
    r = run("user", "token", "ana", "--password-file", "pw", "--db", store)
    assert r.exit_code == 0 and len(r.output.strip()) >= 40
    token = r.output.strip()
    log = show(open_store(store))
    text = log.to_csv()
    assert PASSWORD not in text and token not in text  # neither in clear, anywhere
    assert "$argon2id$v=19$m=65536,t=3,p=4$" in text  # RFC 9106's second recommendation
    r = run("user", "disable", "ana", "--db", store)
    assert r.exit_code == 0, r.output
    r = run("user", "token", "ana", "--password-file", "pw", "--db", store)
    assert r.exit_code == 2 and "disabled" in r.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["bob", "--role", "data-entry", "--password-file", "pw"], "works at one site"),
        (["bob", "--role", "monitor", "--password-file", "weak"], "at least 12 characters"),
        (["bob", "--role", "monitor", "--site", "xx", "--password-file", "pw"], "unknown site"),
        (["bob", "--role", "boss", "--password-file", "pw"], "Invalid value for '--role'"),
    ],
)
def test_user_add_refuses(store: str, args: list, message: str) -> None:
    r = run("user", "add", *args, "--db", store)
    assert r.exit_code == 2 and message in r.output, r.output


def test_lockout_after_five_failures(store: str, tmp_path: Path) -> None:
    (tmp_path / "wrong").write_text("not the password at all\n")
    assert run("user", "add", "ana", "--role", "monitor", "--password-file", "pw",
               "--db", store).exit_code == 0  # fmt: skip
    for _ in range(5):
        r = run("user", "token", "ana", "--password-file", "wrong", "--db", store)
        assert r.exit_code == 2 and "wrong password" in r.output
    r = run("user", "token", "ana", "--password-file", "pw", "--db", store)
    assert r.exit_code == 2 and "locked after 5 failed logins" in r.output
    log = show(open_store(store), table="xt_users")
    assert list(log["reason"])[1:] == [f"failed login ({i} in a row)" for i in range(1, 6)]


def test_command_line_writes_are_attributed(store: str, tmp_path: Path) -> None:
    """No free-text --user: the OS account, marked local, or an account after its password."""
    subjects = tmp_path / "subjects.csv"
    subjects.write_text("subject,site,arm\n1,rh,arm_1\n")
    assert run("import", "subjects", subjects, "--db", store, "--user", "x").exit_code == 2
    r = run("import", "subjects", subjects, "--db", store)
    assert r.exit_code == 0, r.output
    assert run("user", "add", "ivy", "--role", "investigator", "--site", "rh",
               "--password-file", "pw", "--db", store).exit_code == 0  # fmt: skip
    enrol = tmp_path / "enrolment.csv"
    enrol.write_text("subject,visit,instance,age\n1,baseline,1,50\n")
    r = run("import", "enrolment", enrol, "--db", store, "--as", "ivy", "--password-file", "weak")
    assert r.exit_code == 2 and "wrong password" in r.output
    r = run("import", "enrolment", enrol, "--db", store, "--as", "ivy", "--password-file", "pw")
    assert r.exit_code == 0, r.output
    log = show(open_store(store))
    by_table = dict(zip(log["table_name"], log["user_name"], strict=False))
    assert by_table["subjects"].startswith("local:")
    assert by_table["enrolment"] == "ivy"


def test_the_lock_stops_the_command_line_too(store: str, tmp_path: Path) -> None:
    from xerotrial.store.accounts import Actor
    from xerotrial.store.lock import lock_store

    lock_store(open_store(store), actor=Actor("dm"), reason="final analysis")
    subjects = tmp_path / "subjects.csv"
    subjects.write_text("subject,site,arm\n1,rh,arm_1\n")
    r = run("import", "subjects", subjects, "--db", store)
    assert r.exit_code == 2 and "the store is locked (locked by dm" in r.output
    r = run("study", "amend", "--db", store, DEFINITION, "--reason", "x")
    assert r.exit_code == 2


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, token: str | None = None) -> tuple[int, object]:
    req = urllib.request.Request(url)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_serve_runs_the_api_under_uvicorn(store: str, tmp_path: Path) -> None:
    run("user", "add", "mo", "--role", "monitor", "--password-file", "pw", "--db", store)
    token = run("user", "token", "mo", "--password-file", "pw", "--db", store).output.strip()
    port = _free_port()
    log = open(tmp_path / "serve.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "xerotrial",
            "serve",
            "--db",
            store,
            "--port",
            str(port),
            "--workers",
            "2",
        ],  # fmt: skip
        stdout=log,
        stderr=subprocess.STDOUT,
        env=os.environ | {"PYTHONUNBUFFERED": "1"},
    )
    base = f"http://127.0.0.1:{port}/api/v1"
    try:
        for _ in range(150):
            try:
                status, _ = _get(f"{base}/openapi.json")
                break
            except OSError:
                time.sleep(0.2)
        else:
            pytest.fail((tmp_path / "serve.log").read_text())
        assert status == 200
        assert _get(f"{base}/subjects")[0] == 401
        for _ in range(4):  # answered by either worker
            assert _get(f"{base}/subjects", token) == (200, [])
        form = urllib.parse.urlencode({"username": "mo", "password": PASSWORD}).encode()
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/login", data=form, timeout=5)
        except urllib.error.HTTPError as e:
            assert e.code == 403  # no CSRF token
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        log.close()
    served = (tmp_path / "serve.log").read_text()
    assert "Uvicorn running" in served and "GET /api/v1/subjects" in served
    assert PASSWORD not in served and token not in served  # never logged


def test_serve_refuses_a_seed_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert run("init", "--db", "seed.db").exit_code == 0
    r = run("serve", "--db", "seed.db")
    assert r.exit_code == 2 and "not a study store" in r.output


def test_demo_web_prepares_a_store_with_one_account_per_role(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from argon2 import PasswordHasher

    from xerotrial.store import accounts
    from xerotrial.store.accounts import authenticate

    # light argon2id parameters: 14 hashes and checks (the product's: test_user_add_token_disable)
    monkeypatch.setattr(accounts, "_hasher", lambda: PasswordHasher(time_cost=1, memory_cost=8192))

    root = Path(__file__).parents[2] / "examples" / "phase2"
    r = run("demo-web", "--out", tmp_path, "--study", root / "study.toml",
            "--records", root / "records.csv")  # fmt: skip
    assert r.exit_code == 0, r.output
    accounts = re.findall(r"^  (\w+) +([\w-]+) .* (\S{16})$", r.output, re.M)
    assert {role for _, role, _ in accounts} == set(ROLES) and len(accounts) == 8
    engine = open_store(tmp_path / "web.db")
    for name, role, password in accounts:
        assert authenticate(engine, name, password).role == role
    assert "xerotrial serve --db" in r.output
    log = show(engine).to_csv()
    assert not any(password in log for _, _, password in accounts)


def test_accounts_and_definitions_are_an_administrators(store: str) -> None:
    for name, role in (("ivy", "investigator"), ("root", "admin")):
        site = ["--site", "rh"] if role == "investigator" else []
        assert run("user", "add", name, "--role", role, *site, "--password-file", "pw",
                   "--db", store).exit_code == 0  # fmt: skip
    as_ivy = ["--as", "ivy", "--as-password-file", "pw"]
    r = run(
        "user", "add", "eve", "--role", "admin", "--password-file", "pw", "--db", store, *as_ivy
    )
    assert r.exit_code == 2 and "not an admin account" in r.output
    r = run("user", "disable", "root", "--db", store, *as_ivy)
    assert r.exit_code == 2 and "not an admin account" in r.output
    r = run("study", "amend", "--db", store, DEFINITION, "--reason", "x", "--as", "ivy",
            "--password-file", "pw")  # fmt: skip
    assert r.exit_code == 2 and "not an admin account" in r.output
    as_root = ["--as", "root", "--as-password-file", "pw"]
    r = run("user", "add", "eve", "--role", "monitor", "--password-file", "pw", "--db", store,
            *as_root)  # fmt: skip
    assert r.exit_code == 0 and "as root" in r.output


def test_demo_web_passwords_never_break_the_policy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A random password may contain a short account name ("mo"): it is drawn again."""
    import secrets

    from argon2 import PasswordHasher

    from xerotrial.store import accounts

    monkeypatch.setattr(accounts, "_hasher", lambda: PasswordHasher(time_cost=1, memory_cost=8192))
    drawn = iter(["xxANAxxxxxxxxxxx"])  # the first draw, for ana, contains "ana"
    real = secrets.token_urlsafe
    monkeypatch.setattr(secrets, "token_urlsafe", lambda n: next(drawn, None) or real(n))
    root = Path(__file__).parents[2] / "examples" / "phase2"
    r = run("demo-web", "--out", tmp_path, "--study", root / "study.toml",
            "--records", root / "records.csv")  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "xxANAxxxxxxxxxxx" not in r.output and re.search(r"^  ana .* (\S{16})$", r.output, re.M)
