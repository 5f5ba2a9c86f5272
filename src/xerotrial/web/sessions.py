"""Login sessions of the web pages: a signed cookie, a server-side record, a CSRF token.

The cookie is Starlette's ``SessionMiddleware`` (signed with itsdangerous under a key kept
outside the store: ``$XEROTRIAL_SECRET_KEY_FILE``, or one made when the server starts, shared
by its workers), ``SameSite=Strict`` and ``HttpOnly``. It carries a random session id and the
session's CSRF token. The store keeps the SHA-256 of the id (``xt_sessions``) with the user,
the last activity and the end, so that a logout, an idle period over :data:`IDLE_TIMEOUT`,
a session older than :data:`MAX_AGE` or a disabled account ends it on the server, whatever
the browser keeps. Every state-changing form carries the CSRF token (the synchronizer-token
pattern of OWASP's cheat sheet), compared in constant time.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from typing import Any

from fastapi import Request
from sqlalchemy import Engine, insert, select

from xerotrial.store.account_schema import SESSIONS, USERS
from xerotrial.store.accounts import User
from xerotrial.store.engine import write_transaction
from xerotrial.store.verify import row_problem

__all__ = [
    "IDLE_TIMEOUT",
    "MAX_AGE",
    "CsrfError",
    "LoginRequired",
    "check_csrf",
    "csrf_token",
    "end_session",
    "page_user",
    "start_session",
]

#: A session ends after this long without a request, and after :data:`MAX_AGE` in any case.
IDLE_TIMEOUT = dt.timedelta(minutes=15)
MAX_AGE = dt.timedelta(hours=12)
_TOUCH = dt.timedelta(seconds=30)  # last activity is written at most this often


class LoginRequired(Exception):  # noqa: N818 - a redirect, not an error
    """No valid session: the page redirects to the login."""

    def __init__(self, message: str = "") -> None:
        super().__init__(message)
        self.message = message


class CsrfError(Exception):  # noqa: N818
    """A state-changing request without the session's CSRF token."""


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _digest(sid: str) -> str:
    return hashlib.sha256(sid.encode()).hexdigest()


def csrf_token(request: Request) -> str:
    """The session's CSRF token (made on first use, also before login)."""
    token = request.session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


def check_csrf(request: Request, given: Any) -> None:
    """Raise :class:`CsrfError` unless ``given`` is the session's token."""
    want = request.session.get("csrf")
    if not want or not isinstance(given, str) or not hmac.compare_digest(want, given):
        raise CsrfError("the form's security token is missing or out of date: reload the page")


def start_session(engine: Engine, request: Request, user: User) -> None:
    """A new session for ``user`` (a new id and CSRF token: no session fixation)."""
    sid = secrets.token_urlsafe(32)
    now = _now().isoformat(timespec="seconds")
    with write_transaction(engine) as conn:
        conn.execute(
            insert(SESSIONS),
            {"sid_sha256": _digest(sid), "name": user.name, "started_at": now, "last_seen": now},
        )
    request.session.clear()
    request.session.update({"sid": sid, "csrf": secrets.token_urlsafe(32)})


def end_session(engine: Engine, request: Request) -> None:
    """Log out: the server-side record ends, the cookie is emptied."""
    sid = request.session.get("sid")
    if sid:
        with write_transaction(engine) as conn:
            conn.execute(
                SESSIONS.update()
                .where(SESSIONS.c.sid_sha256 == _digest(sid), SESSIONS.c.ended_at.is_(None))
                .values(ended_at=_now().isoformat(timespec="seconds"))
            )
    request.session.clear()


def page_user(request: Request) -> User:
    """The logged-in user of a page request, or :class:`LoginRequired`."""
    engine: Engine = request.app.state.engine
    sid = request.session.get("sid")
    if not sid:
        raise LoginRequired()
    now = _now()
    with engine.connect() as conn:
        s = conn.execute(select(SESSIONS).where(SESSIONS.c.sid_sha256 == _digest(sid))).first()
        u = None if s is None else conn.execute(select(USERS).where(USERS.c.name == s.name))
        row = None if u is None else u.mappings().first()
        problem = row is not None and row_problem(conn, USERS.name, {"name": row["name"]}, row)
    if s is None or s.ended_at is not None or row is None or problem:
        request.session.clear()
        raise LoginRequired("your session has ended: log in again")
    last = dt.datetime.fromisoformat(s.last_seen)
    if now - last > IDLE_TIMEOUT or now - dt.datetime.fromisoformat(s.started_at) > MAX_AGE:
        end_session(engine, request)
        raise LoginRequired("your session timed out: log in again")
    if row["disabled"]:
        end_session(engine, request)
        raise LoginRequired("this account is disabled")
    if now - last > _TOUCH:
        with write_transaction(engine) as conn:
            conn.execute(
                SESSIONS.update()
                .where(SESSIONS.c.id == s.id)
                .values(last_seen=now.isoformat(timespec="seconds"))
            )
    return User(row["name"], row["role"], row["site"], bool(row["disabled"]))
