"""The JSON API, ``/api/v1`` (issue 13's contract): ``Authorization: Bearer TOKEN``.

* ``GET /subjects``: the subjects the caller may see, ``[{"subject", "site"}]``.
* ``GET /subjects/{subject}/forms/{form}?visit=V[&instance=N]``: ``{"values", "version",
  "status", ...}``.
* ``PUT`` the same with ``{"values", "reason", "version"}``: 200 with the new version; 400
  naming each failing field (a changed value without a reason too); 403 for a role or site
  that may not; 409 when ``version`` is stale (with the form as it is now); 423 when the
  store is locked.
* ``POST /lock`` (data manager), ``POST /unlock`` with ``{"reason"}`` (administrator).
* 401 for a missing, invalid, expired or disabled user's token.

Every error answer is ``{"detail": TEXT}``, plus ``"errors": [{"field", "value", "rule"}]``
for a 400 and ``"current"`` for a 409.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field
from sqlalchemy import Connection, Engine, select

from xerotrial.errors import ImportRejectedError
from xerotrial.randomize.allocate import RandomizationForbiddenError
from xerotrial.store.accounts import Actor, AuthenticationError, User, user_for_token
from xerotrial.store.engine import reading
from xerotrial.store.errors import StoreError
from xerotrial.store.lock import StoreLockedError, lock_store, store_lock, unlock_store
from xerotrial.store.review import (
    answer_query,
    close_query,
    list_queries,
    query,
    raise_query,
    refuse_if_queries_open,
    reopen_query,
    sign_casebook,
    signature_of,
    verify_form,
)
from xerotrial.store.study_entry import (
    NotFoundError,
    StaleVersionError,
    read_entry,
    save_entry,
    subject_site,
)
from xerotrial.store.study_schema import SUBJECTS, study_tables, subject_column
from xerotrial.store.study_store import stored_study

from .permissions import (
    LOCK_ROLES,
    UNLOCK_ROLES,
    may_answer_query,
    may_close_query,
    may_raise_query,
    may_read,
    may_see_arms,
    may_sign,
    may_verify,
    may_write,
)

__all__ = ["ForbiddenError", "install_error_handlers", "query_step", "router", "site_of"]

router = APIRouter(prefix="/api/v1")
_bearer = HTTPBearer(auto_error=False, description="an API token (`xerotrial user token`)")


class ForbiddenError(Exception):
    """The caller's role or site may not do this."""


Scalar = str | int | float | bool | None


class FormSave(BaseModel):
    """The body of a form ``PUT``."""

    values: dict[str, Scalar | list[str]] = Field(description="field -> value (text)")
    version: int = Field(ge=0, description="the version read (0: never saved)")
    reason: str | None = Field(None, description="why a saved value changes")
    status: int | None = Field(None, description="form status: 0, 1 or 2 (complete)")


class Reason(BaseModel):
    """A body carrying a reason."""

    reason: str = ""


def _engine(request: Request) -> Engine:
    return request.app.state.engine


def _connection(request: Request) -> Iterator[Connection]:
    """The request's connection for its reads (one checkout, not one per lookup)."""
    with _engine(request).connect() as conn:
        yield conn


Reader = Annotated[Connection, Depends(_connection)]


Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def _token(credentials: HTTPAuthorizationCredentials | None) -> str:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise AuthenticationError("an API token is needed (Authorization: Bearer TOKEN)")
    return credentials.credentials


def current_user(request: Request, credentials: Credentials) -> User:
    """The caller, from its bearer token (401 otherwise), on a connection of its own: a
    request that writes holds no connection while it waits for the write lock."""
    return user_for_token(_engine(request), _token(credentials))


def reading_user(reader: Reader, credentials: Credentials) -> User:
    """The caller of a request that only reads, on the request's connection."""
    return user_for_token(reader, _token(credentials))


Caller = Annotated[User, Depends(current_user)]
ReadingCaller = Annotated[User, Depends(reading_user)]


def site_of(source: Engine | Connection, subject: str) -> str | None:
    """The subject's site (:class:`NotFoundError` for an unknown subject)."""
    with reading(source) as conn:
        return subject_site(conn, stored_study(conn), subject)


