"""Check a store against its audit trail: chain, replay, MACs, guards (``audit verify``).

:func:`verify` walks the hash chain, replays it against the form tables and the audited
``store_meta`` values (:data:`~.chain.AUDITED_META`: the protocol, the audit key's id),
checks the MACs of a keyed store with the key (``$XEROTRIAL_AUDIT_KEY_FILE``; without it a
warning says they were not checked) and the database's append-only guards (:mod:`.guards`).
:func:`last_state` and :func:`row_problem` answer for one row, through the index on
``audit_log (table_name, row_key)``: ``edit`` uses them before it changes a row.

Example
-------
>>> print(refusal(AuditReport(3, ["x"])))
the store fails its audit check (1 problem); nothing was written:
  x
run `xerotrial audit verify` for the full report
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, inspect, select, text

from xerotrial.errors import XerotrialError

from .audit_key import KEY_ENV, key_id, load_key, mac
from .chain import AUDITED_META, GENESIS, KEY_ID_ROW, canonical, entry_hash, jsonable
from .errors import StoreError
from .guards import missing_guards, owner_warning
from .layout import StoreTable, store_kind, store_layout
from .randomization_schema import RANDOMIZATION, blinding_state, list_problems
from .schema import AUDIT, META, REVISION
from .statements import LAST_STATE

__all__ = [
    "AuditReport",
    "last_state",
    "link_problems",
    "refusal",
    "row_problem",
    "verify",
    "verify_connection",
]


def last_state(
    conn: Connection, table: str, key: Mapping[str, Any]
) -> tuple[int, dict[str, Any] | None] | None:
    """The trail's last entry of one row (index ``ix_audit_log_row``): ``(seq, values)``,
    values None when that entry deleted it; None when the trail never saw the row."""
    row = conn.execute(LAST_STATE, {"table": table, "row_key": canonical(dict(key))}).first()
    if row is None:
        return None
    return int(row.seq), None if row.new_values is None else json.loads(row.new_values)


def row_problem(
    conn: Connection, table: str, key: Mapping[str, Any], row: Mapping[str, Any]
) -> str | None:
    """Why a stored form row is not the trail's last state of it (None when it is)."""
    values = {c: jsonable(row[c]) for c in store_layout(conn)[table].columns}
    where = f"{table} row {canonical(dict(key))}"
    last = last_state(conn, table, key)
    if last is None or last[1] is None:
        return f"{where}: not in the audit trail (inserted without a trace)"
    seq, audited = last
    audited = {c: audited.get(c) for c in values}
    diff = [c for c in values if values[c] != audited.get(c)]
    if not diff:
        return None
    return (
        f"{where}: {', '.join(diff)} differ from the audit trail's last state of it "
        f"(entry {seq}): changed without a trace"
    )


@dataclass(frozen=True)
class AuditReport:
    """The result of :func:`verify`: ``ok`` when the chain, the data and the guards agree.

    ``head`` is the last entry's ``(seq, hash)``; ``keyed`` whether the store has an audit
    key; ``macs`` what became of the MACs (``verified``, ``not checked (no key)``, ...);
    ``warnings`` are things to know that are not tampering; ``lock`` the lock state checked.
    """

    entries: int
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    head: tuple[int, str] = (0, GENESIS)
    keyed: bool = False
    macs: str = "none (unkeyed store)"
    #: the store's database lock as it was checked (``.lock.LockState.describe``)
    lock: str = "not locked"
    #: the study's blinding (:func:`.randomization_schema.blinding_state`: ``blinded``,
    #: ``unblinded`` or ``open``)
    blinding: str = "open"

    @property
    def ok(self) -> bool:
        """True when no problem was found."""
        return not self.problems

    def head_line(self) -> str:
        """The chain head for people: seq, the hash's first 16 hex digits, the MAC status.

        >>> AuditReport(0).head_line()
        'entry 0, hash 0000000000000000, MACs none (unkeyed store)'
        """
        return f"entry {self.head[0]}, hash {self.head[1][:16]}, MACs {self.macs}"


def refusal(report: AuditReport, limit: int = 10) -> str:
    """The message of a write refused because the store fails its audit check."""
    n = len(report.problems)
    lines = [f"the store fails its audit check ({n} problem{'s' * (n != 1)}); nothing was written:"]
    lines += [f"  {p}" for p in report.problems[:limit]]
    if n > limit:
        lines.append(f"  ... and {n - limit} more")
    lines.append("run `xerotrial audit verify` for the full report")
    return "\n".join(lines)


def _row_values(spec: StoreTable, row: Mapping[str, Any]) -> dict[str, Any]:
    return {c: jsonable(row[c]) for c in spec.columns}


