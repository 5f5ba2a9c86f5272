"""Accounts of a study store: named users with a role and a site, passwords, API tokens.

Passwords are kept as argon2id hashes (argon2-cffi, RFC 9106's parameters), API tokens as the
SHA-256 of a random 256-bit token: neither is ever stored, logged or audited in clear. Every
change to an account is an audited write, made under the identity of whoever made it
(:class:`Actor`); a failed login is one too (the count of consecutive failures, and the
lockout after :data:`MAX_FAILED_LOGINS` of them for :data:`LOCKOUT`). At each use a user's and
a token's rows are checked against the audit trail (:func:`~.verify.row_problem`): a row
written behind the application's back grants nothing.

Example
-------
>>> import tempfile, os
>>> from xerotrial.study import SEED_STUDY
>>> from xerotrial.store.study_store import init_study_store
>>> from xerotrial.store.engine import open_store
>>> db = init_study_store(os.path.join(tempfile.mkdtemp(), "s.db"), SEED_STUDY)
>>> eng = open_store(db)
>>> admin = Actor.local("root")
>>> add_user(eng, "ana", "data-entry", "RH", "correct horse battery", actor=admin).site
'RH'
>>> token = issue_token(eng, "ana", "correct horse battery")
>>> user_for_token(eng, token).name
'ana'
>>> user_for_token(eng, "forged")
Traceback (most recent call last):
...
xerotrial.store.accounts.AuthenticationError: the token is not valid
"""

from __future__ import annotations

import datetime as dt
import getpass
import hashlib
import os
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, insert

from .account_schema import ACCOUNT_TABLES, TOKENS, USERS
from .audit import AuditWriter
from .chain import jsonable
from .engine import reading, write_transaction
from .errors import StoreError
from .layout import STUDY_KIND, store_kind
from .statements import by_key
from .verify import row_problem

__all__ = [
    "LOCKOUT",
    "MAX_FAILED_LOGINS",
    "MIN_PASSWORD_LENGTH",
    "ROLES",
    "SITE_ROLES",
    "TOKEN_LIFETIME",
    "Actor",
    "AuthenticationError",
    "User",
    "add_user",
    "authenticate",
    "disable_user",
    "issue_token",
    "password_problems",
    "user_for_token",
]

#: The roles, as issue 13 names them.
ROLES: tuple[str, ...] = (
    "data-entry",
    "investigator",
    "monitor",
    "data-manager",
    "statistician",
    "unblinded-statistician",
    "admin",
)
#: Roles that work at one site (a site is required for them).
SITE_ROLES = frozenset({"data-entry", "investigator"})
#: Password policy (NIST SP 800-63B: length over composition rules, no known-bad passwords).
MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 128
#: Consecutive failed logins that lock an account, and for how long.
MAX_FAILED_LOGINS = 5
LOCKOUT = dt.timedelta(minutes=15)
#: How long an API token is valid.
TOKEN_LIFETIME = dt.timedelta(days=30)

_COMMON = frozenset(
    {
        "password1234",
        "123456789012",
        "qwertyuiopas",
        "passwordpassword",
        "letmein12345",
        "administrator",
        "welcome12345",
        "iloveyou1234",
    }
)


class AuthenticationError(StoreError):
    """Bad credentials, a disabled or locked account, an invalid or expired token (one
    message for an unknown user and a wrong password: nothing tells which)."""


@dataclass(frozen=True)
class User:
    """An account as the application sees it."""

    name: str
    role: str
    site: str | None
    disabled: bool = False


@dataclass(frozen=True)
class Actor:
    """Who makes a write: an account (``user``) or the operating-system account that ran
    a command (``is_local``); :attr:`audit_name` is what the audit trail records."""

    name: str
    is_local: bool = False
    user: User | None = None

    @classmethod
    def local(cls, name: str | None = None) -> Actor:
        """The operating-system account running this process, marked as local."""
        if name is None:
            try:
                name = getpass.getuser()
            except (KeyError, OSError):  # no login name in some containers
                name = os.environ.get("USER") or "unknown"
        return cls(name, is_local=True)

    @classmethod
    def of(cls, user: User) -> Actor:
        """An account."""
        return cls(user.name, user=user)

    @property
    def audit_name(self) -> str:
        """``local:NAME`` for an operating-system account, else the account's name."""
        return f"local:{self.name}" if self.is_local else self.name


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _hasher() -> Any:
    from argon2 import PasswordHasher  # argon2id by default

    return PasswordHasher()