@router.get("/subjects")
def list_subjects(reader: Reader, user: ReadingCaller) -> list[dict[str, Any]]:
    """The subjects the caller may see, with their site (and arm for unblinded roles)."""
    from xerotrial.randomize.allocate import allocation_arms, allocation_numbers

    study = stored_study(reader)
    t = study_tables(study)[SUBJECTS]
    col = subject_column(study)
    rows = reader.execute(select(t).order_by(t.c.id)).mappings().all()
    numbers = allocation_numbers(reader)
    listed = allocation_arms(reader, Actor.of(user)) if may_see_arms(user) else {}
    out = []
    for r in rows:
        if not may_read(user, r["site"]):
            continue
        item: dict[str, Any] = {"subject": r[col], "site": r["site"]}
        if r[col] in numbers:
            item["randomization_number"] = numbers[r[col]]
        if may_see_arms(user):
            item["arm"] = listed.get(r[col], r["arm"])
        out.append(item)
    if not out and not may_read(user, user.site):
        raise ForbiddenError(f"a {user.role} account reads no clinical data")
    return out


@router.get("/subjects/{subject}/forms/{form}")
def get_form(
    reader: Reader,
    user: ReadingCaller,
    subject: str,
    form: str,
    visit: Annotated[str, Query()] = "",
    instance: Annotated[int, Query(ge=1)] = 1,
) -> dict[str, Any]:
    """One form of one subject at one visit."""
    if not may_read(user, site_of(reader, subject)):
        raise ForbiddenError(f"{user.name} ({user.role}) may not read subject {subject}")
    return read_entry(reader, form, subject, visit, instance).as_json()


@router.put("/subjects/{subject}/forms/{form}")
def put_form(
    request: Request,
    user: Caller,
    subject: str,
    form: str,
    body: FormSave,
    visit: Annotated[str, Query()] = "",
    instance: Annotated[int, Query(ge=1)] = 1,
) -> dict[str, Any]:
    """Save one form (all or nothing, audited under the caller)."""
    engine = _engine(request)
    if not may_write(user, site_of(engine, subject)):
        raise ForbiddenError(f"{user.name} ({user.role}) may not write data of subject {subject}")
    entry = save_entry(
        engine,
        form,
        subject,
        visit,
        body.values,
        version=body.version,
        actor=Actor.of(user),
        reason=body.reason,
        instance=instance,
        status=body.status,
    )
    return entry.as_json()


@router.post("/lock")
def post_lock(request: Request, user: Caller, body: Reason | None = None) -> dict[str, Any]:
    """Lock the store (data manager)."""
    if user.role not in LOCK_ROLES:
        raise ForbiddenError(f"{user.name} ({user.role}) may not lock the store")
    reason = (body.reason if body else "") or "database lock"
    state = lock_store(
        _engine(request), actor=Actor.of(user), reason=reason, check=refuse_if_queries_open
    )
    return {"locked": True, "lock": state.describe()}


@router.post("/unlock")
def post_unlock(request: Request, user: Caller, body: Reason) -> dict[str, Any]:
    """Unlock the store (administrator, with a reason)."""
    if user.role not in UNLOCK_ROLES:
        raise ForbiddenError(f"{user.name} ({user.role}) may not unlock the store")
    if not body.reason.strip():
        return JSONResponse({"detail": "unlocking needs a reason"}, status_code=400)
    unlock_store(_engine(request), actor=Actor.of(user), reason=body.reason)
    return {"locked": False, "lock": store_lock(_engine(request)).describe()}


class NewQuery(BaseModel):
    """The body of a new query."""

    subject: str
    form: str
    visit: str = ""
    instance: int = Field(1, ge=1)
    field: str
    question: str


class Text(BaseModel):
    """A body carrying a text (an answer, a reason)."""

    text: str


class Password(BaseModel):
    """A signature's password, entered again."""

    password: str


def visible_queries(engine: Engine, user: User) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        study = stored_study(conn)
        sites: dict[str, str | None] = {}
        out = []
        for q in list_queries(conn):
            if q["subject"] not in sites:
                sites[q["subject"]] = subject_site(conn, study, q["subject"])
            if may_read(user, sites[q["subject"]]):
                out.append(q | {"site": sites[q["subject"]]})
        return out


@router.get("/queries")
def get_queries(request: Request, user: Caller, status: str | None = None) -> list[dict]:
    """The queries on the subjects the caller may see (``status``: only those)."""
    return [q for q in visible_queries(_engine(request), user) if status in (None, q["status"])]


