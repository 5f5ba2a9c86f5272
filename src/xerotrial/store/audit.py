"""The audit trail: an append-only, hash-chained log of every insert, update and delete.

Each entry records who (``user_name``), when (UTC ``ts``), why (``reason``), from where
(``source``: a file or ``edit``), what (``action``, ``table_name``, ``row_key``) and the
values before and after (``old_values``, ``new_values``, canonical JSON). Its ``hash`` is the
SHA-256 of the canonical JSON of all of these plus ``prev_hash``, the previous entry's hash
(64 zeros for the first): changing, removing or reordering any entry breaks the chain. The
audited facts of ``store_meta`` (the protocol, the audit key's id: :data:`AUDITED_META`) are
entries too (``table_name`` ``store_meta``, ``row_key`` ``{"key": ...}``).

:func:`verify` walks the chain and also replays it: the rows in the form tables and the
audited ``store_meta`` values must be exactly what the trail says they are, so a change made
behind the store's back (an ``UPDATE`` outside the importer and ``edit``) is detected too. The
tip (last ``seq`` and ``hash``) is kept in ``store_meta``; the database's guards (append-only
triggers, :mod:`.guards`) must be in place. A keyed store (:mod:`.audit_key`) has a MAC on
every entry from its keying on and on the tip, checkable only with the key kept outside the
store: without it the chain proves nothing against someone who can write the database file
and recompute hashes (see the README). A column added by a later migration is absent from the
entries written before it, where it counts as empty.

Every writer goes through :class:`AuditWriter`, whose constructor runs the writer's check
(:mod:`.writer_check`: the full :func:`verify_connection`, then incrementally) inside the write
transaction and refuses (:class:`StoreError`) a store that fails it. The
format lives in :mod:`.chain`, the check in :mod:`.verify` (both re-exported here).

Example
-------
>>> canonical({"b": 1, "a": [1.5, None]})
'{"a":[1.5,null],"b":1}'
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, insert, select

from .audit_key import KEY_ENV, key_id, load_key, mac
from .chain import AUDITED_META, GENESIS, canonical, entry_hash, jsonable, meta_values
from .errors import StoreError
from .schema import AUDIT, META
from .verify import AuditReport, last_state, refusal, row_problem, verify, verify_connection

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "AUDITED_META",
    "GENESIS",
    "AuditReport",
    "AuditWriter",
    "canonical",
    "entry_hash",
    "jsonable",
    "last_state",
    "meta_values",
    "refusal",
    "row_problem",
    "show",
    "verify",
    "verify_connection",
]


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")


class AuditWriter:
    """Appends entries inside a write transaction (see ``engine.write_transaction``).

    Every write to the store passes through here, so its constructor is where a tampered
    store is refused: it runs :func:`~.writer_check.writer_check` (under the write lock: the
    full :func:`verify_connection` first, then incrementally) and raises
    :class:`StoreError` on any problem, or when the store is keyed and no key is given.
    ``key``: the audit key (default: ``$XEROTRIAL_AUDIT_KEY_FILE``).

    >>> import tempfile, os
    >>> from xerotrial.store.migrate import init_store
    >>> from xerotrial.store.engine import open_store, write_transaction
    >>> from xerotrial.store.schema import TABLES
    >>> eng = open_store(init_store(os.path.join(tempfile.mkdtemp(), "t.db")))
    >>> with write_transaction(eng) as conn:
    ...     w = AuditWriter(conn, user="ana", reason="entry", source="a.csv")
    ...     _ = conn.execute(insert(TABLES["sites"]), {"site": "S1"})
    ...     w.log("insert", "sites", {"site": "S1"}, None, {"site": "S1"})
    1
    """

    def __init__(
        self,
        conn: Connection,
        *,
        user: str,
        reason: str,
        source: str,
        key: bytes | None = None,
    ) -> None:
        from .writer_check import writer_check

        key = load_key() if key is None else key
        report = writer_check(conn, key)
        if not report.ok:
            raise StoreError(refusal(report))
        if report.keyed and key is None:
            raise StoreError(
                f"the store is keyed: writing to it needs its audit key ({KEY_ENV}=FILE)"
            )
        self.conn, self.user, self.reason, self.source = conn, user, reason, source
        self.key = key if report.keyed else None
        self.seq, self.prev = report.head
        self.ts = _now()

    @classmethod
    def for_new_store(cls, conn: Connection, *, user: str, reason: str, source: str) -> AuditWriter:
        """A writer for a store created in this very transaction, which has nothing to verify
        yet (refused unless its audit trail is empty); ``key_store`` keys it."""
        if conn.execute(select(AUDIT.c.seq).limit(1)).first() is not None:
            raise StoreError("not a new store: its audit trail already has entries")
        self = cls.__new__(cls)
        self.conn, self.user, self.reason, self.source = conn, user, reason, source
        self.key = None
        self.seq, self.prev = 0, GENESIS
        self.ts = _now()
        return self

    def log(
        self,
        action: str,
        table: str,
        key: Mapping[str, Any],
        old: Mapping[str, Any] | None,
        new: Mapping[str, Any] | None,
    ) -> int:
        """Append one entry; returns its ``seq``."""
        return self.log_many([(action, table, key, old, new)])

    def log_many(
        self,
        changes: list[
            tuple[str, str, Mapping[str, Any], Mapping[str, Any] | None, Mapping[str, Any] | None]
        ],
    ) -> int:
        """Append one entry per ``(action, table, key, old, new)``, in one statement, and move
        the tip once; returns the last ``seq``."""
        if not changes:
            return self.seq
        entries = []
        for action, table, key, old, new in changes:
            entries.append(self._entry(action, table, key, old, new))
        self.conn.execute(insert(AUDIT), entries)
        self._save_meta("audit_tip", self._tip())
        return self.seq

    def _entry(
        self,
        action: str,
        table: str,
        key: Mapping[str, Any],
        old: Mapping[str, Any] | None,
        new: Mapping[str, Any] | None,
    ) -> dict[str, Any]:
        self.seq += 1
        entry = {
            "seq": self.seq,
            "ts": self.ts,
            "user_name": self.user,
            "reason": self.reason,
            "source": self.source,
            "action": action,
            "table_name": table,
            "row_key": canonical(dict(key)),
            "old_values": None if old is None else canonical(dict(old)),
            "new_values": None if new is None else canonical(dict(new)),
            "prev_hash": self.prev,
        }
        entry["hash"] = entry_hash(entry)
        entry["mac"] = None if self.key is None else mac(self.key, entry["hash"])
        self.prev = entry["hash"]
        return entry

    def set_meta(self, key: str, value: str) -> int | None:
        """Set an audited ``store_meta`` value (:data:`AUDITED_META`), with its entry;
        returns its ``seq`` (None when the value is already that)."""
        if key not in AUDITED_META:
            raise ValueError(f"{key!r} is not an audited store_meta key")
        old = self.conn.execute(select(META.c.value).where(META.c.key == key)).scalar()
        if old == value:
            return None
        self._save_meta(key, value)
        if key == "study_definition":
            from .study_store import forget_stored_study

            forget_stored_study(self.conn)
        return self.log(
            "insert" if old is None else "update",
            META.name,
            {"key": key},
            None if old is None else meta_values(key, old),
            meta_values(key, value),
        )

    def key_store(self, key: bytes) -> int | None:
        """Key an unkeyed store from the next entry on (its key id, audited and MAC'd)."""
        if self.key is not None:
            return None
        self.key = key
        return self.set_meta("audit_key_id", key_id(key))

    def _tip(self) -> str:
        tip = f"{self.seq}:{self.prev}"
        return tip if self.key is None else f"{tip}:{mac(self.key, tip)}"

    def _save_meta(self, key: str, value: str) -> None:
        done = self.conn.execute(
            META.update().where(META.c.key == key).values(value=value)
        ).rowcount
        if not done:
            self.conn.execute(insert(META), {"key": key, "value": value})


def show(engine: Engine, *, table: str | None = None, limit: int | None = None) -> pd.DataFrame:
    """The audit trail as a DataFrame (oldest first; ``limit``: the last N entries).

    >>> from xerotrial.store.engine import make_engine
    >>> from xerotrial.store.schema import METADATA
    >>> eng = make_engine("sqlite://"); METADATA.create_all(eng)
    >>> list(show(eng).columns)[:3]
    ['seq', 'ts', 'user_name']
    """
    q = select(AUDIT)
    if table is not None:
        q = q.where(AUDIT.c.table_name == table)
    q = q.order_by(AUDIT.c.seq.desc())
    if limit is not None:
        q = q.limit(limit)
    with engine.connect() as conn:
        rows = [dict(r) for r in conn.execute(q).mappings()]
    import pandas as pd

    frame = pd.DataFrame(rows, columns=[c.name for c in AUDIT.columns])
    return frame.iloc[::-1].reset_index(drop=True)
