"""Randomization in a study store: the concealed list, allocation, unblinding (issue 14).

:func:`setup_list` makes the permuted-block list of the study definition's design once (by
an unblinded role) into ``xt_rand_list`` and audits it by its SHA-256 (the digest ``xerotrial
randomize list`` prints for the same seed and size; the seed is not stored).
:func:`allocate` randomizes one subject: it checks that the list is the audited one, that
the caller may randomize at the subject's site, that the subject was not randomized before and
meets the design's eligibility rules; it reads the subject's stratum from its data and takes
the stratum's first free slot. Writers take the store's write lock (one process at a time,
PostgreSQL included) and a slot is unique in ``xt_allocations``, so concurrent allocations
never share one. :func:`unblind_subject` breaks one subject's code in an emergency, with a
reason; :func:`unblind_study` records the decision that unblinds the study at database lock.
Every step is an audit entry, and none of them holds an arm.

Who may: the operating-system account running a command (``local:NAME``, which can read the
database file anyway) may do all; an account follows :mod:`xerotrial.web.permissions`.
The arm is returned only to those who may see it (:func:`sees_arms`).

Example
-------
>>> from xerotrial.store.accounts import Actor, User
>>> sees_arms(Actor.local(), blinded=True), sees_arms(Actor.of(User("s", "statistician", None)))
(True, False)
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, func, insert, select, update

from xerotrial.errors import StoreError
from xerotrial.store.accounts import Actor
from xerotrial.store.audit import AuditWriter
from xerotrial.store.engine import write_transaction
from xerotrial.store.lock import read_lock, refuse_if_locked
from xerotrial.store.randomization_schema import (
    ALLOCATIONS,
    RAND_LIST,
    RAND_SEED,
    RANDOMIZATION,
    UNBLINDINGS,
    blinding_state,
    checked_minimizer,
    list_digest,
    list_problems,
    randomization_number,
    seed_commitment,
)
from xerotrial.store.study_entry import NotFoundError
from xerotrial.store.study_schema import SUBJECTS, study_tables, subject_column
from xerotrial.store.study_store import stored_study
from xerotrial.study.model import StudyDefinition

from .design import AllocationDesign, label_levels

__all__ = [
    "Allocated",
    "IneligibleError",
    "ListInfo",
    "RandomizationForbiddenError",
    "allocate",
    "allocation_arms",
    "allocation_numbers",
    "blinding_state",
    "list_info",
    "randomization_status",
    "sees_arms",
    "setup_list",
    "unblind_study",
    "unblind_subject",
]

#: Slots per stratum when ``setup`` is not told.
DEFAULT_PER_STRATUM = 100


class RandomizationForbiddenError(StoreError):
    """The caller's role or site may not do this step."""


class IneligibleError(StoreError):
    """The subject does not meet the design's eligibility rules (``reasons``: each one)."""

    def __init__(self, subject: str, reasons: list[str]) -> None:
        self.subject, self.reasons = subject, reasons
        super().__init__(f"{subject} is not eligible for randomization: " + "; ".join(reasons))


@dataclass(frozen=True)
class ListInfo:
    """The audited record of the concealed list (no arm, no seed)."""

    method: str
    slots: int
    strata: int
    sha256: str
    created_by: str
    created_at: str


@dataclass(frozen=True)
class Allocated:
    """One subject's randomization: its number and stratum, and its arm for those who may
    see it (None otherwise)."""

    subject: str
    number: str
    stratum: str
    arm: str | None
    allocated_by: str
    allocated_at: str


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _user(actor: Actor) -> Any:
    return None if actor.is_local else actor.user


def sees_arms(actor: Actor, *, blinded: bool = True) -> bool:
    """Whether ``actor`` is shown arms (everyone once the study is unblinded)."""
    from xerotrial.web.permissions import may_see_arms

    user = _user(actor)
    return not blinded or user is None or may_see_arms(user)


def _design(study: StudyDefinition) -> AllocationDesign:
    design = study.allocation.design
    if design is None:
        raise StoreError(
            "the study definition has no randomization design: write [allocation] in its list "
            "form (method, arms = [{ code, label }], ratio, block_sizes, strata)"
        )
    return design