def password_problems(name: str, password: str) -> list[str]:
    """What is wrong with ``password`` for the account ``name`` (empty: acceptable).

    >>> password_problems("ana", "short")
    ['at least 12 characters']
    >>> password_problems("ana", "Ana 2026 xerostomia")
    ['must not contain the user name']
    """
    out = []
    if len(password) < MIN_PASSWORD_LENGTH:
        out.append(f"at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        out.append(f"at most {MAX_PASSWORD_LENGTH} characters")
    if name and name.casefold() in password.casefold():
        out.append("must not contain the user name")
    if password.casefold() in _COMMON or len(set(password)) < 4:
        out.append("too common or too repetitive")
    return out


def _require_study_store(conn: Connection) -> None:
    if store_kind(conn) != STUDY_KIND:
        raise StoreError(
            "accounts are kept in a study store (xerotrial init --db URL --study DEF); "
            "this is a seed store"
        )
    from sqlalchemy import inspect

    have = set(inspect(conn).get_table_names())
    if not set(ACCOUNT_TABLES) <= have:
        raise StoreError(
            "this study store predates accounts: run `xerotrial init --db URL --study DEF` "
            "with its definition once to add their tables"
        )


def _user_row(conn: Connection, name: str) -> dict[str, Any] | None:
    row = conn.execute(by_key(USERS, ("name",)), {"name": name}).mappings().first()
    return None if row is None else dict(row)


def _audited(row: dict[str, Any]) -> dict[str, Any]:
    return {c: jsonable(v) for c, v in row.items() if c != "id"}


def _user(row: dict[str, Any]) -> User:
    return User(row["name"], row["role"], row["site"], bool(row["disabled"]))


def _trusted(conn: Connection, table: str, key: dict[str, Any], row: dict[str, Any]) -> bool:
    return row_problem(conn, table, key, row) is None


def add_user(
    engine: Engine, name: str, role: str, site: str | None, password: str, *, actor: Actor
) -> User:
    """Create an account; raises :class:`StoreError` for a taken name, an unknown role or
    site, a data-entry or investigator account without a site, or a weak password."""
    from .study_store import stored_study

    name = name.strip()
    if not name or len(name) > 64 or not name.replace("-", "").replace("_", "").isalnum():
        raise StoreError(f"user name {name!r}: 1-64 letters, digits, '-' or '_'")
    if role not in ROLES:
        raise StoreError(f"unknown role {role!r}; use one of {', '.join(ROLES)}")
    if role in SITE_ROLES and not site:
        raise StoreError(f"a {role} account works at one site: give --site SITE")
    problems = password_problems(name, password)
    if problems:
        raise StoreError(f"the password is refused: {'; '.join(problems)}")
    with write_transaction(engine) as conn:
        _require_study_store(conn)
        study = stored_study(conn)
        sites = [s.code for s in study.study.sites]
        if site is not None and sites and site not in sites:
            raise StoreError(f"unknown site {site!r}; the study's sites: {', '.join(sites)}")
        if _user_row(conn, name) is not None:
            raise StoreError(f"user {name!r} exists already")
        writer = AuditWriter(
            conn, user=actor.audit_name, reason=f"account {name} created", source="user add"
        )
        row = {
            "name": name,
            "role": role,
            "site": site,
            "password_hash": _hasher().hash(password),
            "disabled": False,
            "failed_logins": 0,
            "locked_until": None,
            "created_at": _now().isoformat(timespec="seconds"),
        }
        conn.execute(insert(USERS), row)
        writer.log("insert", USERS.name, {"name": name}, None, _audited(row))
    return User(name, role, site)


def _update_user(
    conn: Connection, old: dict[str, Any], changes: dict[str, Any], writer: AuditWriter
) -> None:
    new = old | changes
    conn.execute(USERS.update().where(USERS.c.id == old["id"]).values(**changes))
    writer.log("update", USERS.name, {"name": old["name"]}, _audited(old), _audited(new))


def disable_user(engine: Engine, name: str, *, actor: Actor, reason: str | None = None) -> None:
    """Disable an account (its tokens stop working at once); audited."""
    with write_transaction(engine) as conn:
        _require_study_store(conn)
        row = _user_row(conn, name)
        if row is None:
            raise StoreError(f"no user {name!r}")
        if row["disabled"]:
            return
        writer = AuditWriter(
            conn,
            user=actor.audit_name,
            reason=reason or f"account {name} disabled",
            source="user disable",
        )
        _update_user(conn, row, {"disabled": True}, writer)


def authenticate(engine: Engine, name: str, password: str) -> User:
    """The account ``name`` when ``password`` is its password; else
    :class:`AuthenticationError`. A failure is counted (audited); the
    :data:`MAX_FAILED_LOGINS`-th in a row locks the account for :data:`LOCKOUT`, and a success
    resets the count."""
    from argon2.exceptions import InvalidHashError, VerificationError

    hasher = _hasher()
    with write_transaction(engine) as conn:
        _require_study_store(conn)
        row = _user_row(conn, name)
        if row is None or not _trusted(conn, USERS.name, {"name": name}, row):
            hasher.hash(password)  # the same time as for a known user: no user enumeration
            raise AuthenticationError("unknown user or wrong password")
        if row["disabled"]:
            raise AuthenticationError(f"account {name!r} is disabled")
        now = _now()
        if row["locked_until"] and dt.datetime.fromisoformat(row["locked_until"]) > now:
            raise AuthenticationError(
                f"account {name!r} is locked after {MAX_FAILED_LOGINS} failed logins until "
                f"{row['locked_until']}"
            )
        try:
            hasher.verify(row["password_hash"], password)
        except (VerificationError, InvalidHashError):
            failed = row["failed_logins"] + 1
            changes: dict[str, Any] = {"failed_logins": failed}
            if failed >= MAX_FAILED_LOGINS:
                changes = {
                    "failed_logins": 0,
                    "locked_until": (now + LOCKOUT).isoformat(timespec="seconds"),
                }
            writer = AuditWriter(
                conn, user=name, reason=f"failed login ({failed} in a row)", source="login"
            )
            _update_user(conn, row, changes, writer)
            failure = AuthenticationError("unknown user or wrong password")
        else:
            if row["failed_logins"] or row["locked_until"]:
                writer = AuditWriter(conn, user=name, reason="login", source="login")
                _update_user(conn, row, {"failed_logins": 0, "locked_until": None}, writer)
            return _user(row)
    raise failure  # after the failure's count is committed


def issue_token(
    engine: Engine, name: str, password: str, *, lifetime: dt.timedelta = TOKEN_LIFETIME
) -> str:
    """A new API token for ``name`` after its password; only its SHA-256 is kept."""
    user = authenticate(engine, name, password)
    token = secrets.token_urlsafe(32)
    now = _now()
    row = {
        "token_sha256": hashlib.sha256(token.encode()).hexdigest(),
        "name": user.name,
        "created_at": now.isoformat(timespec="seconds"),
        "expires_at": (now + lifetime).isoformat(timespec="seconds"),
        "revoked": False,
    }
    with write_transaction(engine) as conn:
        writer = AuditWriter(conn, user=user.name, reason="API token issued", source="user token")
        conn.execute(insert(TOKENS), row)
        writer.log("insert", TOKENS.name, {"token_sha256": row["token_sha256"]}, None, dict(row))
    return token


def user_for_token(source: Engine | Connection, token: str) -> User:
    """The account of a valid API token; :class:`AuthenticationError` for a missing, unknown,
    revoked or expired token, a disabled account, or rows not in the audit trail."""
    digest = hashlib.sha256(token.encode()).hexdigest()
    with reading(source) as conn:
        t = conn.execute(by_key(TOKENS, ("token_sha256",)), {"token_sha256": digest})
        t = t.mappings().first()
        if t is None or not _trusted(conn, TOKENS.name, {"token_sha256": digest}, dict(t)):
            raise AuthenticationError("the token is not valid")
        if t["revoked"] or dt.datetime.fromisoformat(t["expires_at"]) <= _now():
            raise AuthenticationError("the token is revoked or expired")
        row = _user_row(conn, t["name"])
        if row is None or not _trusted(conn, USERS.name, {"name": row["name"]}, row):
            raise AuthenticationError("the token is not valid")
        if row["disabled"]:
            raise AuthenticationError(f"account {row['name']!r} is disabled")
        return _user(row)