def _revision(conn: Connection) -> None:
    kind = store_kind(conn)
    if kind != "seed":
        from .layout import STUDY_KIND

        if kind != STUDY_KIND:
            raise StoreError(
                f"the store's layout is {kind!r}; this xerotrial knows {STUDY_KIND!r} "
                "(a newer xerotrial made it)"
            )
        return
    if not inspect(conn).has_table("alembic_version"):
        raise StoreError(
            "not a xerotrial store (no schema revision): create it with `xerotrial init`"
        )
    rev = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    if rev != REVISION:
        raise StoreError(
            f"the store's schema is at revision {rev}, this xerotrial's at {REVISION}: "
            "run `xerotrial init` to migrate it"
        )


def link_problems(row: Mapping[str, Any], expected_seq: int, prev: str) -> list[str]:
    """What is wrong with one entry's place in the chain: its seq (``expected_seq`` is the
    one due), its ``prev_hash`` (``prev``: the entry before's hash) and its own hash."""
    seq, out = row["seq"], []
    if seq != expected_seq:
        out.append(f"audit entry {expected_seq} is missing (next is {seq})")
    if row["prev_hash"] != prev:
        out.append(
            f"audit entry {seq}: prev_hash does not match the hash of the "
            "entry before it (an entry was changed, removed or inserted)"
        )
    if entry_hash(row) != row["hash"]:
        out.append(f"audit entry {seq}: its content does not match its hash (the entry was edited)")
    return out


def _walk(
    conn: Connection, problems: list[str], state: dict[str, dict[str, dict]]
) -> tuple[int, str, int, int | None, list[tuple[int, str, str | None]]]:
    """Walk the chain and replay it into ``state``; returns (entries, last hash, last seq,
    seq of the keying entry, [(seq, hash, mac)])."""
    prev, expected_seq, n, keyed_from = GENESIS, 1, 0, None
    macs: list[tuple[int, str, str | None]] = []
    for row in conn.execute(select(AUDIT).order_by(AUDIT.c.seq)).mappings():
        n += 1
        seq = row["seq"]
        problems += link_problems(row, expected_seq, prev)
        prev, expected_seq = row["hash"], seq + 1
        if keyed_from is None and row["table_name"] == META.name and row["row_key"] == KEY_ID_ROW:
            keyed_from = seq
        if keyed_from is not None and row["mac"] is None:
            problems.append(
                f"audit entry {seq}: no MAC, but the store is keyed since entry {keyed_from} "
                "(written without the audit key)"
            )
        elif keyed_from is None and row["mac"] is not None:
            problems.append(f"audit entry {seq}: a MAC before the store was keyed")
        macs.append((seq, row["hash"], row["mac"]))
        table = state.get(row["table_name"])
        if table is None:
            problems.append(f"audit entry {seq}: unknown table {row['table_name']!r}")
            continue
        if row["action"] == "delete":
            table.pop(row["row_key"], None)
        else:
            table[row["row_key"]] = json.loads(row["new_values"])
    return n, prev, expected_seq - 1, keyed_from, macs


def _replay_tables(
    conn: Connection,
    problems: list[str],
    state: dict[str, dict[str, dict]],
    layout: Mapping[str, StoreTable],
    have: set[str],
) -> None:
    for name, spec in layout.items():
        if name not in have:
            problems.append(
                f"table {name} is missing: dropped, or the store was made before it (run "
                "`xerotrial init --db URL --study DEF` with its definition once to add it)"
            )
            continue
        seen = set()
        for row in conn.execute(select(spec.table)).mappings():
            values = _row_values(spec, row)
            key = canonical({k: values[k] for k in spec.key})
            seen.add(key)
            audited = state[name].get(key)
            if audited is not None:
                # a column added by a later migration (or amendment) is empty in the entries
                # before it; one dropped since (an amendment drops only empty ones) is no
                # longer the table's
                audited = {c: audited.get(c) for c in values}
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


def _replay_meta(meta: Mapping[str, str], problems: list[str], audited: Mapping[str, dict]) -> None:
    for key, what in AUDITED_META.items():
        value, last = meta.get(key), audited.get(canonical({"key": key}))
        where = f"{what} (store_meta {key})"
        if last is None and value is not None:
            problems.append(f"{where}: not in the audit trail (set without a trace)")
        elif last is not None and value is None:
            problems.append(
                f"{where}: in the audit trail but not in the store (deleted without a trace)"
            )
        elif last is not None and last.get("value") != value:
            problems.append(f"{where}: differs from the audit trail (changed without a trace)")


