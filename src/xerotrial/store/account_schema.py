"""The tables of a study store's accounts and of its data-management records.

Fixed tables (the same in every study store, unlike the forms), audited like the forms: a row
changed or added behind the application's back fails ``audit verify`` and, for the rows that
grant access (a user, a token), the check made at each request
(:func:`xerotrial.store.audit.row_problem`).

* ``xt_users``: one row per account: its role, site, the argon2id hash of its password (never
  the password), whether it is disabled, its count of consecutive failed logins and until when
  it is locked out.
* ``xt_tokens``: API tokens by the SHA-256 of the token (never the token), with their user,
  expiry and whether revoked.
* ``xt_sessions``: the web application's login sessions by the SHA-256 of their id (the id
  itself travels only in a cookie signed with a key kept outside the store, so a row written
  behind the application's back opens no session): user, start, last activity, end. Sessions
  are not clinical data and are not audited.

The ``xt_`` prefix keeps them apart from forms (a form may not be named so).

>>> sorted(ACCOUNT_TABLES)
['xt_sessions', 'xt_tokens', 'xt_users']
>>> ACCOUNT_LAYOUT["xt_users"].key
('name',)
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Integer, MetaData, String, Table

from .layout import StoreTable

__all__ = ["ACCOUNT_LAYOUT", "ACCOUNT_TABLES", "SESSIONS", "TOKENS", "USERS"]

_METADATA = MetaData()

USERS = Table(
    "xt_users",
    _METADATA,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("role", String(32), nullable=False),
    Column("site", String(64)),
    Column("password_hash", String(256), nullable=False),
    Column("disabled", Boolean, nullable=False),
    Column("failed_logins", Integer, nullable=False),
    Column("locked_until", String(40)),
    Column("created_at", String(40), nullable=False),
)

TOKENS = Table(
    "xt_tokens",
    _METADATA,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("token_sha256", String(64), nullable=False, unique=True),
    Column("name", String(64), nullable=False),
    Column("created_at", String(40), nullable=False),
    Column("expires_at", String(40), nullable=False),
    Column("revoked", Boolean, nullable=False),
)

SESSIONS = Table(
    "xt_sessions",
    _METADATA,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("sid_sha256", String(64), nullable=False, unique=True),
    Column("name", String(64), nullable=False),
    Column("started_at", String(40), nullable=False),
    Column("last_seen", String(40), nullable=False),
    Column("ended_at", String(40)),
)

#: The account tables by name (users and tokens audited, sessions not).
ACCOUNT_TABLES: dict[str, Table] = {t.name: t for t in (USERS, TOKENS, SESSIONS)}

#: Their audited columns and natural keys (see :mod:`.layout`).
ACCOUNT_LAYOUT: dict[str, StoreTable] = {
    USERS.name: StoreTable(
        USERS.name,
        USERS,
        tuple(c.name for c in USERS.columns if c.name != "id"),
        ("name",),
    ),
    TOKENS.name: StoreTable(
        TOKENS.name,
        TOKENS,
        tuple(c.name for c in TOKENS.columns if c.name != "id"),
        ("token_sha256",),
    ),
}
