"""Session fixtures shared across test folders: the synthetic demo trial, built once."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tests.pg import _reset_pg, pg_url

#: The determinism tests (tests/demo/test_determinism.py) compare a second build of the demo.
DETERMINISM = "tests/demo/test_determinism.py"
#: Files of a demo run that are not a function of its input alone.
UNSTABLE = {"trial.db"}


def _digest(path: Path) -> str:
    data = path.read_bytes()
    if path.name == "report.html":  # the source path, the generation time, the chain head
        data = re.sub(rb'<p class="meta">Source: .*?</p>', b"", data)
        data = re.sub(rb'<p class="meta">Audit trail: .*?</p>', b"", data)
    return hashlib.md5(data).hexdigest()


def demo_digests(folder: Path) -> dict[str, str]:
    """MD5 of every file of a demo build (``report.html`` without its source path, time and
    audit chain head, whose hashes cover the entries' timestamps),
    by path relative to ``folder``; ``trial.db`` (the audit trail's timestamps) left out."""
    return {
        str(p.relative_to(folder)): _digest(p)
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name not in UNSTABLE
    }


class DemoBuilds:
    """``python -m xerotrial demo --out DIR`` in subprocesses, under ``OPENBLAS_NUM_THREADS``
    / ``OMP_NUM_THREADS`` / ``MKL_NUM_THREADS`` = 1 or 2, each run at most once a test run.

    A build starts when first asked for and runs while the tests go on. Under pytest-xdist
    the workers share it: the first to ask claims it (a file created exclusively in the run's
    common temporary folder) and starts it; the others wait for its exit status file.
    :meth:`folder` waits for it, checks its exit status and its last line (the report's path),
    and takes the digests of its files before any test reads the folder.
    """

    def __init__(self, tmp_path_factory: pytest.TempPathFactory) -> None:
        base = tmp_path_factory.getbasetemp()
        # the workers' folders (popen-gw0, ...) share a parent; a lone session has its own
        self._root = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
        self._procs: dict[int, subprocess.Popen | None] = {}
        self._done: dict[int, tuple[Path, dict[str, str]]] = {}

    def _paths(self, threads: int) -> tuple[Path, Path]:
        return self._root / f"demo-threads-{threads}", self._root / f"demo-threads-{threads}-logs"

    def start(self, threads: int) -> None:
        if threads in self._procs:
            return
        out, logs = self._paths(threads)
        try:
            logs.mkdir()  # the claim: exactly one worker gets to make it
        except FileExistsError:
            self._procs[threads] = None  # another worker's build
            return
        env = os.environ | {
            v: str(threads) for v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
        }
        script = (  # files, not pipes (a pipe could fill up); rc written last
            f'"{sys.executable}" -m xerotrial demo --out "{out}" > "{logs}/stdout" '
            f'2> "{logs}/stderr"; echo $? > "{logs}/rc.part" && mv "{logs}/rc.part" "{logs}/rc"'
        )
        self._procs[threads] = subprocess.Popen(["sh", "-c", script], env=env)

    def _wait(self, threads: int) -> tuple[Path, dict[str, str]]:
        if threads not in self._done:
            self.start(threads)
            out, logs = self._paths(threads)
            proc = self._procs[threads]
            if proc is not None:
                proc.wait(timeout=600)
            deadline = time.monotonic() + 600
            while not (logs / "rc").exists():
                assert time.monotonic() < deadline, f"threads={threads}: no build after 600 s"
                time.sleep(0.2)
            rc = int((logs / "rc").read_text())
            stdout, stderr = ((logs / name).read_text() for name in ("stdout", "stderr"))
            assert rc == 0, f"threads={threads}: {stderr}"
            assert stdout.strip().splitlines()[-1] == str((out / "report.html").resolve())
            self._done[threads] = (out, demo_digests(out))
        return self._done[threads]

    def folder(self, threads: int) -> Path:
        return self._wait(threads)[0]

    def digests(self, threads: int) -> dict[str, str]:
        """The digests taken when the build finished (later readers cannot change them)."""
        return self._wait(threads)[1]

    def close(self) -> None:
        for proc in self._procs.values():
            if proc is not None and proc.poll() is None:
                proc.wait(timeout=600)  # another worker may still be waiting for it


@pytest.fixture(scope="session")
def demo_builds(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest):
    """The session's demo builds (:class:`DemoBuilds`); when the session runs the
    determinism tests, their 2-thread build starts together with the 1-thread one, so that
    it runs while other tests do."""
    builds = DemoBuilds(tmp_path_factory)
    builds.start(1)
    if any(item.nodeid.startswith(DETERMINISM) for item in request.session.items):
        builds.start(2)
    yield builds
    builds.close()


@pytest.fixture(scope="session")
def demo_output(demo_builds: DemoBuilds) -> Path:
    """``xerotrial demo --out DIR`` run once per session (CRFs, trial.db and the report):
    the 1-thread build of the determinism tests (read only)."""
    return demo_builds.folder(1)


# ------------------------------------------------------------------ PostgreSQL and SQLite


@pytest.fixture(scope="session")
def pg_session_url() -> Iterator[str]:
    """A database of this test session's own (so that two sessions cannot collide),
    dropped at the end."""
    base = make_url(pg_url())
    name = f"{base.database}_{os.getpid()}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield base.set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of an empty (not yet initialised) database on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'trial.db'}"
    else:
        pg_url()  # skips with the reason when there is no server
        url = request.getfixturevalue("pg_session_url")
        _reset_pg(url)
        yield url
