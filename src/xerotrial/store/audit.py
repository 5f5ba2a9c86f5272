"""The audit trail: an append-only, hash-chained log of every insert, update and delete.

Each entry records who (``user_name``), when (UTC ``ts``), why (``reason``), from where
(``source``: a file or ``edit``), what (``action``, ``table_name``, ``row_key``) and the
values before and after (``old_values``, ``new_values``, canonical JSON). Its ``hash`` is the
SHA-256 of the canonical JSON of all of these plus ``prev_hash``, the previous entry's hash
(64 zeros for the first): changing, removing or reordering any entry breaks the chain.

:func:`verify` walks the chain and also replays it: the rows in the form tables must be
exactly what the audit trail says they are, so a change made behind the store's back (an
``UPDATE`` outside the importer and ``edit``) is detected too. The tip (last ``seq`` and
``hash``) is kept in ``store_meta`` so that cutting entries off the end is detected. The
database refuses ``UPDATE`` and ``DELETE`` on ``audit_log`` (triggers created by the
migration); :func:`verify` is the check for anyone who bypasses that. A column added by a
later migration (``0002``: participants' race and education, more HLA loci) is absent from
the entries written before it, where it counts as empty: filling it in goes through ``edit``.

Example
-------
>>> canonical({"b": 1, "a": [1.5, None]})
'{"a":[1.5,null],"b":1}'
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Engine, insert, select

from .forms import FORMS
from .schema import AUDIT, META, TABLES

__all__ = [
    "GENESIS",
    "AuditReport",
    "AuditWriter",
    "canonical",
    "entry_hash",
    "jsonable",
    "show",
    "verify",
]

#: ``prev_hash`` of the first entry.
GENESIS = "0" * 64
_HASHED = (
    "seq",
    "ts",
    "user_name",
    "reason",
    "source",
    "action",
    "table_name",
    "row_key",
    "old_values",
    "new_values",
    "prev_hash",
)


def jsonable(value: Any) -> Any:
    """A stored value as JSON data (dates as ISO text).

    >>> jsonable(dt.date(2024, 1, 2))
    '2024-01-02'
    """
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def canonical(obj: Any) -> str:
    """Canonical JSON: sorted keys, no spaces, exact floats, no NaN."""
    return json.dumps(
        obj,
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
        default=jsonable,
    )


def entry_hash(entry: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of an audit entry's canonical JSON, ``prev_hash`` included.

    >>> len(entry_hash({k: None for k in _HASHED}))
    64
    """
    return hashlib.sha256(canonical({k: entry[k] for k in _HASHED}).encode()).hexdigest()


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")


def _tip(conn: Connection) -> tuple[int, str]:
    row = conn.execute(
        select(AUDIT.c.seq, AUDIT.c.hash).order_by(AUDIT.c.seq.desc()).limit(1)
    ).first()
    return (0, GENESIS) if row is None else (int(row.seq), str(row.hash))


class AuditWriter:
    """Appends entries inside a write transaction (see ``engine.write_transaction``).

    >>> from xerotrial.store.engine import make_engine
    >>> from xerotrial.store.schema import METADATA
    >>> eng = make_engine("sqlite://"); METADATA.create_all(eng)
    >>> with eng.begin() as conn:
    ...     w = AuditWriter(conn, user="ana", reason="entry", source="a.csv")
    ...     w.log("insert", "participants", {"subject": "P1"}, None, {"subject": "P1"})
    1
    """

    def __init__(self, conn: Connection, *, user: str, reason: str, source: str) -> None:
        self.conn, self.user, self.reason, self.source = conn, user, reason, source
        self.seq, self.prev = _tip(conn)
        self.ts = _now()

    def log(
        self,
        action: str,
        table: str,
        key: Mapping[str, Any],
        old: Mapping[str, Any] | None,
        new: Mapping[str, Any] | None,
    ) -> int:
        """Append one entry; returns its ``seq``."""
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
        self.conn.execute(insert(AUDIT), entry)
        self.prev = entry["hash"]
        self._save_tip()
        return self.seq

    def _save_tip(self) -> None:
        tip = f"{self.seq}:{self.prev}"
        done = self.conn.execute(
            META.update().where(META.c.key == "audit_tip").values(value=tip)
        ).rowcount
        if not done:
            self.conn.execute(insert(META), {"key": "audit_tip", "value": tip})


