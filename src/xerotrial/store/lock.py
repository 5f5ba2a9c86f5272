"""The database lock of a study store: after it no data write is accepted, from anywhere.

The lock is an audited ``store_meta`` value (``lock``: who locked it, when, and why), so
that it cannot be lifted behind the application's back without ``audit verify`` and every
writer (each checks the whole store first) seeing it. Every data writer of a study store
(imports, corrections, form entry, amendments) calls :func:`refuse_if_locked` inside its
write transaction. Who may lock and unlock is the caller's rule (the web application's
roles: a data manager locks, an administrator unlocks with a reason).

Example
-------
>>> import tempfile, os
>>> from xerotrial.study import SEED_STUDY
>>> from xerotrial.store.study_store import init_study_store
>>> from xerotrial.store.engine import open_store
>>> from xerotrial.store.accounts import Actor
>>> eng = open_store(init_study_store(os.path.join(tempfile.mkdtemp(), "s.db"), SEED_STUDY))
>>> lock_store(eng, actor=Actor("dm"), reason="database lock for the final analysis").by
'dm'
>>> store_lock(eng).locked
True
>>> unlock_store(eng, actor=Actor("root"), reason="a query reopened by the DMC")
>>> store_lock(eng).locked
False
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, select

from .audit import AuditWriter
from .engine import write_transaction
from .errors import StoreError
from .schema import META

__all__ = [
    "LockState",
    "StoreLockedError",
    "lock_store",
    "read_lock",
    "refuse_if_locked",
    "store_lock",
    "unlock_store",
]


class StoreLockedError(StoreError):
    """A write to a locked store."""


@dataclass(frozen=True)
class LockState:
    """Whether the store is locked, and the last lock or unlock: by whom, when, why."""

    locked: bool
    by: str = ""
    at: str = ""
    reason: str = ""

    def describe(self) -> str:
        """One line for a report, an export or an error."""
        if not self.by:
            return "not locked"
        what = "locked" if self.locked else "unlocked"
        return f"{what} by {self.by} at {self.at} ({self.reason})"


def read_lock(conn: Connection) -> LockState:
    """The store's lock state (not locked when it never was)."""
    raw = conn.execute(select(META.c.value).where(META.c.key == "lock")).scalar()
    if raw is None:
        return LockState(False)
    return LockState(**json.loads(raw))


def store_lock(engine: Engine) -> LockState:
    """:func:`read_lock` on a new connection."""
    with engine.connect() as conn:
        return read_lock(conn)


def refuse_if_locked(conn: Connection) -> None:
    """Raise :class:`StoreLockedError` when the store is locked."""
    state = read_lock(conn)
    if state.locked:
        raise StoreLockedError(
            f"the store is locked ({state.describe()}): no data can be written until an "
            "administrator unlocks it"
        )


def _set(engine: Engine, locked: bool, actor, reason: str, check=None) -> LockState:
    if not reason or not reason.strip():
        raise StoreError(f"{'locking' if locked else 'unlocking'} the store needs a reason")
    with write_transaction(engine) as conn:
        state = read_lock(conn)
        if state.locked == locked:
            raise StoreError(f"the store is already {'locked' if locked else 'unlocked'}")
        if check is not None:
            check(conn)
        writer = AuditWriter(
            conn,
            user=actor.audit_name,
            reason=reason.strip(),
            source="lock" if locked else "unlock",
        )
        new = LockState(
            locked,
            actor.audit_name,
            dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            reason.strip(),
        )
        writer.set_meta("lock", json.dumps(new.__dict__, sort_keys=True))
        return new


def lock_store(engine: Engine, *, actor, reason: str = "database lock", check=None) -> LockState:
    """Lock the store (``check(conn)`` may refuse first, e.g. while queries are open)."""
    return _set(engine, True, actor, reason, check)


def unlock_store(engine: Engine, *, actor, reason: str) -> None:
    """Unlock the store; the reason is required and audited."""
    _set(engine, False, actor, reason)
