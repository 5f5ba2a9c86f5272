"""The server-rendered pages: login, the subjects' status grid, a form, its history.

Pages work without JavaScript (``static/form.js`` only adds checks as a field is left); every
rule is the server's: the same permissions as the API (:mod:`.permissions`), the same saves
(:func:`xerotrial.store.study_entry.save_entry`). Templates autoescape everything they show.
A save that raises warnings (a soft limit, a required field left blank in an incomplete form)
is shown back for a confirmation with its reason; a change to a saved value asks for the
reason; every field's history is one click away.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources
from itertools import groupby
from typing import Any
from urllib.parse import quote

import jinja2
from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from sqlalchemy import select

from xerotrial.errors import ImportRejectedError
from xerotrial.store.accounts import Actor, AuthenticationError, User, authenticate
from xerotrial.store.errors import StoreError
from xerotrial.store.form_preview import preview_form
from xerotrial.store.lock import StoreLockedError, lock_store, read_lock, unlock_store
from xerotrial.store.review import (
    MEANING,
    query,
    raise_query,
    refuse_if_queries_open,
    sdv_versions,
    sign_casebook,
    signature_of,
    verify_form,
)
from xerotrial.store.study_entry import (
    NotFoundError,
    StaleVersionError,
    entry_history,
    read_entry,
    save_entry,
)
from xerotrial.store.study_schema import SUBJECTS, study_tables, subject_column
from xerotrial.store.study_status import status_grid
from xerotrial.store.study_store import stored_study

from .api import ForbiddenError, query_step, site_of, visible_queries
from .permissions import (
    LOCK_ROLES,
    UNLOCK_ROLES,
    may_answer_query,
    may_close_query,
    may_raise_query,
    may_randomize,
    may_read,
    may_sign,
    may_verify,
    may_write,
)
from .sessions import (
    LoginRequired,
    check_csrf,
    csrf_token,
    end_session,
    page_user,
    start_session,
)

__all__ = ["install_page_handlers", "message_page", "render", "router", "templates"]

router = APIRouter(include_in_schema=False)

templates = jinja2.Environment(
    loader=jinja2.FileSystemLoader(str(resources.files("xerotrial") / "web" / "templates")),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
)
_STATUSES = ((0, "Incomplete"), (1, "Unverified"), (2, "Complete"))


def _study(request: Request):  # noqa: ANN202
    with request.app.state.engine.connect() as conn:
        return stored_study(conn), read_lock(conn)


def render(
    request: Request, name: str, status: int = 200, user: User | None = None, **context: Any
) -> HTMLResponse:
    """A page of the template ``name``."""
    study, lock = _study(request)
    html = templates.get_template(name).render(
        study_id=study.study.id,
        study_title=study.study.title,
        user=user,
        csrf=csrf_token(request),
        locked=lock.describe() if lock.locked else "",
        **context,
    )
    return HTMLResponse(html, status_code=status)


def _visit_label(study, visit: str) -> str:  # noqa: ANN001
    for v in study.visits:
        if v.name == visit:
            return v.label or v.name
    return visit or "no visit"


@router.get("/")
def home(request: Request) -> Response:
    """To the subjects when logged in, else to the login."""
    return RedirectResponse("/subjects", status_code=303)


@router.get("/favicon.ico")
def favicon() -> Response:
    """No icon (rather than a 404 in every browser's console)."""
    return Response(status_code=204)


@router.get("/login")
def login_page(request: Request, message: str = "") -> HTMLResponse:
    """The login form."""
    return render(request, "login.html", title="Log in", message=message)


@router.post("/login")
async def login(request: Request) -> Response:
    """Check the password, start a session."""
    form = await request.form()
    try:
        check_csrf(request, form.get("csrf_token"))
    except Exception:  # noqa: BLE001 - any CSRF failure is the same answer
        return render(request, "login.html", 403, title="Log in", message="Reload the page.")
    name, password = str(form.get("username", "")), str(form.get("password", ""))
    engine = request.app.state.engine
    try:
        user = await run_in_threadpool(authenticate, engine, name, password)
    except AuthenticationError as exc:
        return render(request, "login.html", 401, title="Log in", message=str(exc))
    await run_in_threadpool(start_session, engine, request, user)
    return RedirectResponse(_home(user), status_code=303)


def _home(user: User) -> str:
    """Where a user starts: the subjects, or (an administrator, who reads no data) the lock."""
    return "/lock" if not may_read(user, user.site) else "/subjects"


@router.post("/logout")
async def logout(request: Request) -> Response:
    """End the session."""
    form = await request.form()
    check_csrf(request, form.get("csrf_token"))
    await run_in_threadpool(end_session, request.app.state.engine, request)
    return RedirectResponse("/login?message=You+are+logged+out.", status_code=303)


@router.get("/subjects")
def subjects_page(request: Request, message: str = "") -> HTMLResponse:
    """The subjects the user may see, with the visit x form status grid and each one's
    randomization number (a button for the site's staff where none yet)."""
    from xerotrial.randomize.allocate import allocation_numbers, list_info

    user = page_user(request)
    with request.app.state.engine.connect() as conn:
        numbers = allocation_numbers(conn)
        randomizing = list_info(conn) is not None
        study = stored_study(conn)
        t = study_tables(study)[SUBJECTS]
        col = subject_column(study)
        rows = conn.execute(select(t.c[col], t.c.site).order_by(t.c.id)).all()
        if not may_read(user, user.site):
            raise ForbiddenError(f"a {user.role} account reads no clinical data")
        mine = [(s, site) for s, site in rows if may_read(user, site)]
        grid = status_grid(conn, study, [s for s, _ in mine])
    labels = {v.name: v.label or v.name for v in study.visits}
    visits = [
        (labels.get(v, v or "forms"), len(list(g)))
        for v, g in groupby(grid.columns, key=lambda c: c[0])
    ]
    table = [(s, site, list(zip(grid.columns, grid.rows[s], strict=True))) for s, site in mine]
    return render(
        request,
        "subjects.html",
        user=user,
        title="Subjects",
        message=message,
        randomizing=randomizing,
        numbers=numbers,
        may_randomize={s: may_randomize(user, site) for s, site in mine},
        rows=table,
        columns=grid.columns,
        visits=visits,
        form_titles={f.name: f.title for f in study.forms},
    )


def _num(x: float | None) -> str | None:
    return None if x is None else f"{x:g}"


def _fields(study, form: str) -> list[dict[str, Any]]:  # noqa: ANN001
    spec = next((f for f in study.forms if f.name == form), None)
    if spec is None:
        raise NotFoundError(f"unknown form {form!r}")
    out = []
    for f in spec.fields:
        options = list(f.choices.items())
        if f.type == "yesno":
            options = [("1", "Yes"), ("0", "No")]
        out.append(
            {
                "name": f.name,
                "type": f.type,
                "label": f.label,
                "unit": f.unit,
                "required": f.required,
                "lo": _num(f.lo),
                "hi": _num(f.hi),
                "soft_lo": _num(f.soft_lo),
                "soft_hi": _num(f.soft_hi),
                "show_if": f.show_if or "",
                "calc": f.calc or "",
                "options": options,
            }
        )
    return out


def _form_urls(subject: str, form: str, visit: str) -> tuple[str, str]:
    base = f"/subjects/{quote(subject, safe='')}/forms/{quote(form, safe='')}"
    q = f"?visit={quote(visit, safe='')}"
    return base + q, f"{base}/history{q}"


def _form_page(
    request: Request,
    user: User,
    subject: str,
    form: str,
    visit: str,
    status: int = 200,
    **extra: Any,
) -> HTMLResponse:
    engine = request.app.state.engine
    study, lock = _study(request)
    entry = extra.pop("entry", None) or read_entry(engine, form, subject, visit)
    counts: dict[str, int] = {}
    for c in entry_history(engine, form, subject, visit):
        counts[c.field] = counts.get(c.field, 0) + 1
    form_url, history_url = _form_urls(subject, form, visit)
    title = next(f.title for f in study.forms if f.name == form)
    site = site_of(engine, subject)
    queries = []
    for q in visible_queries(engine, user):
        if (q["subject"], q["form"], q["visit"]) != (subject, form, visit):
            continue
        steps = []
        if q["status"] == "open" and may_answer_query(user, site):
            steps.append("answer")
        if may_close_query(user, q["raised_by"]):
            steps += {"open": ["close"], "answered": ["close", "reopen"]}.get(
                q["status"], ["reopen"]
            )
        queries.append(q | {"steps": [] if lock.locked else steps})
    with engine.connect() as conn:
        signature = signature_of(conn, study, subject)
        verified = sdv_versions(conn).get((form, subject, visit, 1))
    sdv = ""
    if verified is not None:
        sdv = f"verified at version {verified}" + (
            "" if verified == entry.version else f"; changed since (now version {entry.version})"
        )
    base = form_url.split("?")[0]
    query_string = form_url[len(base) :]
    context = {
        "errors": [],
        "warnings": [],
        "saved": False,
        "done": "",
        "reason": "",
        "values": entry.values,
    } | extra
    context |= {
        "queries": queries,
        "signature": signature,
        "sdv": sdv,
        "can_query": not lock.locked and may_raise_query(user, site),
        "can_verify": not lock.locked and may_verify(user, site),
        "can_sign": not lock.locked and may_sign(user, site),
        "query_url": f"{base}/queries{query_string}",
        "verify_url": f"{base}/verify{query_string}",
        "sign_url": f"/subjects/{quote(subject, safe='')}/sign",
        "preview_url": f"{base}/preview{query_string}",
    }
    return render(
        request,
        "form.html",
        status,
        user=user,
        title=title,
        subject=subject,
        visit_label=_visit_label(study, visit),
        entry=entry,
        fields=_fields(study, form),
        readonly=lock.locked or not may_write(user, site_of(engine, subject)),
        history=counts,
        history_url=history_url,
        statuses=_STATUSES,
        **context,
    )


def _guard(request: Request, subject: str, allowed: Callable[[User, str | None], bool]) -> User:
    user = page_user(request)
    if not allowed(user, site_of(request.app.state.engine, subject)):
        raise ForbiddenError(f"{user.name} ({user.role}) may not open subject {subject}")
    return user


@router.get("/subjects/{subject}/forms/{form}")
def form_page(request: Request, subject: str, form: str, visit: str = "") -> HTMLResponse:
    """A form of a subject at a visit, rendered from the definition."""
    user = _guard(request, subject, may_read)
    return _form_page(request, user, subject, form, visit)


@router.post("/subjects/{subject}/forms/{form}")
async def save_form(request: Request, subject: str, form: str, visit: str = "") -> Response:
    """Save the form: errors and warnings are shown back; nothing is half-saved."""
    user = await run_in_threadpool(_guard, request, subject, may_write)
    posted = await request.form()
    check_csrf(request, posted.get("csrf_token"))
    study, _ = _study(request)
    fields = _fields(study, form)
    values = _posted_values(fields, posted)
    try:
        version = int(str(posted.get("version", "")))
        status = int(str(posted.get("form_status", "0")))
    except ValueError:
        return Response("bad version or status", status_code=400)
    reason = str(posted.get("reason", "")).strip()
    confirmed = posted.get("confirm") == "1"
    confirm_reason = str(posted.get("confirm_reason", "")).strip()
    engine = request.app.state.engine

    def save(dry_run: bool, why: str | None):  # noqa: ANN202
        return save_entry(
            engine, form, subject, visit, values, version=version, actor=Actor.of(user),
            reason=why, status=status, dry_run=dry_run,
        )  # fmt: skip

    shown = dict(values)
    try:
        trial = await run_in_threadpool(save, True, reason or None)
        if trial.warnings and not (confirmed and confirm_reason):
            return _form_page(
                request, user, subject, form, visit, 200,
                warnings=list(trial.warnings), values=shown, reason=reason,
            )  # fmt: skip
        why = "; ".join(x for x in (reason, confirm_reason and f"confirmed: {confirm_reason}") if x)
        saved = await run_in_threadpool(save, False, why or None)
    except ImportRejectedError as exc:
        errors = [{"field": p.column, "value": p.value, "rule": p.rule} for p in exc.problems]
        return _form_page(
            request, user, subject, form, visit, 400, errors=errors, values=shown, reason=reason
        )
    except StaleVersionError as exc:
        errors = [{"field": None, "value": None, "rule": str(exc)}]
        return _form_page(request, user, subject, form, visit, 409, errors=errors)
    except StoreLockedError as exc:
        errors = [{"field": None, "value": None, "rule": str(exc)}]
        return _form_page(request, user, subject, form, visit, 423, errors=errors)
    return _form_page(request, user, subject, form, visit, 200, entry=saved, saved=True)


def _posted_values(fields: list[dict[str, Any]], posted: Any) -> dict[str, str]:
    """The form's entered values as posted (a checkbox's ticked codes joined by commas)."""
    values = {}
    for f in fields:
        if f["type"] in ("descriptive", "calculated"):
            continue
        if f["type"] == "checkbox":
            values[f["name"]] = ",".join(str(x) for x in posted.getlist(f["name"]))
        else:
            values[f["name"]] = str(posted.get(f["name"], ""))
    return values


@router.post("/subjects/{subject}/forms/{form}/preview")
async def preview_form_page(request: Request, subject: str, form: str, visit: str = "") -> Response:
    """The form's checks, branching and calculations for the values typed so far (JSON for
    the page's script: the server's rules, applied as a field is left)."""
    await run_in_threadpool(_guard, request, subject, may_write)
    posted = await request.form()
    check_csrf(request, posted.get("csrf_token"))
    study, _ = _study(request)
    values = _posted_values(_fields(study, form), posted)
    try:
        status = int(str(posted.get("form_status", "0")))
    except ValueError:
        return Response("bad form status", status_code=400)
    return JSONResponse(preview_form(study, form, values, status=status).as_json())


@router.get("/subjects/{subject}/forms/{form}/history")
def history_page(request: Request, subject: str, form: str, visit: str = "") -> HTMLResponse:
    """Every change of the form's fields: who, when, old -> new, why."""
    user = _guard(request, subject, may_read)
    engine = request.app.state.engine
    study, _ = _study(request)
    _fields(study, form)  # 404 for an unknown form
    form_url, _ = _form_urls(subject, form, visit)
    return render(
        request,
        "history.html",
        user=user,
        title="History: " + next(f.title for f in study.forms if f.name == form),
        subject=subject,
        visit_label=_visit_label(study, visit),
        form_url=form_url,
        changes=entry_history(engine, form, subject, visit),
    )


@router.post("/subjects/{subject}/forms/{form}/queries")
async def raise_query_page(request: Request, subject: str, form: str, visit: str = "") -> Response:
    """Raise a query on a field (monitor, data manager)."""
    user = await run_in_threadpool(_guard, request, subject, may_raise_query)
    posted = await request.form()
    check_csrf(request, posted.get("csrf_token"))
    engine = request.app.state.engine
    try:
        qid = await run_in_threadpool(
            lambda: raise_query(
                engine, subject=subject, form=form, visit=visit,
                field=str(posted.get("field", "")), question=str(posted.get("question", "")),
                actor=Actor.of(user),
            )
        )  # fmt: skip
    except StoreError as exc:
        return _form_page(request, user, subject, form, visit, 400, errors=[_error(exc)])
    return _form_page(request, user, subject, form, visit, done=f"Query {qid} raised.")


@router.post("/queries/{qid}/{step}")
async def query_step_page(request: Request, qid: str, step: str) -> Response:
    """Answer (the site), close or re-open (the raiser) a query."""
    posted = await request.form()
    check_csrf(request, posted.get("csrf_token"))
    engine = request.app.state.engine
    user = await run_in_threadpool(page_user, request)
    q = await run_in_threadpool(query, engine, qid)
    args = (q["subject"], q["form"], q["visit"])
    text = str(posted.get("text", ""))
    try:
        await run_in_threadpool(query_step, engine, user, qid, step, text)
    except StoreError as exc:
        return _form_page(request, user, *args, 400, errors=[_error(exc)])
    return _form_page(request, user, *args, done=f"Query {qid}: {step} done.")


@router.post("/subjects/{subject}/forms/{form}/verify")
async def verify_page(request: Request, subject: str, form: str, visit: str = "") -> Response:
    """Mark source-data verification (monitor)."""
    user = await run_in_threadpool(_guard, request, subject, may_verify)
    posted = await request.form()
    check_csrf(request, posted.get("csrf_token"))
    engine = request.app.state.engine
    try:
        version = await run_in_threadpool(
            lambda: verify_form(engine, form, subject, visit, actor=Actor.of(user))
        )
    except StoreError as exc:
        return _form_page(request, user, subject, form, visit, 400, errors=[_error(exc)])
    done = f"Source data verified at version {version}."
    return _form_page(request, user, subject, form, visit, done=done)


def _error(exc: Exception) -> dict[str, Any]:
    return {"field": None, "value": None, "rule": str(exc)}


@router.post("/subjects/{subject}/randomize")
async def randomize(request: Request, subject: str) -> Response:
    """Randomize the subject (its site's staff); the list page says its number."""
    from xerotrial.randomize.allocate import allocate

    user = await run_in_threadpool(_guard, request, subject, may_randomize)
    posted = await request.form()
    check_csrf(request, posted.get("csrf_token"))
    engine = request.app.state.engine
    try:
        a = await run_in_threadpool(lambda: allocate(engine, subject=subject, actor=Actor.of(user)))
    except StoreError as exc:
        page = await run_in_threadpool(subjects_page, request, f"{subject}: {exc}")
        page.status_code = 400
        return page
    arm = "" if a.arm is None else f", arm {a.arm}"
    note = f"{subject} randomized: number {a.number} (stratum {a.stratum}){arm}"
    return RedirectResponse(f"/subjects?message={quote(note)}", status_code=303)


@router.get("/subjects/{subject}/sign")
def sign_page(request: Request, subject: str, message: str = "") -> HTMLResponse:
    """The signature form: the meaning, the password again."""
    user = _guard(request, subject, may_sign)
    with request.app.state.engine.connect() as conn:
        signature = signature_of(conn, stored_study(conn), subject)
    return render(request, "sign.html", user=user, title=f"Sign the casebook of {subject}",
                  signature=signature, meaning=MEANING, message=message)  # fmt: skip


@router.post("/subjects/{subject}/sign")
async def sign(request: Request, subject: str) -> Response:
    """Sign after the password (investigator of the site)."""
    user = await run_in_threadpool(_guard, request, subject, may_sign)
    posted = await request.form()
    check_csrf(request, posted.get("csrf_token"))
    engine = request.app.state.engine
    password = str(posted.get("password", ""))
    try:
        await run_in_threadpool(
            lambda: sign_casebook(engine, subject, user=user, password=password)
        )
    except StoreError as exc:
        page = await run_in_threadpool(sign_page, request, subject, str(exc))
        page.status_code = 401 if isinstance(exc, AuthenticationError) else 400
        return page
    return await run_in_threadpool(sign_page, request, subject)


def _lock_page(request: Request, user: User, status: int = 200, **extra: Any) -> HTMLResponse:
    if user.role not in LOCK_ROLES | UNLOCK_ROLES:
        raise ForbiddenError(f"{user.name} ({user.role}) neither locks nor unlocks the store")
    _, lock = _study(request)
    return render(
        request, "lock.html", status, user=user, title="Database lock",
        state=lock.describe() if lock.locked else "not locked",
        can_lock=not lock.locked and user.role in LOCK_ROLES,
        can_unlock=lock.locked and user.role in UNLOCK_ROLES,
        message=extra.get("message", ""), done=extra.get("done", ""),
    )  # fmt: skip


@router.get("/lock")
def lock_page(request: Request) -> HTMLResponse:
    """The lock state; lock (data manager) or unlock (administrator) with a reason."""
    return _lock_page(request, page_user(request))


@router.post("/lock")
async def lock_post(request: Request) -> Response:
    """Lock the store (data manager, no query open)."""
    return await _lock_action(request, "lock")


@router.post("/unlock")
async def unlock_post(request: Request) -> Response:
    """Unlock the store (administrator, with a reason)."""
    return await _lock_action(request, "unlock")


async def _lock_action(request: Request, action: str) -> Response:
    user = await run_in_threadpool(page_user, request)
    posted = await request.form()
    check_csrf(request, posted.get("csrf_token"))
    roles = LOCK_ROLES if action == "lock" else UNLOCK_ROLES
    if user.role not in roles:
        raise ForbiddenError(f"{user.name} ({user.role}) may not {action} the store")
    reason = str(posted.get("reason", ""))
    engine = request.app.state.engine
    try:
        if action == "lock":
            await run_in_threadpool(
                lambda: lock_store(
                    engine, actor=Actor.of(user), reason=reason, check=refuse_if_queries_open
                )  # fmt: skip
            )
        else:
            await run_in_threadpool(
                lambda: unlock_store(engine, actor=Actor.of(user), reason=reason)
            )
    except StoreError as exc:
        message = str(exc)
        return await run_in_threadpool(lambda: _lock_page(request, user, 400, message=message))
    done = "The database is locked." if action == "lock" else "The database is unlocked."
    return await run_in_threadpool(lambda: _lock_page(request, user, done=done))


@router.get("/queries")
def queries_page(request: Request) -> HTMLResponse:
    """The queries on the subjects the user may see, those not closed first."""
    user = page_user(request)
    qs = visible_queries(request.app.state.engine, user)
    qs.sort(key=lambda q: (q["status"] == "closed", q["query_id"]))
    return render(request, "queries.html", user=user, title="Queries", queries=qs)


def message_page(request: Request, status: int, message: str) -> Response:
    """A refusal or an error outside the API, as a page."""
    try:
        user = page_user(request)
    except LoginRequired:
        user = None
    return render(request, "message.html", status, user=user, title="Not possible", message=message)


def install_page_handlers(app: Any) -> None:
    """Login redirects, and the refusals answered as pages."""
    from .sessions import CsrfError

    def to_login(request: Request, exc: LoginRequired) -> Response:
        target = "/login" + (f"?message={quote(exc.message)}" if exc.message else "")
        return RedirectResponse(target, status_code=303)

    def forbidden(request: Request, exc: Exception) -> Response:
        return message_page(request, 403, str(exc))

    app.add_exception_handler(LoginRequired, to_login)
    app.add_exception_handler(CsrfError, forbidden)
