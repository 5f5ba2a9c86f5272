"""The tables of a study store's randomization (issue 14), fixed like the accounts' tables.

* ``xt_rand_list``: the **concealed** allocation list, one row per slot (its stratum, place,
  block and arm). No blinded role's export, report, page or API answer reads it, and the audit
  trail holds none of its arms: the list is audited as a whole, by its SHA-256
  (:func:`list_digest`, the digest ``xerotrial randomize list`` prints for the same seed).
* ``xt_randomization``: that audited record of the list (one row, ``name`` = ``list``): the
  method, the number of slots and strata, the digest, who made it and when; no arm, no seed.
* Minimization has no list made in advance: ``xt_rand_seed`` keeps its seed (concealed; the
  record holds its commitment, :func:`seed_commitment`) and each allocation adds its slot to
  ``xt_rand_list``; every slot is checked by replaying the minimization from the seed.
* ``xt_allocations``: one row per randomized subject: its randomization number, stratum and
  slot, who randomized and when; audited, and no arm (the arm is the slot's, in the list).
* ``xt_unblindings``: each unblinding: one subject's in an emergency (``kind`` =
  ``emergency``) or the study's at database lock (``study``, subject empty), with who, when and
  the reason or decision; audited.

>>> sorted(RANDOMIZATION_LAYOUT)
['xt_allocations', 'xt_randomization', 'xt_unblindings']
>>> randomization_number(7)
'R0007'
"""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy import Column, Connection, Integer, MetaData, String, Table, Text, select

from .layout import StoreTable, fixed_layout

__all__ = [
    "ALLOCATIONS",
    "RANDOMIZATION",
    "RANDOMIZATION_LAYOUT",
    "RANDOMIZATION_TABLES",
    "RAND_LIST",
    "RAND_SEED",
    "UNBLINDINGS",
    "blinding_state",
    "list_digest",
    "list_problems",
    "checked_minimizer",
    "randomization_number",
    "seed_commitment",
    "stored_seed",
]

_METADATA = MetaData()

RAND_LIST = Table(
    "xt_rand_list",
    _METADATA,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("slot", Integer, nullable=False, unique=True),
    Column("stratum", String(200), nullable=False),
    Column("sequence", Integer, nullable=False),
    Column("block", Integer, nullable=False),
    Column("block_size", Integer, nullable=False),
    Column("arm", String(64), nullable=False),
)

RAND_SEED = Table(
    "xt_rand_seed",
    _METADATA,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("seed", String(40), nullable=False),
)

RANDOMIZATION = Table(
    "xt_randomization",
    _METADATA,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(16), nullable=False, unique=True),
    Column("method", String(32), nullable=False),
    Column("slots", Integer, nullable=False),
    Column("strata", Integer, nullable=False),
    Column("list_sha256", String(64), nullable=False),
    Column("created_by", String(64), nullable=False),
    Column("created_at", String(40), nullable=False),
)

ALLOCATIONS = Table(
    "xt_allocations",
    _METADATA,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("subject", String(100), nullable=False, unique=True),
    Column("number", String(16), nullable=False, unique=True),
    Column("stratum", String(200), nullable=False),
    Column("slot", Integer, nullable=False, unique=True),
    Column("allocated_by", String(64), nullable=False),
    Column("allocated_at", String(40), nullable=False),
)

UNBLINDINGS = Table(
    "xt_unblindings",
    _METADATA,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("unblinding_id", String(16), nullable=False, unique=True),
    Column("kind", String(16), nullable=False),
    Column("subject", String(100)),
    Column("reason", Text, nullable=False),
    Column("unblinded_by", String(64), nullable=False),
    Column("unblinded_at", String(40), nullable=False),
)

#: Every randomization table by name (the list is not audited row by row: see above).
RANDOMIZATION_TABLES: dict[str, Table] = {
    t.name: t for t in (RAND_LIST, RAND_SEED, RANDOMIZATION, ALLOCATIONS, UNBLINDINGS)
}

_KEYS = {
    RANDOMIZATION.name: ("name",),
    ALLOCATIONS.name: ("subject",),
    UNBLINDINGS.name: ("unblinding_id",),
}

