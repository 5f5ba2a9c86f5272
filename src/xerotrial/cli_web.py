"""``xerotrial serve`` and ``xerotrial user add | disable | token``: the web application and
its accounts (issue 13).

Example
-------
    xerotrial init --db trial.db --study study.toml
    xerotrial user add ana --role data-entry --site rh --password-file ana.pw --db trial.db
    xerotrial user token ana --password-file ana.pw --db trial.db     # prints an API token
    xerotrial serve --db trial.db --port 8000
"""

from __future__ import annotations

from pathlib import Path

import click

from .cli_common import Group, actor_name, fail, on_store, read_password, run_or_fail
from .cli_store import db_option

__all__ = ["DEMO_ACCOUNTS", "ROLE_NAMES", "WEB_COMMANDS", "require_admin"]

#: ``xerotrial.store.accounts.ROLES``, here so that the help lists them without importing
#: the store (a test checks that the two agree).
ROLE_NAMES = (
    "data-entry",
    "investigator",
    "monitor",
    "data-manager",
    "statistician",
    "unblinded-statistician",
    "admin",
)

_PASSWORD_FILE = click.option(
    "--password-file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="File whose first line is the password (else it is asked, hidden)",
)


def _as_admin(fn):  # noqa: ANN001, ANN202 - a click decorator
    """``--as NAME`` and ``--as-password-file FILE``: act as this admin account."""
    fn = click.option(
        "--as-password-file",
        type=click.Path(path_type=Path, dir_okay=False),
        help="The --as account's password file",
    )(fn)
    return click.option("--as", "as_name", metavar="NAME", help="Act as this admin account")(fn)


def _admin_actor(db: str | None, as_name: str | None, as_password_file: Path | None):  # noqa: ANN202
    """The local OS account, or the admin account ``--as`` names after its password."""
    from .store.accounts import Actor

    who = actor_name(db, as_name, as_password_file)
    if as_name is not None:
        require_admin(db, as_name)
    return Actor(who.removeprefix("local:"), is_local=who.startswith("local:"))


@click.command("serve")
@db_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option(
    "--workers", default=1, show_default=True, type=click.IntRange(1, 64), help="Processes"
)
def serve_command(db: str | None, host: str, port: int, workers: int) -> None:
    """Serve the web application and its API (uvicorn) on the study store --db."""
    import os

    from .store.engine import open_store, resolve_url
    from .store.layout import STUDY_KIND, store_kind
    from .web.app import DB_ENV, SECRET_ENV, session_secret
    from .web.server import serve

    url = resolve_url(db)
    engine = open_store(url)
    try:
        with engine.connect() as conn:
            if store_kind(conn) != STUDY_KIND:
                fail(f"{url}: not a study store (xerotrial init --db URL --study DEF)")
    finally:
        engine.dispose()
    os.environ[DB_ENV] = url
    os.environ[SECRET_ENV] = session_secret()  # one key for every worker's session cookies
    serve(host, port, workers)


@click.group("user", cls=Group)
def user_group() -> None:
    """Accounts of a study store: add, disable, issue an API token."""


@user_group.command("add")
@click.argument("name")
@click.option("--role", required=True, type=click.Choice(ROLE_NAMES))
@click.option("--site", help="The account's site (required for data-entry and investigator)")
@_PASSWORD_FILE
@db_option
@_as_admin
def user_add(
    name: str,
    role: str,
    site: str | None,
    password_file: Path | None,
    db: str | None,
    as_name: str | None,
    as_password_file: Path | None,
) -> None:
    """Add the account NAME (its password from --password-file, or asked twice)."""
    from .store.accounts import add_user

    if password_file is None:
        password = click.prompt(f"Password of {name}", hide_input=True, confirmation_prompt=True)
    else:
        password = read_password(password_file)
    actor = _admin_actor(db, as_name, as_password_file)
    user = on_store(db, lambda engine: add_user(engine, name, role, site, password, actor=actor))
    where = f" at site {user.site}" if user.site else ""
    click.echo(f"added {user.name} ({user.role}{where}) as {actor.audit_name}")


