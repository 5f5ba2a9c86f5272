"""Audit trail: a MAC column, an index on the audited row, the stored protocol in the trail.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 12:00:00.000000

* ``audit_log.mac`` (nullable, 64 hex): HMAC-SHA256 of the entry's hash with the audit key
  kept outside the store (``xerotrial.store.audit_key``); empty in entries written without a
  key, and in every entry before this revision.
* Index ``ix_audit_log_row`` on ``audit_log (table_name, row_key)``: the trail's last state
  of one row (what ``edit`` compares the stored row with) is one index lookup.
* A store that already keeps a protocol (``store_meta.protocol_toml``, from ``init
  --protocol``) gets an audit entry recording it (user ``migration``, source
  ``migration 0003``), so that ``audit verify`` can require every protocol to be in the trail;
  protocol changes are audited from now on.

Written by hand; the result equals ``xerotrial.store.schema``. Downgrading drops the column
and the index (refused on a keyed store: its MACs would be lost); the audit entry stays, the
trail is append-only. This revision is never edited: later changes are new revisions.
"""

from __future__ import annotations

import datetime as dt
import hashlib

import sqlalchemy as sa
from alembic import op

from xerotrial.store.audit import GENESIS, canonical, entry_hash

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

SOURCE = "migration 0003"
REASON = (
    "recorded by migration 0003: the protocol kept in the store before protocol changes "
    "were audited"
)
_COLUMNS = (
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
    "hash",
)


def _record_protocol(conn: sa.Connection) -> None:
    """Append the audit entry of the stored protocol (unless the trail already has it)."""
    audit = sa.table("audit_log", *(sa.column(c) for c in _COLUMNS))
    meta = sa.table("store_meta", sa.column("key"), sa.column("value"))
    toml = conn.execute(sa.select(meta.c.value).where(meta.c.key == "protocol_toml")).scalar()
    if toml is None:
        return
    row_key = canonical({"key": "protocol_toml"})
    new = {
        "key": "protocol_toml",
        "value": toml,
        "sha256": hashlib.sha256(toml.encode()).hexdigest(),
    }
    last = conn.execute(
        sa.select(audit.c.new_values)
        .where(audit.c.table_name == "store_meta", audit.c.row_key == row_key)
        .order_by(audit.c.seq.desc())
        .limit(1)
    ).scalar()
    if last == canonical(new):  # upgraded before (downgrade, upgrade again)
        return
    tip = conn.execute(
        sa.select(audit.c.seq, audit.c.hash).order_by(audit.c.seq.desc()).limit(1)
    ).first()
    seq, prev = (0, GENESIS) if tip is None else (int(tip.seq), str(tip.hash))
    entry = {
        "seq": seq + 1,
        "ts": dt.datetime.now(dt.UTC).isoformat(timespec="microseconds"),
        "user_name": "migration",
        "reason": REASON,
        "source": SOURCE,
        "action": "insert" if last is None else "update",
        "table_name": "store_meta",
        "row_key": row_key,
        "old_values": last,
        "new_values": canonical(new),
        "prev_hash": prev,
    }
    entry["hash"] = entry_hash(entry)
    conn.execute(sa.insert(audit), entry)
    value = f"{entry['seq']}:{entry['hash']}"
    if not conn.execute(
        meta.update().where(meta.c.key == "audit_tip").values(value=value)
    ).rowcount:
        conn.execute(sa.insert(meta), {"key": "audit_tip", "value": value})


def upgrade() -> None:
    op.add_column("audit_log", sa.Column("mac", sa.String(length=64), nullable=True))
    op.create_index("ix_audit_log_row", "audit_log", ["table_name", "row_key"])
    _record_protocol(op.get_bind())


def downgrade() -> None:
    conn = op.get_bind()
    keyed = conn.execute(sa.text("SELECT 1 FROM store_meta WHERE key = 'audit_key_id'")).first()
    if keyed is not None:
        raise RuntimeError("this store is keyed: downgrading below 0003 would drop its audit MACs")
    op.drop_index("ix_audit_log_row", table_name="audit_log")
    op.drop_column("audit_log", "mac")