#: The audited ones, with their audited columns and natural keys (see :mod:`.layout`).
RANDOMIZATION_LAYOUT: dict[str, StoreTable] = fixed_layout(RANDOMIZATION_TABLES, _KEYS)


def randomization_number(slot: int) -> str:
    """The randomization number of a slot: ``R`` and at least 4 digits."""
    return f"R{slot:04d}"


def list_digest(conn: Connection) -> str | None:
    """SHA-256 of the stored list written as ``randomize list`` writes it (None: no list)."""
    from xerotrial.randomize.blocks import Slot, list_csv

    cols = (RAND_LIST.c.stratum, RAND_LIST.c.sequence, RAND_LIST.c.block, RAND_LIST.c.block_size)
    rows = conn.execute(select(*cols, RAND_LIST.c.arm).order_by(RAND_LIST.c.slot)).all()
    if not rows:
        return None
    return hashlib.sha256(list_csv([Slot(*r) for r in rows])).hexdigest()


def seed_commitment(seed: int) -> str:
    """What the audited record holds of a minimization's seed: a SHA-256 commitment."""
    return hashlib.sha256(f"xerotrial-minimization/1:{seed}".encode()).hexdigest()


def list_problems(conn: Connection) -> list[str]:
    """The concealed list against its audited record (``audit verify`` and each allocation):
    a slot changed, added or removed behind the store's back changes the digest (permuted
    blocks) or is not what the minimization replayed from its seed gives (minimization)."""
    record = conn.execute(
        select(RANDOMIZATION.c.list_sha256, RANDOMIZATION.c.method).where(
            RANDOMIZATION.c.name == "list"
        )
    ).first()
    if record is not None and record.method == "minimization":
        return checked_minimizer(conn, record.list_sha256)[1]
    digest = list_digest(conn)
    if record is None:
        if digest is None:
            return []
        return [f"the concealed list ({RAND_LIST.name}) holds slots but has no audited record"]
    if digest != record.list_sha256:
        return [
            f"the concealed list ({RAND_LIST.name}) differs from its audited SHA-256 "
            f"{record.list_sha256[:16]}... (changed without a trace)"
        ]
    return []


def blinding_state(conn: Connection) -> str:
    """``blinded`` (a concealed list, and the study not unblinded), ``unblinded`` (at
    database lock, by a recorded decision) or ``open`` (no list: arms as the data give them)."""
    if (
        conn.execute(select(RANDOMIZATION.c.id).where(RANDOMIZATION.c.name == "list")).first()
        is None
    ):
        return "open"
    done = conn.execute(select(UNBLINDINGS.c.id).where(UNBLINDINGS.c.kind == "study")).first()
    return "blinded" if done is None else "unblinded"


def stored_seed(conn: Connection) -> int | None:
    """The minimization's concealed seed (None: none stored)."""
    value = conn.execute(select(RAND_SEED.c.seed).order_by(RAND_SEED.c.id)).scalar()
    return None if value is None else int(value)


def checked_minimizer(conn: Connection, commitment: str) -> tuple[Any, list[str]]:
    """The minimizer after every stored slot, replayed in slot order from the concealed seed,
    and the problems: a seed that is not the one ``commitment`` commits to, slots whose stored
    arm is not the one the replay gives (the minimizer is None when the seed fails)."""
    from xerotrial.randomize.design import label_levels
    from xerotrial.randomize.minimization import Minimizer
    from xerotrial.randomize.stream import Stream

    from .study_store import stored_study

    seed = stored_seed(conn)
    if seed is None or seed_commitment(seed) != commitment:
        return None, [
            f"the minimization's seed ({RAND_SEED.name}) is not the one its record commits to"
        ]
    design = stored_study(conn).allocation.design
    m = Minimizer(design, Stream(seed, "minimization"))
    wrong = []
    for r in conn.execute(select(RAND_LIST).order_by(RAND_LIST.c.slot)):
        levels = label_levels(r.stratum)
        if m.assign({f: levels[f] for f in design.factors}) != r.arm:
            wrong.append(f"slot {r.slot}")
    if wrong:
        return m, [
            f"the concealed list ({RAND_LIST.name}): {', '.join(wrong[:5])} not as the "
            "minimization from its seed gives (changed without a trace)"
        ]
    return m, []
