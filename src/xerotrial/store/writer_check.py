"""The check a writer runs before it writes: the full :func:`~.verify.verify_connection` once,
then from the head it verified (issue 11: "check the trail first, incrementally, cheaply").

A long-lived process (the web server) writes many times to one store. Each
:class:`~.audit.AuditWriter` used to replay the whole trail under the write lock, a cost that
grows with the trail (about 40 µs per entry) and caps the whole site's save rate. Now the
first write through an engine, and any write more than :data:`FULL_CHECK_EVERY` after the
last full check, runs the full check; the others check, under the same lock:

* the store's revision and its append-only guards (as the full check);
* that the entry this process last verified (its verified head) is still there with the same
  hash: a rewritten, removed or re-chained history changes it;
* every entry written since (by this process or another): its place in the chain, its hash,
  its MAC on a keyed store (with the key), and that the stored tip is the last of them
  (with its MAC);
* every row those entries wrote: the table holds exactly the trail's last state of it (or
  no row, for a delete);
* the audited ``store_meta`` values (protocol, definition, lock, ...): each is the trail's
  last state of it, so a lock removed by SQL is noticed before a write.

What it leaves to the full check: an out-of-band change to a row no entry since the
verified head wrote, or an edit of an old entry's content without re-chaining. The writers
check the rows they change against the trail themselves (:func:`~.verify.row_problem`), and
``audit verify``, ``report`` and ``export`` run the full check.

Example
-------
>>> import tempfile, os
>>> from xerotrial.store.migrate import init_store
>>> from xerotrial.store.engine import open_store, write_transaction
>>> eng = open_store(init_store(os.path.join(tempfile.mkdtemp(), "t.db")))
>>> with write_transaction(eng) as conn:
...     writer_check(conn, None).ok, verified_head(eng).seq
(True, 0)
"""

from __future__ import annotations

import hmac
import json
import time
import weakref
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, select

from .audit_key import key_id, mac
from .chain import AUDITED_META, KEY_ID_ROW, canonical, jsonable
from .guards import missing_guards
from .layout import StoreTable, store_layout
from .schema import AUDIT, META
from .statements import by_key
from .verify import AuditReport, _revision, link_problems, verify_connection

__all__ = [
    "FULL_CHECK_EVERY",
    "VerifiedHead",
    "forget_verified_head",
    "verified_head",
    "writer_check",
]

#: seconds after which a writer runs the full check again
FULL_CHECK_EVERY = 300.0


@dataclass(frozen=True)
class VerifiedHead:
    """The last entry a check verified: ``seq`` and ``hash``, the keying entry's seq (None for
    an unkeyed store), when the last full check ran (``time.monotonic``) and the audited
    ``store_meta`` values as verified then (``(key, value)``, value None when unset)."""

    seq: int
    hash: str
    keyed_from: int | None
    full_at: float
    meta: tuple[tuple[str, str | None], ...]


_SINCE = select(AUDIT).where(AUDIT.c.seq >= bindparam("seq")).order_by(AUDIT.c.seq)
_HEADS: weakref.WeakKeyDictionary[Engine, VerifiedHead] = weakref.WeakKeyDictionary()


def verified_head(engine: Engine) -> VerifiedHead | None:
    """The head the engine last verified (None before its first check)."""
    return _HEADS.get(engine)


def forget_verified_head(engine: Engine) -> None:
    """Make the engine's next write run the full check."""
    _HEADS.pop(engine, None)


def writer_check(conn: Connection, key: bytes | None) -> AuditReport:
    """The check of a writer inside its write transaction (see the module's docstring)."""
    engine = conn.engine
    cp = _HEADS.get(engine)
    if cp is None or time.monotonic() - cp.full_at > FULL_CHECK_EVERY:
        report = verify_connection(conn, key=key)
        if report.ok:
            meta = _audited_meta(dict(conn.execute(select(META.c.key, META.c.value)).all()))
            _HEADS[engine] = VerifiedHead(*report.head, _keyed_from(conn), time.monotonic(), meta)
        else:
            _HEADS.pop(engine, None)
        return report
    report, keyed_from, meta = _incremental(conn, cp, key)
    if report.ok:
        _HEADS[engine] = VerifiedHead(*report.head, keyed_from, cp.full_at, meta)
    else:
        _HEADS.pop(engine, None)
    return report


def _keyed_from(conn: Connection) -> int | None:
    return conn.execute(
        select(AUDIT.c.seq)
        .where(AUDIT.c.table_name == META.name, AUDIT.c.row_key == KEY_ID_ROW)
        .order_by(AUDIT.c.seq)
        .limit(1)
    ).scalar()


