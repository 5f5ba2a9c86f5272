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

And the records of data management, audited (each step of a query, a verification, a
signature is an entry with its author):

* ``xt_queries``: a query on a field of a form row: the question, the site's answer, its
  status (``open``, ``answered``, ``closed``), who raised it.
* ``xt_sdv``: source-data verification of a form row: by whom, when, at which version of it.
* ``xt_signatures``: an investigator's signature of a subject's casebook: by whom, when, its
  meaning, and the digest of the subject's data it signs (a later change shows it broken).

The ``xt_`` prefix keeps them apart from forms (a form may not be named so).

>>> sorted(ACCOUNT_TABLES)
['xt_queries', 'xt_sdv', 'xt_sessions', 'xt_signatures', 'xt_tokens', 'xt_users']
>>> ACCOUNT_LAYOUT["xt_users"].key
('name',)
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Integer, MetaData, String, Table, Text, UniqueConstraint

from .layout import StoreTable, fixed_layout

__all__ = [
    "ACCOUNT_LAYOUT",
    "ACCOUNT_TABLES",
    "QUERIES",
    "SDV",
    "SESSIONS",
    "SIGNATURES",
    "TOKENS",
    "USERS",
]

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

QUERIES = Table(
    "xt_queries",
    _METADATA,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("query_id", String(16), nullable=False, unique=True),
    Column("subject", String(100), nullable=False),
    Column("form", String(64), nullable=False),
    Column("visit", String(64), nullable=False),
    Column("instance", Integer, nullable=False),
    Column("field", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("question", Text, nullable=False),
    Column("answer", Text),
    Column("raised_by", String(64), nullable=False),
    Column("raised_at", String(40), nullable=False),
)

SDV = Table(
    "xt_sdv",
    _METADATA,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("form", String(64), nullable=False),
    Column("subject", String(100), nullable=False),
    Column("visit", String(64), nullable=False),
    Column("instance", Integer, nullable=False),
    Column("version", Integer, nullable=False),
    Column("verified_by", String(64), nullable=False),
    Column("verified_at", String(40), nullable=False),
    UniqueConstraint("form", "subject", "visit", "instance", name="uq_xt_sdv_row"),
)

SIGNATURES = Table(
    "xt_signatures",
    _METADATA,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("subject", String(100), nullable=False, unique=True),
    Column("signed_by", String(64), nullable=False),
    Column("signed_at", String(40), nullable=False),
    Column("meaning", Text, nullable=False),
    Column("data_digest", String(64), nullable=False),
)

#: The fixed tables by name (all audited but the sessions).
ACCOUNT_TABLES: dict[str, Table] = {
    t.name: t for t in (USERS, TOKENS, SESSIONS, QUERIES, SDV, SIGNATURES)
}

_KEYS = {
    USERS.name: ("name",),
    TOKENS.name: ("token_sha256",),
    QUERIES.name: ("query_id",),
    SDV.name: ("form", "subject", "visit", "instance"),
    SIGNATURES.name: ("subject",),
}

#: The audited ones, with their audited columns and natural keys (see :mod:`.layout`).
ACCOUNT_LAYOUT: dict[str, StoreTable] = fixed_layout(ACCOUNT_TABLES, _KEYS)