def list_info(conn: Connection) -> ListInfo | None:
    """The audited record of the store's list (None: no list yet)."""
    row = conn.execute(select(RANDOMIZATION).where(RANDOMIZATION.c.name == "list")).first()
    if row is None:
        return None
    return ListInfo(
        row.method, row.slots, row.strata, row.list_sha256, row.created_by, row.created_at
    )


def setup_list(
    engine: Engine, *, seed: int, actor: Actor, per_stratum: int = DEFAULT_PER_STRATUM
) -> ListInfo:
    """Make the study's concealed list once; returns its audited record."""
    from xerotrial.web.permissions import may_make_list

    from .blocks import block_list, list_csv

    user = _user(actor)
    if user is not None and not may_make_list(user):
        raise RandomizationForbiddenError(
            f"a {user.role} account may not make the allocation list (an unblinded role does)"
        )
    with write_transaction(engine) as conn:
        refuse_if_locked(conn)
        design = _design(stored_study(conn))
        have = list_info(conn)
        if have is not None:
            raise StoreError(
                f"the store has its list already (made by {have.created_by} at "
                f"{have.created_at}, sha256 {have.sha256}): a list is made once"
            )
        if design.method == "minimization":
            return _setup_minimization(conn, design, seed, actor)
        slots = block_list(design, seed=seed, per_stratum=per_stratum)
        digest = hashlib.sha256(list_csv(slots)).hexdigest()
        writer = AuditWriter(
            conn, user=actor.audit_name, reason="concealed allocation list made", source="randomize"
        )
        conn.execute(
            insert(RAND_LIST),
            [
                {"slot": i, "stratum": s.stratum, "sequence": s.sequence, "block": s.block,
                 "block_size": s.block_size, "arm": s.arm}
                for i, s in enumerate(slots, start=1)
            ],
        )  # fmt: skip
        if list_digest(conn) != digest:  # the stored list reads back as it was made
            raise StoreError("the allocation list did not read back as written; nothing kept")
        return _record_list(conn, writer, design, len(slots), digest, actor)


def _setup_minimization(
    conn: Connection, design: AllocationDesign, seed: int, actor: Actor
) -> ListInfo:
    """Minimization's setup: its seed, concealed, and the audited record of its commitment
    (the slots come with the allocations)."""
    writer = AuditWriter(
        conn, user=actor.audit_name, reason="minimization set up", source="randomize"
    )
    conn.execute(insert(RAND_SEED), {"seed": str(seed)})
    return _record_list(conn, writer, design, 0, seed_commitment(seed), actor)


def _record_list(
    conn: Connection,
    writer: AuditWriter,
    design: AllocationDesign,
    slots: int,
    digest: str,
    actor: Actor,
) -> ListInfo:
    """The list's audited record (``xt_randomization``): no arm, no seed."""
    info = ListInfo(
        design.method, slots, len(design.strata_cells()), digest, actor.audit_name, _now()
    )
    row = {"name": "list", "method": info.method, "slots": info.slots, "strata": info.strata,
           "list_sha256": info.sha256, "created_by": info.created_by,
           "created_at": info.created_at}  # fmt: skip
    conn.execute(insert(RANDOMIZATION), row)
    writer.log("insert", RANDOMIZATION.name, {"name": "list"}, None, row)
    return info


def _minimization_slot(
    conn: Connection, minimizer: Any, design: AllocationDesign, stratum: str
) -> int:
    """Minimization's next slot: the arm the replayed ``minimizer`` gives this subject's
    levels, added to the concealed list."""
    levels = label_levels(stratum)
    arm = minimizer.assign({f: levels[f] for f in design.factors})
    last = conn.execute(select(func.max(RAND_LIST.c.slot))).scalar() or 0
    sequence = conn.execute(
        select(func.count()).select_from(RAND_LIST).where(RAND_LIST.c.stratum == stratum)
    ).scalar_one()
    conn.execute(
        insert(RAND_LIST),
        {"slot": last + 1, "stratum": stratum, "sequence": sequence + 1, "block": 0,
         "block_size": 0, "arm": arm},
    )  # fmt: skip
    return last + 1