@router.post("/queries", status_code=201)
def post_query(request: Request, user: Caller, body: NewQuery) -> dict[str, Any]:
    """Raise a query on a field (monitor, data manager)."""
    engine = _engine(request)
    if not may_raise_query(user, site_of(engine, body.subject)):
        raise ForbiddenError(f"{user.name} ({user.role}) may not raise a query here")
    qid = raise_query(
        engine, subject=body.subject, form=body.form, visit=body.visit, field=body.field,
        question=body.question, actor=Actor.of(user), instance=body.instance,
    )  # fmt: skip
    return query(engine, qid)


def query_step(engine: Engine, user: User, qid: str, step: str, text: str) -> dict[str, Any]:
    """``answer`` (the site's staff), ``close`` or ``reopen`` (its raiser) the query ``qid``
    as ``user``: the API's and the pages' one rule."""
    q = query(engine, qid)
    if step == "answer":
        if not may_answer_query(user, site_of(engine, q["subject"])):
            raise ForbiddenError(f"{user.name} ({user.role}) may not answer this query")
        return answer_query(engine, qid, text, actor=Actor.of(user))
    if step in ("close", "reopen"):
        if not may_close_query(user, q["raised_by"]):
            raise ForbiddenError(f"only its raiser ({q['raised_by']}) may {step} query {qid}")
        fn = close_query if step == "close" else reopen_query
        return fn(engine, qid, actor=Actor.of(user), reason=text)
    raise NotFoundError(f"no step {step!r} (answer, close, reopen)")


@router.post("/queries/{qid}/{step}")
def post_query_step(request: Request, user: Caller, qid: str, step: str, body: Text) -> dict:
    """``answer`` (the site), ``close`` or ``reopen`` (the raiser) a query."""
    return query_step(_engine(request), user, qid, step, body.text)


@router.post("/subjects/{subject}/forms/{form}/verify")
def post_verify(
    request: Request, user: Caller, subject: str, form: str, visit: str = "", instance: int = 1
) -> dict[str, Any]:
    """Mark source-data verification of a form at its current version (monitor)."""
    engine = _engine(request)
    if not may_verify(user, site_of(engine, subject)):
        raise ForbiddenError(f"{user.name} ({user.role}) may not verify source data")
    version = verify_form(engine, form, subject, visit, actor=Actor.of(user), instance=instance)
    return {"verified": True, "version": version}


@router.post("/subjects/{subject}/sign")
def post_sign(request: Request, user: Caller, subject: str, body: Password) -> dict[str, Any]:
    """Sign the subject's casebook after the password (investigator of the site)."""
    engine = _engine(request)
    if not may_sign(user, site_of(engine, subject)):
        raise ForbiddenError(f"{user.name} ({user.role}) may not sign this casebook")
    return sign_casebook(engine, subject, user=user, password=body.password).__dict__


@router.post("/subjects/{subject}/randomize", status_code=201)
def post_randomize(request: Request, user: Caller, subject: str) -> dict[str, Any]:
    """Randomize the subject (its site's staff): the randomization number and stratum, and
    the arm only to those who may see it (:mod:`xerotrial.randomize.allocate`)."""
    from xerotrial.randomize.allocate import allocate

    a = allocate(_engine(request), subject=subject, actor=Actor.of(user))
    out = {"subject": a.subject, "randomization_number": a.number, "stratum": a.stratum,
           "allocated_by": a.allocated_by, "allocated_at": a.allocated_at}  # fmt: skip
    return out | ({"arm": a.arm} if a.arm is not None else {})


@router.post("/subjects/{subject}/unblind")
def post_unblind(request: Request, user: Caller, subject: str, body: Reason) -> dict[str, Any]:
    """Emergency unblinding of the subject with a reason (its site's investigator): the arm."""
    from xerotrial.randomize.allocate import unblind_subject

    arm = unblind_subject(
        _engine(request), subject=subject, actor=Actor.of(user), reason=body.reason
    )
    return {"subject": subject, "arm": arm}


@router.get("/subjects/{subject}/signature")
def get_signature(request: Request, user: Caller, subject: str) -> dict[str, Any]:
    """The casebook's signature and whether it still holds (``{}``: not signed)."""
    engine = _engine(request)
    if not may_read(user, site_of(engine, subject)):
        raise ForbiddenError(f"{user.name} ({user.role}) may not read subject {subject}")
    with engine.connect() as conn:
        sig = signature_of(conn, stored_study(conn), subject)
    return {} if sig is None else sig.__dict__


