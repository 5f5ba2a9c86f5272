"""Data review in a study store: queries, source-data verification, casebook signatures.

Each step is an audited write under its author (:class:`~.accounts.Actor`), so the audit
trail holds every query's thread (raised, answered, closed, re-opened, each with its text),
every verification and every signature. Who may take which step is the caller's rule (the
web application's :mod:`xerotrial.web.permissions`).

* A *query* is raised on one field of one form row (``open``); the site answers it
  (``answered``; a value it changes goes through the form, with its reason); the raiser
  closes it or re-opens it. The store cannot be locked while a query is not closed
  (:func:`refuse_if_queries_open`).
* *Source-data verification* marks a form row verified at its current version; a later
  save makes it unverified again (the grid shows it).
* A *signature* (21 CFR 11.50, 11.200): an investigator signs a subject's casebook after
  entering the password again; it records the name, the time, the meaning and a digest of
  the subject's data (each form row's last audit entry). A later change to the data breaks
  it visibly (:func:`signature_of` says ``valid`` False).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, func, insert, select

from xerotrial.study.model import StudyDefinition

from .account_schema import QUERIES, SDV, SIGNATURES
from .audit import AuditWriter
from .chain import canonical, jsonable
from .engine import write_transaction
from .errors import StoreError
from .lock import refuse_if_locked
from .schema import AUDIT
from .study_entry import NotFoundError, _read
from .study_schema import data_fields, study_tables, subject_column
from .study_store import stored_study

__all__ = [
    "MEANING",
    "QUERY_STATUSES",
    "Signature",
    "answer_query",
    "close_query",
    "list_queries",
    "query",
    "raise_query",
    "refuse_if_queries_open",
    "reopen_query",
    "sdv_versions",
    "sign_casebook",
    "signature_of",
    "verify_form",
]

QUERY_STATUSES = ("open", "answered", "closed")
#: The meaning of a casebook signature (what the investigator attests).
MEANING = "I have reviewed the data of this casebook and attest that they are complete and accurate"


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _audited(row: dict[str, Any]) -> dict[str, Any]:
    return {c: jsonable(v) for c, v in row.items() if c != "id"}


def raise_query(
    engine: Engine,
    *,
    subject: str,
    form: str,
    visit: str,
    field: str,
    question: str,
    actor: Any,
    instance: int = 1,
) -> str:
    """Raise a query on ``field`` of a form row; returns its id (``Q1``, ``Q2``, ...)."""
    if not question or not question.strip():
        raise StoreError("a query needs its question")
    with write_transaction(engine) as conn:
        refuse_if_locked(conn)
        study = stored_study(conn)
        _read(conn, study, form, subject, visit, instance)  # NotFoundError when unknown
        spec = next(f for f in study.forms if f.name == form)
        if field not in {f.name for f in data_fields(study, spec)}:
            raise NotFoundError(f"form {form} has no field {field!r}")
        n = conn.execute(select(func.count()).select_from(QUERIES)).scalar_one()
        qid = f"Q{n + 1}"
        row = {
            "query_id": qid,
            "subject": subject,
            "form": form,
            "visit": visit,
            "instance": instance,
            "field": field,
            "status": "open",
            "question": question.strip(),
            "answer": None,
            "raised_by": actor.audit_name,
            "raised_at": _now(),
        }
        writer = AuditWriter(conn, user=actor.audit_name, reason=question.strip(), source="query")
        conn.execute(insert(QUERIES), row)
        writer.log("insert", QUERIES.name, {"query_id": qid}, None, row)
    return qid


def _query(conn: Connection, qid: str) -> dict[str, Any]:
    row = conn.execute(select(QUERIES).where(QUERIES.c.query_id == qid)).mappings().first()
    if row is None:
        raise NotFoundError(f"no query {qid!r}")
    return dict(row)


def query(engine: Engine, qid: str) -> dict[str, Any]:
    """One query as stored."""
    with engine.connect() as conn:
        return _audited(_query(conn, qid))


def _step(
    engine: Engine, qid: str, actor: Any, text: str, want: tuple[str, ...], changes: dict
) -> dict[str, Any]:
    if not text or not text.strip():
        raise StoreError("this step of a query needs its text")
    with write_transaction(engine) as conn:
        refuse_if_locked(conn)
        old = _query(conn, qid)
        if old["status"] not in want:
            raise StoreError(f"query {qid} is {old['status']}: it cannot be {changes['status']}")
        writer = AuditWriter(conn, user=actor.audit_name, reason=text.strip(), source="query")
        conn.execute(QUERIES.update().where(QUERIES.c.id == old["id"]).values(**changes))
        new = old | changes
        writer.log("update", QUERIES.name, {"query_id": qid}, _audited(old), _audited(new))
        return _audited(new)


def answer_query(engine: Engine, qid: str, answer: str, *, actor: Any) -> dict[str, Any]:
    """The site's answer (an open or re-opened query becomes ``answered``)."""
    return _step(
        engine, qid, actor, answer, ("open",), {"status": "answered", "answer": answer.strip()}
    )


def close_query(engine: Engine, qid: str, *, actor: Any, reason: str) -> dict[str, Any]:
    """Close a query (its raiser, satisfied)."""
    return _step(engine, qid, actor, reason, ("open", "answered"), {"status": "closed"})


def reopen_query(engine: Engine, qid: str, *, actor: Any, reason: str) -> dict[str, Any]:
    """Re-open an answered or closed query (its raiser, not satisfied)."""
    return _step(engine, qid, actor, reason, ("answered", "closed"), {"status": "open"})


