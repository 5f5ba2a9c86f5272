"""Checkpoints of the audit chain's head, kept outside the store: rollback and rewrite show.

Whoever can write the store's file can cut entries off the end of the chain (with their rows
and the stored tip) or rebuild the whole chain with recomputed hashes; nothing inside the file
can tell. A checkpoint is a copy of the head (``seq`` and ``hash``) taken after a full
verify, written where that writer cannot reach: a JSON-lines file (one object a line) or a
table ``audit_checkpoints`` in another database. :func:`check_checkpoints` then requires each
checkpoint's entry to be in the chain with the same hash. A checkpoint names its store by URL
(for people) and by the store's ``created_at`` (to match it, also after the file is moved).

Example
-------
>>> import tempfile, os
>>> from xerotrial.store.migrate import init_store
>>> from xerotrial.store.engine import open_store
>>> d = tempfile.mkdtemp(); eng = open_store(init_store(os.path.join(d, "t.db")))
>>> write_checkpoint(eng, os.path.join(d, "cp.jsonl"))["seq"]
0
>>> check_checkpoints(eng, os.path.join(d, "cp.jsonl"))
[]
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import Any

from sqlalchemy import Column, Engine, Integer, MetaData, String, Table, insert, select
from sqlalchemy.engine import make_url

from .errors import StoreError
from .schema import AUDIT, META
from .verify import refusal, verify

__all__ = ["CHECKPOINTS", "check_checkpoints", "read_checkpoints", "write_checkpoint"]

_META = MetaData()
#: The checkpoint table of a checkpoint database (``--to postgresql+psycopg://...``).
CHECKPOINTS = Table(
    "audit_checkpoints",
    _META,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("store", String(500), nullable=False),
    Column("created", String(64), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("hash", String(64), nullable=False),
    Column("time", String(40), nullable=False),
)


def _is_url(target: str | Path) -> bool:
    return "://" in str(target)


def _store_name(engine: Engine) -> str:
    url = engine.url
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        url = url.set(database=str(Path(url.database).resolve()))
    return make_url(url).render_as_string(hide_password=True)


def _created(engine: Engine) -> str:
    with engine.connect() as conn:
        created = conn.execute(select(META.c.value).where(META.c.key == "created_at")).scalar()
    if created is None:
        raise StoreError("the store has no created_at (store_meta): its checkpoints cannot match")
    return created


def write_checkpoint(engine: Engine, to: str | Path) -> dict[str, Any]:
    """Verify the store fully, then append a checkpoint of its head to ``to`` (a file, or a
    database URL); returns the checkpoint. Refused when the store fails its check."""
    report = verify(engine)
    if not report.ok:
        raise StoreError(refusal(report).replace("nothing was written", "no checkpoint written"))
    record = {
        "store": _store_name(engine),
        "created": _created(engine),
        "seq": report.head[0],
        "hash": report.head[1],
        "time": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    if _is_url(to):
        from .engine import make_engine

        target = make_engine(str(to))
        try:
            _META.create_all(target)
            with target.begin() as conn:
                conn.execute(insert(CHECKPOINTS), record)
        finally:
            target.dispose()
        return record
    with open(to, "a", encoding="utf-8") as f:
        f.write(json.dumps(record, sort_keys=True) + "\n")
        f.flush()
        os.fsync(f.fileno())
    return record


def read_checkpoints(source: str | Path) -> list[dict[str, Any]]:
    """The checkpoints in a file or a checkpoint database."""
    if _is_url(source):
        from .engine import make_engine

        target = make_engine(str(source))
        try:
            with target.connect() as conn:
                return [dict(r) for r in conn.execute(select(CHECKPOINTS)).mappings()]
        finally:
            target.dispose()
    out = []
    try:
        lines = Path(source).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise StoreError(f"cannot read the checkpoints {source}: {exc}") from None
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
            out.append({k: rec[k] for k in ("store", "created", "seq", "hash", "time")})
        except (ValueError, KeyError, TypeError):
            raise StoreError(f"{source}: line {n} is not a checkpoint") from None
    return out


def check_checkpoints(engine: Engine, source: str | Path) -> list[str]:
    """Problems found comparing the chain with this store's checkpoints in ``source``."""
    created = _created(engine)
    mine = [c for c in read_checkpoints(source) if c["created"] == created]
    if not mine:
        return [f"{source} holds no checkpoint of this store (created {created}): nothing to check"]
    seqs = sorted({int(c["seq"]) for c in mine})
    with engine.connect() as conn:
        q = select(AUDIT.c.seq, AUDIT.c.hash).where(AUDIT.c.seq.in_(seqs))
        have = {int(r.seq): r.hash for r in conn.execute(q)}
        last = conn.execute(select(AUDIT.c.seq).order_by(AUDIT.c.seq.desc()).limit(1)).scalar()
    problems = []
    for c in mine:
        seq = int(c["seq"])
        if seq == 0:
            continue
        if seq not in have:
            problems.append(
                f"checkpoint of {c['time']}: entry {seq} is not in the chain (it ends at entry "
                f"{last or 0}): entries were removed (the store was cut back or rolled back)"
            )
        elif have[seq] != c["hash"]:
            problems.append(
                f"checkpoint of {c['time']}: entry {seq} has another hash than then "
                f"({have[seq][:16]}, was {c['hash'][:16]}): the chain was rewritten"
            )
    return problems