@dataclass(frozen=True)
class AuditReport:
    """The result of :func:`verify`: ``ok`` when the chain and the data agree."""

    entries: int
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no problem was found."""
        return not self.problems


def _row_values(spec_name: str, row: Mapping[str, Any]) -> dict[str, Any]:
    return {c: jsonable(row[c]) for c in FORMS[spec_name].columns}


def verify(engine: Engine) -> AuditReport:
    """Walk the audit chain and replay it against the form tables.

    >>> from xerotrial.store.engine import make_engine
    >>> from xerotrial.store.schema import METADATA
    >>> eng = make_engine("sqlite://"); METADATA.create_all(eng)
    >>> verify(eng).ok
    True
    """
    problems: list[str] = []
    state: dict[str, dict[str, dict]] = {name: {} for name in TABLES}
    # one snapshot for the whole check: a writer committing meanwhile is not a false alarm
    options = {"isolation_level": "REPEATABLE READ"} if engine.dialect.name == "postgresql" else {}
    with engine.connect().execution_options(**options) as conn, conn.begin():
        prev, expected_seq, n = GENESIS, 1, 0
        for row in conn.execute(select(AUDIT).order_by(AUDIT.c.seq)).mappings():
            n += 1
            seq = row["seq"]
            if seq != expected_seq:
                problems.append(f"audit entry {expected_seq} is missing (next is {seq})")
            if row["prev_hash"] != prev:
                problems.append(
                    f"audit entry {seq}: prev_hash does not match the hash of the "
                    "entry before it (an entry was changed, removed or inserted)"
                )
            if entry_hash(row) != row["hash"]:
                problems.append(
                    f"audit entry {seq}: its content does not match its hash (the entry was edited)"
                )
            prev, expected_seq = row["hash"], seq + 1
            table = state.get(row["table_name"])
            if table is None:
                problems.append(f"audit entry {seq}: unknown table {row['table_name']!r}")
                continue
            if row["action"] == "delete":
                table.pop(row["row_key"], None)
            else:
                table[row["row_key"]] = json.loads(row["new_values"])
        tip = conn.execute(select(META.c.value).where(META.c.key == "audit_tip")).scalar()
        if n and tip != f"{expected_seq - 1}:{prev}":
            problems.append(
                f"the audit trail ends at entry {expected_seq - 1} but the store "
                f"recorded its last entry as {tip!r} (entries were removed)"
            )
        if not n and tip is not None:
            problems.append(f"the audit trail is empty but the store recorded {tip!r}")
        for name, t in TABLES.items():
            spec = FORMS[name]
            seen = set()
            for row in conn.execute(select(t)).mappings():
                values = _row_values(name, row)
                key = canonical({k: values[k] for k in spec.key})
                seen.add(key)
                audited = state[name].get(key)
                if audited is not None:
                    # a column added by a later migration is empty in the entries before it
                    audited = dict.fromkeys(values) | audited
                if audited is None:
                    problems.append(f"{name} row {key}: not in the audit trail")
                elif audited != values:
                    diff = [c for c in values if values[c] != audited.get(c)]
                    problems.append(
                        f"{name} row {key}: {', '.join(diff)} differ from the "
                        "audit trail (changed without a trace)"
                    )
            for key in state[name].keys() - seen:
                problems.append(
                    f"{name} row {key}: in the audit trail but not in the table "
                    "(deleted without a trace)"
                )
    return AuditReport(n, problems)


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
    frame = pd.DataFrame(rows, columns=[c.name for c in AUDIT.columns])
    return frame.iloc[::-1].reset_index(drop=True)
