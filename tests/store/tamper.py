"""What someone who can write the database file can do: the attacks of the tamper tests."""

from __future__ import annotations

import json

from sqlalchemy import Connection, Engine, text

from xerotrial.store.audit import GENESIS, canonical, entry_hash
from xerotrial.store.schema import TABLES


def drop_guards(conn: Connection) -> None:
    """Drop the append-only triggers (the owner of the database can)."""
    if conn.dialect.name == "sqlite":
        conn.execute(text("DROP TRIGGER audit_log_no_update"))
        conn.execute(text("DROP TRIGGER audit_log_no_delete"))
    else:
        conn.execute(text("DROP TRIGGER audit_log_no_change ON audit_log"))
        conn.execute(text("DROP TRIGGER audit_log_no_truncate ON audit_log"))


def restore_guards(conn: Connection) -> None:
    """Put the triggers back as migration 0001 made them (a careful attacker does)."""
    from xerotrial.store.guards import SQLITE_GUARDS

    if conn.dialect.name == "sqlite":
        for sql in SQLITE_GUARDS.values():
            conn.execute(text(sql))
    else:
        conn.execute(
            text(
                "CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log "
                "FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()"
            )
        )
        conn.execute(
            text(
                "CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log "
                "FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()"
            )
        )


def entries(conn: Connection) -> list[dict]:
    return [dict(r) for r in conn.execute(text("SELECT * FROM audit_log ORDER BY seq")).mappings()]


def forge_append(engine: Engine, *, mac: str | None = None) -> None:
    """Insert a donor row and a forged audit entry for it, hashed with the public algorithm,
    and a matching stored tip: no guard is touched, nothing is removed."""
    with engine.begin() as conn:
        last = entries(conn)[-1]
        values = dict.fromkeys(c.name for c in TABLES["donors"].columns if c.name != "id")
        values["donor"] = "D9"
        conn.execute(text("INSERT INTO donors (donor) VALUES ('D9')"))
        entry = {
            "seq": last["seq"] + 1,
            "ts": last["ts"],
            "user_name": last["user_name"],
            "reason": "import",
            "source": "donors.csv",
            "action": "insert",
            "table_name": "donors",
            "row_key": canonical({"donor": "D9"}),
            "old_values": None,
            "new_values": canonical(values),
            "prev_hash": last["hash"],
        }
        entry["hash"] = entry_hash(entry)
        entry["mac"] = mac
        conn.execute(
            text(
                f"INSERT INTO audit_log ({', '.join(entry)}) "
                f"VALUES ({', '.join(':' + k for k in entry)})"
            ),
            entry,
        )
        tip = f"{entry['seq']}:{entry['hash']}" + (f":{mac}" if mac else "")
        conn.execute(text("UPDATE store_meta SET value = :v WHERE key = 'audit_tip'"), {"v": tip})


def cut_last(engine: Engine) -> None:
    """Delete the last entry with its row, and set the tip to the entry before (guards
    dropped, then put back)."""
    with engine.begin() as conn:
        drop_guards(conn)
        log = entries(conn)
        last, before = log[-1], log[-2]
        key = json.loads(last["row_key"])
        where = " AND ".join(f'"{k}" = :{k}' for k in key)
        conn.execute(text(f'DELETE FROM "{last["table_name"]}" WHERE {where}'), key)
        conn.execute(text("DELETE FROM audit_log WHERE seq = :s"), {"s": last["seq"]})
        tip = f"{before['seq']}:{before['hash']}" + (f":{before['mac']}" if before["mac"] else "")
        conn.execute(text("UPDATE store_meta SET value = :v WHERE key = 'audit_tip'"), {"v": tip})
        restore_guards(conn)


def rewrite_chain(engine: Engine) -> None:
    """Change participant P01's age in its row and its insert entry, and recompute every
    hash from there on (and the tip): a consistent chain that tells another story."""
    with engine.begin() as conn:
        drop_guards(conn)
        conn.execute(text("UPDATE participants SET age_years = 70 WHERE subject = 'P01'"))
        prev = GENESIS
        for e in entries(conn):
            old = e["hash"]
            e["prev_hash"] = prev
            if e["table_name"] == "participants" and e["row_key"] == '{"subject":"P01"}':
                e["new_values"] = e["new_values"].replace('"age_years":61', '"age_years":70')
            e["hash"] = prev = entry_hash(e)
            if e["hash"] != old:
                conn.execute(
                    text(
                        "UPDATE audit_log SET new_values = :n, prev_hash = :p, hash = :h "
                        "WHERE seq = :s"
                    ),
                    {"n": e["new_values"], "p": e["prev_hash"], "h": e["hash"], "s": e["seq"]},
                )
        tip = f"{e['seq']}:{e['hash']}"
        conn.execute(text("UPDATE store_meta SET value = :v WHERE key = 'audit_tip'"), {"v": tip})
        restore_guards(conn)
