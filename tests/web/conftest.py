"""A study store with one account of each role and three subjects at two sites, and a client
of its web application (FastAPI's TestClient: the real application, in process)."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from xerotrial.store import accounts
from xerotrial.store.accounts import Actor, add_user, issue_token
from xerotrial.store.engine import open_store
from xerotrial.store.study_import import SubjectRow, import_rows
from xerotrial.store.study_store import init_study_store
from xerotrial.study import load_study
from xerotrial.web.app import create_app

DEFINITION = Path(__file__).parents[1] / "store" / "study_data" / "two_arms.toml"
PASSWORD = "correct horse battery staple"
#: account -> (role, site)
ACCOUNTS = {
    "ana": ("data-entry", "rh"),
    "olu": ("data-entry", "ou"),
    "ivy": ("investigator", "rh"),
    "mo": ("monitor", None),
    "dm": ("data-manager", None),
    "stat": ("statistician", None),
    "root": ("admin", None),
}


@dataclass
class Site:
    """The store, its application's client, and a token per account."""

    db: str
    engine: Engine
    client: TestClient
    tokens: dict[str, str]

    def auth(self, name: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[name]}"}


def make_site(folder: Path) -> Site:
    db = init_study_store(folder / "study.db", DEFINITION)
    engine = open_store(db)
    import_rows(
        engine,
        load_study(DEFINITION),
        [SubjectRow("1", "rh", "arm_1"), SubjectRow("2", "rh", "arm_2"), SubjectRow("3", "ou")],
        [],
        source="subjects.csv",
        user="local:setup",
    )
    for name, (role, site) in ACCOUNTS.items():
        add_user(engine, name, role, site, PASSWORD, actor=Actor.local("setup"))
    tokens = {name: issue_token(engine, name, PASSWORD) for name in ACCOUNTS}
    return Site(db, engine, TestClient(create_app(db)), tokens)


@pytest.fixture(scope="session")
def template_site(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """One store built per test process: its file and tokens, copied by :func:`fresh_site`.
    Its passwords are argon2id hashes with light parameters (1 pass, 8 MiB), so that each
    login's verify is fast; the product's parameters are tested in test_cli_web.py."""
    from argon2 import PasswordHasher

    with pytest.MonkeyPatch.context() as mp:  # argon2id still, with light parameters: the
        # pages' tests log in ~100 times; tests/web/test_cli_web.py keeps the product's own
        mp.setattr(accounts, "_hasher", lambda: PasswordHasher(time_cost=1, memory_cost=8192))
        built = make_site(tmp_path_factory.mktemp("web-template"))
    built.engine.dispose()
    return Path(built.engine.url.database), built.tokens


def copy_site(template: tuple[Path, dict[str, str]], folder: Path) -> Site:
    """A store of its own: a copy of the template's file (the same accounts and tokens)."""
    path = folder / "study.db"
    for src in template[0].parent.glob(template[0].name + "*"):  # with its -wal and -shm
        shutil.copyfile(src, folder / src.name.replace(template[0].name, path.name))
    db = f"sqlite:///{path}"
    return Site(db, open_store(db), TestClient(create_app(db)), dict(template[1]))


@pytest.fixture(scope="module")
def site(template_site, tmp_path_factory: pytest.TempPathFactory) -> Site:  # noqa: ANN001
    """Shared by a module's tests: they must not lock it."""
    return copy_site(template_site, tmp_path_factory.mktemp("web"))


@pytest.fixture
def fresh_site(template_site, tmp_path: Path) -> Site:  # noqa: ANN001
    """A store of the test's own."""
    return copy_site(template_site, tmp_path)