#: Roles that export records (read-only; no arm in what they get).
EXPORT_ROLES = frozenset({"data-manager", "statistician"})


@router.get("/records")
def get_records(request: Request, user: Caller) -> list[dict[str, Any]]:
    """Every stored form row of the subjects the caller may see: ``subject``, ``site``,
    ``visit``, ``instance``, ``form``, ``status``, ``values`` (data manager, statistician;
    never an arm)."""
    from xerotrial.store.study_export import clinical_records

    if user.role not in EXPORT_ROLES:
        raise ForbiddenError(f"{user.name} ({user.role}) may not export records")
    with _engine(request).connect() as conn:
        records = clinical_records(conn, stored_study(conn))
    return [r for r in records if may_read(user, r["site"])]


@router.get("/metadata")
def get_metadata(request: Request, user: Caller) -> Response:
    """The study's REDCap data dictionary (CSV, the 18 columns)."""
    from xerotrial.study.redcap import to_redcap, write_dictionary

    if not (may_read(user, user.site) or user.role == "admin"):
        raise ForbiddenError(f"{user.name} ({user.role}) may not read the metadata")
    with _engine(request).connect() as conn:
        text = write_dictionary(to_redcap(stored_study(conn)))
    return Response(text, media_type="text/csv; charset=utf-8")


@router.post("/records")
async def post_records(request: Request, user: Caller) -> dict[str, Any]:
    """Import a REDCap raw records export (CSV body) through the store's validation, all or
    nothing; a site's staff only for subjects of their site."""
    import tempfile
    from pathlib import Path

    from fastapi.concurrency import run_in_threadpool

    from xerotrial.store.redcap_records import read_records
    from xerotrial.store.study_import import import_rows

    body = await request.body()
    engine = _engine(request)

    def run() -> dict[str, Any]:
        with engine.connect() as conn:
            study = stored_study(conn)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "records.csv"
            path.write_bytes(body)
            subjects, rows, notes = read_records(study, path)
            for s in subjects:
                try:
                    site = site_of(engine, s.subject)
                except NotFoundError:
                    site = s.site
                if not may_write(user, site) or (
                    s.site is not None and not may_write(user, s.site)
                ):
                    raise ForbiddenError(
                        f"{user.name} ({user.role}) may not write data of subject {s.subject}"
                    )
            result = import_rows(
                engine, study, subjects, rows, source="records.csv",
                user=Actor.of(user).audit_name, reason="import through the API",
            )  # fmt: skip
        return {
            "inserted": result.inserted,
            "unchanged": result.unchanged,
            "subjects": result.subjects,
            "warnings": list(result.warnings),
            "notes": notes,
        }

    return await run_in_threadpool(run)


def _problems(exc: ImportRejectedError) -> list[dict[str, Any]]:
    return [
        {"field": p.column, "value": None if p.value is None else str(p.value), "rule": p.rule}
        for p in exc.problems
    ]


def install_error_handlers(app: FastAPI, page=None) -> None:  # noqa: ANN001
    """Map the store's errors onto HTTP statuses (see the module's docstring); outside the
    API, ``page(request, status, message)`` answers (an HTML page)."""

    def handler(status: int, extra=None):
        def handle(request: Request, exc: Exception):
            if page is not None and not request.url.path.startswith(router.prefix + "/"):
                return page(request, status, str(exc))
            body = {"detail": str(exc)}
            if extra is not None:
                body |= extra(exc)
            headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
            return JSONResponse(body, status_code=status, headers=headers)

        return handle

    app.add_exception_handler(AuthenticationError, handler(401))
    app.add_exception_handler(ForbiddenError, handler(403))
    app.add_exception_handler(RandomizationForbiddenError, handler(403))
    app.add_exception_handler(NotFoundError, handler(404))
    app.add_exception_handler(
        StaleVersionError, handler(409, lambda e: {"current": e.current.as_json()})
    )
    app.add_exception_handler(StoreLockedError, handler(423))
    app.add_exception_handler(ImportRejectedError, handler(400, lambda e: {"errors": _problems(e)}))
    app.add_exception_handler(StoreError, handler(400))

    def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {
                "field": ".".join(str(x) for x in e["loc"] if x not in ("body", "query")),
                "value": None,
                "rule": e["msg"],
            }
            for e in exc.errors()
        ]
        return JSONResponse({"detail": "invalid request", "errors": errors}, status_code=400)

    app.add_exception_handler(RequestValidationError, invalid)