def list_queries(conn: Connection, *, status: str | None = None) -> list[dict[str, Any]]:
    """Every query (``status``: only those), oldest first."""
    q = select(QUERIES).order_by(QUERIES.c.id)
    if status is not None:
        q = q.where(QUERIES.c.status == status)
    return [_audited(dict(r)) for r in conn.execute(q).mappings()]


def refuse_if_queries_open(conn: Connection) -> None:
    """The lock's rule: no query may be open or answered (not yet closed)."""
    pending = [q["query_id"] for q in list_queries(conn) if q["status"] != "closed"]
    if pending:
        raise StoreError(
            f"{len(pending)} quer{'y is' if len(pending) == 1 else 'ies are'} not closed "
            f"({', '.join(pending[:10])}{', ...' if len(pending) > 10 else ''}): close them "
            "before the lock"
        )


# ------------------------------------------------------------------ source-data verification


def verify_form(
    engine: Engine, form: str, subject: str, visit: str, *, actor: Any, instance: int = 1
) -> int:
    """Mark a saved form row verified at its current version; returns the version."""
    with write_transaction(engine) as conn:
        refuse_if_locked(conn)
        study = stored_study(conn)
        entry, row = _read(conn, study, form, subject, visit, instance)
        if row is None:
            raise StoreError(f"{form} of {subject} at {visit or '-'} was never saved")
        key = {"form": form, "subject": subject, "visit": visit, "instance": instance}
        old = conn.execute(select(SDV).where(*(SDV.c[k] == v for k, v in key.items()))).first()
        new = key | {
            "version": entry.version,
            "verified_by": actor.audit_name,
            "verified_at": _now(),
        }
        writer = AuditWriter(
            conn, user=actor.audit_name, reason="source data verified", source="sdv"
        )
        if old is None:
            conn.execute(insert(SDV), new)
            writer.log("insert", SDV.name, key, None, new)
        else:
            old_row = dict(old._mapping)
            conn.execute(SDV.update().where(SDV.c.id == old_row["id"]).values(**new))
            writer.log("update", SDV.name, key, _audited(old_row), new)
        return entry.version


def sdv_versions(conn: Connection) -> dict[tuple[str, str, str, int], int]:
    """``(form, subject, visit, instance) -> version verified``."""
    return {(r.form, r.subject, r.visit, r.instance): r.version for r in conn.execute(select(SDV))}


# ------------------------------------------------------------------ signatures


@dataclass(frozen=True)
class Signature:
    """A casebook's signature: who, when, what it means, and whether the data still are what
    was signed."""

    subject: str
    signed_by: str
    signed_at: str
    meaning: str
    valid: bool

    def describe(self) -> str:
        """One line for a page."""
        state = "" if self.valid else " — BROKEN: the data changed after it"
        return f"signed by {self.signed_by} at {self.signed_at}: {self.meaning}{state}"


def subject_digest(conn: Connection, study: StudyDefinition, subject: str) -> str:
    """SHA-256 over each of the subject's form rows and its last audit entry's hash."""
    col = subject_column(study)
    parts = []
    for form in study.forms:
        t = study_tables(study)[form.name]
        for visit, instance in conn.execute(
            select(t.c.visit, t.c.instance).where(t.c[col] == subject).order_by(t.c.id)
        ):
            key = canonical({col: subject, "visit": visit, "instance": instance})
            last = conn.execute(
                select(AUDIT.c.hash)
                .where(AUDIT.c.table_name == form.name, AUDIT.c.row_key == key)
                .order_by(AUDIT.c.seq.desc())
                .limit(1)
            ).scalar()
            parts.append(f"{form.name}|{key}|{last}")
    return hashlib.sha256("\n".join(sorted(parts)).encode()).hexdigest()


def sign_casebook(
    engine: Engine, subject: str, *, user: Any, password: str, meaning: str = MEANING
) -> Signature:
    """The investigator ``user`` signs ``subject``'s casebook after re-entering the password
    (:class:`~.accounts.AuthenticationError` when wrong); a new signature replaces the last."""
    from .accounts import Actor, authenticate

    signer = authenticate(engine, user.name, password)
    if signer.name != user.name:
        raise StoreError("a signature is the signer's own")
    actor = Actor.of(signer)
    with write_transaction(engine) as conn:
        refuse_if_locked(conn)
        study = stored_study(conn)
        from .study_entry import subject_site

        subject_site(conn, study, subject)
        row = {
            "subject": subject,
            "signed_by": actor.audit_name,
            "signed_at": _now(),
            "meaning": meaning,
            "data_digest": subject_digest(conn, study, subject),
        }
        old = conn.execute(select(SIGNATURES).where(SIGNATURES.c.subject == subject)).first()
        writer = AuditWriter(conn, user=actor.audit_name, reason=meaning, source="signature")
        if old is None:
            conn.execute(insert(SIGNATURES), row)
            writer.log("insert", SIGNATURES.name, {"subject": subject}, None, row)
        else:
            old_row = dict(old._mapping)
            conn.execute(SIGNATURES.update().where(SIGNATURES.c.id == old_row["id"]).values(**row))
            writer.log("update", SIGNATURES.name, {"subject": subject}, _audited(old_row), row)
    return Signature(subject, row["signed_by"], row["signed_at"], meaning, True)


def signature_of(conn: Connection, study: StudyDefinition, subject: str) -> Signature | None:
    """The subject's signature, with whether its data are still those signed (None: none)."""
    row = conn.execute(select(SIGNATURES).where(SIGNATURES.c.subject == subject)).first()
    if row is None:
        return None
    valid = row.data_digest == subject_digest(conn, study, subject)
    return Signature(subject, row.signed_by, row.signed_at, row.meaning, valid)