def require_admin(db: str | None, name: str) -> None:
    """Exit 2 unless ``name`` is an admin account of the store (accounts and definitions are
    an administrator's)."""
    from sqlalchemy import select

    from .store.account_schema import USERS
    from .store.engine import open_store

    engine = open_store(db)
    try:
        with engine.connect() as conn:
            role = conn.execute(select(USERS.c.role).where(USERS.c.name == name)).scalar()
    finally:
        engine.dispose()
    if role != "admin":
        fail(f"{name} is not an admin account: only an admin manages accounts")


@user_group.command("disable")
@click.argument("name")
@db_option
@click.option("--reason", help="Why (audited)")
@_as_admin
def user_disable(
    name: str,
    db: str | None,
    reason: str | None,
    as_name: str | None,
    as_password_file: Path | None,
) -> None:
    """Disable the account NAME: it can no longer log in, and its tokens stop working."""
    from .store.accounts import disable_user

    actor = _admin_actor(db, as_name, as_password_file)
    on_store(db, lambda engine: disable_user(engine, name, actor=actor, reason=reason))
    click.echo(f"disabled {name}")


@user_group.command("token")
@click.argument("name")
@_PASSWORD_FILE
@db_option
def user_token(name: str, password_file: Path | None, db: str | None) -> None:
    """Print a new API token of the account NAME (after its password); only its hash is
    kept, so keep it safe."""
    from .store.accounts import issue_token

    password = read_password(password_file, f"Password of {name}")
    click.echo(on_store(db, lambda engine: issue_token(engine, name, password)))


#: The demo's accounts: one per role (name -> role, site).
DEMO_ACCOUNTS = {
    "ana": ("data-entry", "rh"),
    "olu": ("data-entry", "ouh"),
    "ivy": ("investigator", "rh"),
    "mo": ("monitor", None),
    "dm": ("data-manager", None),
    "stat": ("statistician", None),
    "dmc": ("unblinded-statistician", None),
    "root": ("admin", None),
}


@click.command("demo-web")
@click.option("--out", type=click.Path(path_type=Path, file_okay=False), required=True)
@click.option(
    "--study",
    "definition",
    type=click.Path(path_type=Path, dir_okay=False),
    required=True,
    help="The study definition (e.g. examples/phase2/study.toml)",
)
@click.option(
    "--records",
    type=click.Path(path_type=Path, dir_okay=False),
    required=True,
    help="A REDCap records export of it (e.g. examples/phase2/records.csv)",
)
def demo_web_command(out: Path, definition: Path, records: Path) -> None:
    """Prepare a study store for the web: OUT/web.db with the records and one account per
    role, whose passwords are printed once (made anew each time)."""
    import secrets

    from .store.accounts import Actor, add_user, password_problems
    from .store.engine import open_store
    from .store.redcap_records import import_redcap_records
    from .store.study_store import init_study_store

    out.mkdir(parents=True, exist_ok=True)
    db = out / "web.db"
    if db.exists():
        db.unlink()  # the demo's own store, made anew
    actor = Actor.local()

    def build() -> list[tuple[str, str, str | None, str]]:
        url = init_study_store(db, definition)
        engine = open_store(url)
        try:
            import_redcap_records(engine, records, user=actor.audit_name, reason="demo records")
            made = []
            for name, (role, site) in DEMO_ACCOUNTS.items():
                password = secrets.token_urlsafe(12)
                while password_problems(name, password):  # e.g. "mo" inside a random text
                    password = secrets.token_urlsafe(12)
                add_user(engine, name, role, site, password, actor=actor)
                made.append((name, role, site, password))
            return made
        finally:
            engine.dispose()

    made = run_or_fail(build)
    click.echo(f"web demo store: {db} ({definition.name}, {records.name})")
    click.echo("accounts (the passwords are shown this once; keep them):")
    for name, role, site, password in made:
        where = f" site {site}" if site else ""
        click.echo(f"  {name:5} {role:23}{where:9}  {password}")
    click.echo(f"serve it: xerotrial serve --db {db}   (then open http://127.0.0.1:8000)")


WEB_COMMANDS = (serve_command, user_group, demo_web_command)