def _incremental(
    conn: Connection, cp: VerifiedHead, key: bytes | None
) -> tuple[AuditReport, int | None, tuple[tuple[str, str | None], ...]]:
    _revision(conn)
    problems: list[str] = list(missing_guards(conn))
    rows = conn.execute(_SINCE, {"seq": cp.seq}).mappings().all()
    prev, seq, keyed_from = cp.hash, cp.seq, cp.keyed_from
    if cp.seq and (not rows or rows[0]["seq"] != cp.seq or rows[0]["hash"] != cp.hash):
        problems.append(
            f"audit entry {cp.seq}, verified before this process's last write, was changed "
            "or removed since (the history was rewritten)"
        )
    new = rows[1:] if cp.seq and rows and rows[0]["seq"] == cp.seq else rows
    written: dict[tuple[str, str], dict[str, Any] | None] = {}
    macs: list[tuple[int, str, str | None]] = []
    for row in new:
        problems += link_problems(row, seq + 1, prev)
        if keyed_from is None and row["table_name"] == META.name and row["row_key"] == KEY_ID_ROW:
            keyed_from = row["seq"]
        if keyed_from is not None and row["mac"] is None:
            problems.append(
                f"audit entry {row['seq']}: no MAC, but the store is keyed since entry "
                f"{keyed_from} (written without the audit key)"
            )
        macs.append((row["seq"], row["hash"], row["mac"]))
        prev, seq = row["hash"], row["seq"]
        values = None if row["new_values"] is None else json.loads(row["new_values"])
        written[(row["table_name"], row["row_key"])] = values
    meta = {r.key: r.value for r in conn.execute(select(META))}
    tip = meta.get("audit_tip")
    parts = (tip or "").split(":")
    if ":".join(parts[:2]) != f"{seq}:{prev}":
        problems.append(
            f"the audit trail ends at entry {seq} but the store recorded its last entry as "
            f"{':'.join(parts[:2])!r} (entries were removed)"
        )
    keyed = keyed_from is not None or "audit_key_id" in meta
    if keyed and key is not None:
        want = meta.get("audit_key_id")
        if want is not None and want != key_id(key):
            problems.append(f"the audit key given (id {key_id(key)}) is not this store's")
        else:
            for s, h, m in macs:
                if m is not None and not hmac.compare_digest(m, mac(key, h)):
                    problems.append(f"audit entry {s}: its MAC is not valid")
            tip_mac = parts[2] if len(parts) == 3 else ""
            if not hmac.compare_digest(tip_mac, mac(key, f"{seq}:{prev}")):
                problems.append("the stored tip's MAC is not valid (the tip was rewritten)")
    problems += _rows_problems(conn, written)
    expected = dict(cp.meta)
    for (table, row_key), values in written.items():
        if table == META.name:
            name = json.loads(row_key)["key"]
            expected[name] = None if values is None else values.get("value")
    now = _audited_meta(meta)
    for name, value in now:
        if expected.get(name) != value:
            problems.append(
                f"{AUDITED_META[name]} (store_meta {name}): differs from the audit trail "
                "(changed without a trace)"
            )
    from .lock import LockState

    lock = LockState(**json.loads(meta["lock"])) if "lock" in meta else LockState(False)
    macs_state = (
        ("verified" if key else "not checked (no key)") if keyed else "none (unkeyed store)"
    )
    report = AuditReport(seq, problems, [], (seq, prev), keyed, macs_state, lock.describe())
    return report, keyed_from, now


#: above this many rows written to one table since the head, read the table whole
_SCAN_ABOVE = 32


def _rows_problems(
    conn: Connection, written: dict[tuple[str, str], dict[str, Any] | None]
) -> list[str]:
    """Rows written since the verified head that the table does not hold as the trail says."""
    layout = store_layout(conn)
    by_table: dict[str, dict[str, dict[str, Any] | None]] = {}
    out = []
    for (table, row_key), values in written.items():
        if table in layout:
            by_table.setdefault(table, {})[row_key] = values
        elif table != META.name:
            out.append(f"an audit entry names an unknown table {table!r}")
    for table, rows in by_table.items():
        spec = layout[table]
        held = _held_rows(conn, spec, list(rows))
        for row_key, values in rows.items():
            where, have = f"{table} row {row_key}", held.get(row_key)
            if have is None and values is not None:
                out.append(f"{where}: in the audit trail but not in the table (deleted unseen)")
            elif have is not None and values is None:
                out.append(f"{where}: deleted in the audit trail but in the table")
            elif have is not None and values is not None:
                diff = [c for c in have if have[c] != values.get(c)]
                if diff:
                    out.append(
                        f"{where}: {', '.join(diff)} differ from the audit trail "
                        "(changed without a trace)"
                    )
    return out


def _held_rows(conn: Connection, spec: StoreTable, row_keys: list[str]) -> dict[str, dict]:
    """The table's rows of these keys (canonical JSON) as the trail records values."""
    if len(row_keys) > _SCAN_ABOVE:
        wanted = set(row_keys)
        found = (conn.execute(select(spec.table)).mappings(),)
    else:
        wanted = None
        found = tuple(
            conn.execute(by_key(spec.table, spec.key), json.loads(rk)).mappings() for rk in row_keys
        )
    out = {}
    for result in found:
        for row in result:
            values = {c: jsonable(row[c]) for c in spec.columns}
            key = canonical({k: values[k] for k in spec.key})
            if wanted is None or key in wanted:
                out[key] = values
    return out


def _audited_meta(meta: dict[str, str]) -> tuple[tuple[str, str | None], ...]:
    return tuple((name, meta.get(name)) for name in AUDITED_META)