def _subject_row(conn: Connection, study: StudyDefinition, subject: str) -> Any:
    subjects = study_tables(study)[SUBJECTS]
    col = subjects.c[subject_column(study)]
    row = conn.execute(select(subjects).where(col == subject)).mappings().first()
    if row is None:
        raise NotFoundError(f"no subject {subject!r} in the store")
    return row


class _Rows(dict):
    """The subject's first row of each form, read once per allocation."""

    def __init__(self, conn: Connection, study: StudyDefinition, subject: str) -> None:
        super().__init__()
        self.conn, self.study, self.subject = conn, study, subject

    def __missing__(self, form: str) -> dict[str, Any] | None:
        self[form] = _form_row(self.conn, self.study, form, self.subject)
        return self[form]


def _form_row(
    conn: Connection, study: StudyDefinition, form: str, subject: str
) -> dict[str, Any] | None:
    table = study_tables(study)[form]
    col = table.c[subject_column(study)]
    row = conn.execute(select(table).where(col == subject).order_by(table.c.id)).mappings()
    first = row.first()
    return None if first is None else dict(first)


def _level(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _eligibility(design: AllocationDesign, rows: _Rows) -> list[str]:
    from xerotrial.study.expressions import ExpressionError, parse_expression

    reasons = []
    for rule in design.eligibility:
        row = rows[rule.form]
        if row is None:
            reasons.append(f"{rule.message} (no {rule.form} form entered)")
            continue
        expr = parse_expression(rule.expr)
        try:
            ok = expr.evaluate(row)
        except ExpressionError as exc:
            ok, rule_text = False, f" ({exc.rule})"
        else:
            rule_text = ""
        if ok is not True:
            blank = sorted(n for n in expr.names if row.get(n) in (None, ""))
            why = f" ({', '.join(blank)} empty)" if blank else rule_text
            reasons.append(f"{rule.message}{why}")
    return reasons


def _stratum(design: AllocationDesign, rows: _Rows, subject: str, site: Any) -> str:
    levels = []
    for s in design.strata:
        if s.field is None:
            value, where = _level(site), "the subject's site"
        else:
            form, _, fld = s.field.partition(".")
            row = rows[form]
            value, where = _level(None if row is None else row.get(fld)), s.field
        if value is None:
            raise StoreError(f"{subject}: stratum {s.name} cannot be known: {where} is empty")
        if value not in s.levels:
            raise StoreError(
                f"{subject}: stratum {s.name}: {where} is {value!r}, not one of the design's "
                f"levels ({', '.join(s.levels)})"
            )
        levels.append(f"{s.name}={value}")
    return ";".join(levels)


def allocate(engine: Engine, *, subject: str, actor: Actor) -> Allocated:
    """Randomize ``subject``: the next free slot of its stratum (see the module text)."""
    from xerotrial.web.permissions import may_randomize

    with write_transaction(engine) as conn:
        refuse_if_locked(conn)
        study = stored_study(conn)
        design = _design(study)
        info = list_info(conn)
        if info is None:
            raise StoreError("the store has no allocation list yet: run `randomize setup` first")
        minimizer = None
        if info.method == "minimization":  # the replay checks the slots and is reused below
            minimizer, tampered = checked_minimizer(conn, info.sha256)
        else:
            tampered = list_problems(conn)
        if tampered:
            raise StoreError(f"no allocation: {tampered[0]}")
        row = _subject_row(conn, study, subject)
        user = _user(actor)
        if user is not None and not may_randomize(user, row["site"]):
            raise RandomizationForbiddenError(
                f"a {user.role} account of site {user.site or '-'} may not randomize subjects "
                f"of site {row['site']}"
            )
        done = conn.execute(select(ALLOCATIONS).where(ALLOCATIONS.c.subject == subject)).first()
        if done is not None:
            raise StoreError(
                f"{subject} was randomized already: {done.number} by {done.allocated_by} at "
                f"{done.allocated_at} (a subject is randomized once)"
            )
        rows = _Rows(conn, study, subject)
        reasons = _eligibility(design, rows)
        if reasons:
            raise IneligibleError(subject, reasons)
        stratum = _stratum(design, rows, subject, row["site"])
        writer = AuditWriter(
            conn, user=actor.audit_name, reason=f"randomized {subject}", source="randomize"
        )
        if minimizer is not None:
            slot = _minimization_slot(conn, minimizer, design, stratum)
        else:
            taken = select(ALLOCATIONS.c.slot)
            slot = conn.execute(
                select(func.min(RAND_LIST.c.slot)).where(
                    RAND_LIST.c.stratum == stratum, RAND_LIST.c.slot.not_in(taken)
                )
            ).scalar()
            if slot is None:
                raise StoreError(f"the list has no free slot left in stratum {stratum}")
        new = {
            "subject": subject,
            "number": randomization_number(slot),
            "stratum": stratum,
            "slot": slot,
            "allocated_by": actor.audit_name,
            "allocated_at": _now(),
        }
        conn.execute(insert(ALLOCATIONS), new)
        writer.log("insert", ALLOCATIONS.name, {"subject": subject}, None, new)
        arm = _slot_arm(conn, slot)
        shown = arm if sees_arms(actor, blinded=blinding_state(conn) == "blinded") else None
    return Allocated(subject, new["number"], stratum, shown, actor.audit_name, new["allocated_at"])


def unblind_subject(engine: Engine, *, subject: str, actor: Actor, reason: str) -> str:
    """Break ``subject``'s code in an emergency; returns its arm. Audited with the reason."""
    from xerotrial.web.permissions import may_unblind_subject

    if not reason or not reason.strip():
        raise StoreError("an emergency unblinding needs its reason (--reason TEXT)")
    with write_transaction(engine) as conn:
        study = stored_study(conn)
        row = _subject_row(conn, study, subject)
        user = _user(actor)
        if user is not None and not may_unblind_subject(user, row["site"]):
            raise RandomizationForbiddenError(
                f"a {user.role} account of site {user.site or '-'} may not unblind subjects "
                f"of site {row['site']} (the site's investigator does)"
            )
        done = conn.execute(select(ALLOCATIONS).where(ALLOCATIONS.c.subject == subject)).first()
        if done is None:
            raise StoreError(f"{subject} is not randomized: there is no code to break")
        _record_unblinding(conn, actor, "emergency", subject, reason.strip())
        return _slot_arm(conn, done.slot)


def unblind_study(engine: Engine, *, actor: Actor, decision: str) -> str:
    """Record the decision that unblinds the study (the store must be locked); returns the
    unblinding's id. From then on every output shows the arms."""
    from xerotrial.web.permissions import LOCK_ROLES, UNBLINDED_ROLES

    if not decision or not decision.strip():
        raise StoreError("the study's unblinding needs its recorded decision (--decision TEXT)")
    user = _user(actor)
    if user is not None and (user.disabled or user.role not in LOCK_ROLES | UNBLINDED_ROLES):
        raise RandomizationForbiddenError(
            f"a {user.role} account may not unblind the study (a data manager or an unblinded "
            "statistician does, at database lock)"
        )
    with write_transaction(engine) as conn:
        if not read_lock(conn).locked:
            raise StoreError("the study is unblinded at database lock: lock the store first")
        state = blinding_state(conn)
        if state != "blinded":
            raise StoreError(f"the study is not blinded ({state}): nothing to unblind")
        writer, uid = _record_unblinding(conn, actor, "study", None, decision.strip())
        writer.log_many(_write_arms(conn, stored_study(conn)))
    return uid


def _record_unblinding(
    conn: Connection, actor: Actor, kind: str, subject: str | None, reason: str
) -> tuple[AuditWriter, str]:
    """Add an audited ``xt_unblindings`` row (``U1``, ``U2``, ...); the writer and its id."""
    writer = AuditWriter(conn, user=actor.audit_name, reason=reason, source="unblind")
    n = conn.execute(select(func.count()).select_from(UNBLINDINGS)).scalar_one()
    new = {
        "unblinding_id": f"U{n + 1}",
        "kind": kind,
        "subject": subject,
        "reason": reason,
        "unblinded_by": actor.audit_name,
        "unblinded_at": _now(),
    }
    conn.execute(insert(UNBLINDINGS), new)
    writer.log("insert", UNBLINDINGS.name, {"unblinding_id": new["unblinding_id"]}, None, new)
    return writer, new["unblinding_id"]


def _write_arms(conn: Connection, study: StudyDefinition) -> list[tuple]:
    """Give every randomized subject its arm in ``subjects`` (the study's unblinding: from
    then on every output reads the arms as it reads open-label ones); the audit entries."""
    subjects = study_tables(study)[SUBJECTS]
    col = subject_column(study)
    arms = _listed_arms(conn)
    entries = []
    for r in conn.execute(select(subjects).order_by(subjects.c.id)).mappings().all():
        arm = arms.get(r[col])
        if arm is None:
            continue
        old = {col: r[col], "site": r["site"], "arm": r["arm"], "def_version": r["def_version"]}
        conn.execute(update(subjects).where(subjects.c[col] == r[col]).values(arm=arm))
        entries.append(("update", SUBJECTS, {col: r[col]}, old, old | {"arm": arm}))
    return entries


def _slot_arm(conn: Connection, slot: int) -> str:
    return conn.execute(select(RAND_LIST.c.arm).where(RAND_LIST.c.slot == slot)).scalar_one()


def _listed_arms(conn: Connection) -> dict[str, str]:
    """Each randomized subject's arm, from its slot of the concealed list."""
    join = ALLOCATIONS.join(RAND_LIST, RAND_LIST.c.slot == ALLOCATIONS.c.slot)
    return dict(
        conn.execute(select(ALLOCATIONS.c.subject, RAND_LIST.c.arm).select_from(join)).all()
    )


def allocation_arms(conn: Connection, actor: Actor) -> dict[str, str | None]:
    """Each randomized subject's arm as ``actor`` may see it (None while blinded to it)."""
    show = sees_arms(actor, blinded=blinding_state(conn) == "blinded")
    return {s: (arm if show else None) for s, arm in _listed_arms(conn).items()}


def randomization_status(engine: Engine) -> str:
    """Lines for ``randomize status``: the list's record, the blinding, the slots used per
    stratum and the unblindings (no arm)."""
    with engine.connect() as conn:
        info = list_info(conn)
        if info is None:
            return "no allocation list yet (`randomize setup` makes it)"
        lines = [
            f"list: {info.method}, {info.slots} slots in {info.strata} strata, made by "
            f"{info.created_by} at {info.created_at}",
            f"sha256: {info.sha256}",
            f"blinding: {blinding_state(conn)}",
        ]
        total = dict(
            conn.execute(
                select(RAND_LIST.c.stratum, func.count()).group_by(RAND_LIST.c.stratum)
            ).all()
        )
        used = dict(
            conn.execute(
                select(ALLOCATIONS.c.stratum, func.count()).group_by(ALLOCATIONS.c.stratum)
            ).all()
        )
        order = conn.execute(
            select(RAND_LIST.c.stratum).where(RAND_LIST.c.sequence == 1).order_by(RAND_LIST.c.slot)
        ).scalars()
        if info.method == "minimization":
            lines += [f"  {s}: {used.get(s, 0)} allocated" for s in order]
        else:
            lines += [f"  {s}: {used.get(s, 0)} of {total[s]} slots used" for s in order]
        n = conn.execute(select(func.count()).select_from(UNBLINDINGS)).scalar_one()
        lines.append(f"unblindings: {n}")
    return "\n".join(lines)


def allocation_numbers(conn: Connection) -> dict[str, str]:
    """Each randomized subject's randomization number (no arm: for every reader)."""
    return dict(conn.execute(select(ALLOCATIONS.c.subject, ALLOCATIONS.c.number)).all())