def _macs(
    report: dict[str, Any],
    key: bytes | None,
    keyed_from: int | None,
    meta: Mapping[str, str],
    trail_id: str | None,
    entries: list[tuple[int, str, str | None]],
    head: str,
    tip_mac: str | None,
) -> None:
    """MAC checks; fills report's problems, warnings, keyed and macs."""
    problems, warnings = report["problems"], report["warnings"]
    store_id = meta.get("audit_key_id")
    keyed = store_id is not None or keyed_from is not None
    report["keyed"] = keyed
    if keyed_from is not None and store_id is None:
        problems.append(
            f"the store's audit key id was removed (store_meta audit_key_id) but its entries "
            f"carry MACs since entry {keyed_from}"
        )
    if keyed and tip_mac is None:
        problems.append("the stored tip (store_meta audit_tip) has no MAC, but the store is keyed")
    if not keyed:
        if key is not None:
            warnings.append(
                f"an audit key is set ({KEY_ENV}) but this store is not keyed: its entries "
                "carry no MAC (`xerotrial init` with the key keys it from then on; a store "
                "keyed before that reads as unkeyed now was rewritten)"
            )
        return
    if key is None:
        report["macs"] = "not checked (no key)"
        warnings.append(
            f"the store is keyed but no audit key was given ({KEY_ENV}=FILE): the MACs were "
            "not checked, so a forged entry recomputed with the public hash would pass"
        )
        return
    want = store_id or trail_id
    if want is not None and want != key_id(key):
        report["macs"] = "not checked (wrong key)"
        problems.append(f"the audit key given (id {key_id(key)}) is not this store's (id {want})")
        return
    report["macs"] = "verified"
    for seq, h, m in entries:
        if m is not None and not hmac.compare_digest(m, mac(key, h)):
            problems.append(
                f"audit entry {seq}: its MAC is not valid (written or rewritten without the key)"
            )
    if tip_mac is not None and not hmac.compare_digest(tip_mac, mac(key, head)):
        problems.append(
            "the stored tip's MAC is not valid (the tip was rewritten without the key: "
            "entries were removed or forged)"
        )


def verify_connection(conn: Connection, *, key: bytes | None = None) -> AuditReport:
    """:func:`verify` on an open connection (inside its transaction: what it sees)."""
    _revision(conn)
    problems: list[str] = list(missing_guards(conn))
    warnings = [w for w in [owner_warning(conn)] if w]
    try:
        layout = store_layout(conn)
    except XerotrialError as exc:  # a study store whose stored definition does not build
        problems.append(f"the store's tables cannot be known: {exc}")
        layout = {}
    state: dict[str, dict[str, dict]] = {name: {} for name in layout} | {META.name: {}}
    n, prev, last, keyed_from, entries = _walk(conn, problems, state)
    meta = {r.key: r.value for r in conn.execute(select(META))}
    tip = meta.get("audit_tip")
    parts = (tip or "").split(":")  # seq:hash, then :mac on a keyed store
    head = None if tip is None else ":".join(parts[:2])
    tip_mac = parts[2] if len(parts) == 3 else None
    if n and head != f"{last}:{prev}":
        problems.append(
            f"the audit trail ends at entry {last} but the store "
            f"recorded its last entry as {head!r} (entries were removed)"
        )
    if not n and tip is not None:
        problems.append(f"the audit trail is empty but the store recorded {tip!r}")
    have = set(inspect(conn).get_table_names())
    _replay_tables(conn, problems, state, layout, have)
    blinding = "open"
    if RANDOMIZATION.name in layout and RANDOMIZATION.name in have:
        problems += list_problems(conn)
        blinding = blinding_state(conn)
    _replay_meta(meta, problems, state[META.name])
    trail_id = (state[META.name].get(KEY_ID_ROW) or {}).get("value")
    out: dict[str, Any] = {"problems": problems, "warnings": warnings}
    _macs(out, key, keyed_from, meta, trail_id, entries, f"{last}:{prev}", tip_mac)
    from .lock import LockState

    lock = LockState(**json.loads(meta["lock"])) if "lock" in meta else LockState(False)
    return AuditReport(
        n,
        problems,
        warnings,
        (last, prev),
        out.get("keyed", False),
        out.get("macs", "none (unkeyed store)"),
        lock.describe(),
        blinding,
    )


def verify(engine: Engine, *, key: bytes | None = None) -> AuditReport:
    """Walk the audit chain, replay it against the form tables and the audited store_meta
    values, check the MACs (with ``key``, default ``$XEROTRIAL_AUDIT_KEY_FILE``) and the
    database's append-only guards.

    >>> import tempfile, os
    >>> from xerotrial.store.migrate import init_store
    >>> from xerotrial.store.engine import open_store
    >>> verify(open_store(init_store(os.path.join(tempfile.mkdtemp(), "t.db")))).ok
    True
    """
    key = load_key() if key is None else key
    # one snapshot for the whole check: a writer committing meanwhile is not a false alarm
    options = {"isolation_level": "REPEATABLE READ"} if engine.dialect.name == "postgresql" else {}
    with engine.connect().execution_options(**options) as conn, conn.begin():
        return verify_connection(conn, key=key)
