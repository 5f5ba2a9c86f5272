"""The pages (issue 13): login, sessions and CSRF, the status grid, a form with its checks,
reasons and confirmations, the history; every role and site boundary by page URL; stored
XSS through free text."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from xerotrial.store.accounts import Actor
from xerotrial.store.audit import show
from xerotrial.store.lock import lock_store
from xerotrial.web.app import create_app

from .conftest import PASSWORD, Site

FORM = "/subjects/{s}/forms/enrolment?visit=baseline"


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def _login(site: Site, name: str) -> TestClient:
    client = TestClient(create_app(site.db), follow_redirects=False)
    token = _csrf(client.get("/login").text)
    r = client.post("/login", data={"username": name, "password": PASSWORD, "csrf_token": token})
    assert r.status_code == 303 and r.headers["location"] in ("/subjects", "/lock"), r.text
    return client


def _save(client: TestClient, subject: str, values: dict, **extra) -> object:
    page = client.get(FORM.format(s=subject))
    version = re.search(r'name="version" value="(\d+)"', page.text).group(1)
    data = {"csrf_token": _csrf(page.text), "version": version, "form_status": "2"}
    return client.post(FORM.format(s=subject), data=data | values | extra)


def test_pages_need_a_login_and_the_login_needs_its_token(site: Site) -> None:
    client = TestClient(create_app(site.db), follow_redirects=False)
    for url in ("/subjects", FORM.format(s="1"), FORM.format(s="1").replace("?", "/history?")):
        r = client.get(url)
        assert r.status_code == 303 and r.headers["location"].startswith("/login")
    r = client.post("/login", data={"username": "ana", "password": PASSWORD})
    assert r.status_code == 403  # no CSRF token
    token = _csrf(client.get("/login").text)
    r = client.post("/login", data={"username": "ana", "password": "wrong", "csrf_token": token})
    assert r.status_code == 401 and "wrong password" in r.text
    r = client.post("/login", data={"username": "nobody", "password": "x", "csrf_token": token})
    assert r.status_code == 401 and "unknown user or wrong password" in r.text


def test_the_grid_shows_only_the_own_sites_subjects(site: Site) -> None:
    page = _login(site, "ana").get("/subjects")
    assert page.status_code == 200
    subjects = re.findall(r"<tr><th>([^<]+)</th>", page.text)
    assert subjects == ["1", "2"]
    assert "Enrolment" in page.text and "Baseline" in page.text and "Month 1" in page.text
    assert re.findall(r"<tr><th>([^<]+)</th>", _login(site, "mo").get("/subjects").text) == [
        "1",
        "2",
        "3",
    ]
    assert _login(site, "root").get("/subjects").status_code == 403


@pytest.mark.parametrize(
    ("who", "subject", "read", "write"),
    [
        ("ana", "3", 403, 403),
        ("olu", "1", 403, 403),
        ("mo", "1", 200, 403),
        ("stat", "1", 200, 403),
        ("root", "1", 403, 403),
    ],
)
def test_page_boundaries(fresh_site: Site, who: str, subject: str, read: int, write: int) -> None:
    client = _login(fresh_site, who)
    page = client.get(FORM.format(s=subject))
    assert page.status_code == read
    if read == 200:
        assert '<button type="submit">Save</button>' not in page.text  # read-only
    token = _csrf(client.get("/subjects").text) if read == 403 else _csrf(page.text)
    r = client.post(FORM.format(s=subject), data={"csrf_token": token, "version": "0", "age": "50"})
    assert r.status_code == write
    assert show(fresh_site.engine, table="enrolment").empty


def test_save_change_with_reason_soft_limit_confirmation_and_history(fresh_site: Site) -> None:
    client = _login(fresh_site, "ana")
    r = _save(client, "1", {"age": "17"})
    assert r.status_code == 400 and "<strong>age</strong>" in r.text  # hard limit, not saved
    r = _save(client, "1", {"age": "61", "sex": "1"})
    assert r.status_code == 200 and "Saved (version 1)" in r.text
    r = _save(client, "1", {"age": "62", "sex": "1"})
    assert r.status_code == 400 and "a changed value needs the reason" in r.text
    r = _save(client, "1", {"age": "85", "sex": "1", "reason": "date of birth corrected"})
    assert r.status_code == 200 and "Please confirm" in r.text and "soft limit" in r.text
    assert "Saved" not in r.text
    confirm = {"confirm": "1", "confirm_reason": "verified on the ID card"}
    r = _save(client, "1", {"age": "85", "sex": "1", "reason": "date of birth corrected"} | confirm)
    assert r.status_code == 200 and "Saved (version 2)" in r.text
    log = show(fresh_site.engine, table="enrolment")
    assert list(log["user_name"]) == ["ana", "ana"]
    assert log["reason"].iloc[-1] == "date of birth corrected; confirmed: verified on the ID card"
    hist = client.get(FORM.format(s="1").replace("?", "/history?"))
    rows = re.findall(r'<tr id="age"><td>age</td><td>[^<]+</td><td>(\w+)</td><td>([^<]*)</td>'
                      r"<td>([^<]*)</td><td>([^<]*)</td>", hist.text)  # fmt: skip
    assert rows == [
        ("ana", "", "61", "form entry"),
        ("ana", "61", "85", "date of birth corrected; confirmed: verified on the ID card"),
    ]


def test_a_stale_form_is_refused_and_shows_the_current_values(fresh_site: Site) -> None:
    ana, ivy = _login(fresh_site, "ana"), _login(fresh_site, "ivy")
    page = ivy.get(FORM.format(s="1"))  # ivy opens the form at version 0
    assert _save(ana, "1", {"age": "61"}).status_code == 200
    data = {"csrf_token": _csrf(page.text), "version": "0", "age": "70", "form_status": "2"}
    r = ivy.post(FORM.format(s="1"), data=data)
    assert r.status_code == 409 and "saved by someone else" in r.text
    assert 'value="61"' in r.text


HOSTILE = '<script>alert("xss")</script><img src=x onerror=alert(1)>'


def test_free_text_is_escaped_everywhere_it_is_shown(fresh_site: Site) -> None:
    client = _login(fresh_site, "ana")
    r = _save(client, "1", {"age": "61", "symptoms": "2", "pain_detail": HOSTILE})
    assert r.status_code == 200, r.text
    for url in (FORM.format(s="1"), FORM.format(s="1").replace("?", "/history?")):
        html = client.get(url).text
        assert HOSTILE not in html and "<img src=x" not in html
        assert "&lt;script&gt;" in html
        assert re.findall(r"<script[^>]*>", html) == ['<script src="/static/form.js">']
    r = client.get("/subjects/%3Cscript%3Ealert(1)%3C%2Fscript%3E/forms/enrolment?visit=baseline")
    assert r.status_code == 404 and "<script>alert(1)" not in r.text
    assert "script-src" not in r.headers["Content-Security-Policy"]  # default-src 'self'
    assert "default-src 'self'" in r.headers["Content-Security-Policy"]


def test_csrf_is_required_for_every_post(fresh_site: Site) -> None:
    client = _login(fresh_site, "ana")
    r = client.post(FORM.format(s="1"), data={"version": "0", "age": "61"})
    assert r.status_code == 403
    r = client.post(FORM.format(s="1"), data={"version": "0", "age": "61", "csrf_token": "x"})
    assert r.status_code == 403
    assert client.post("/logout").status_code == 403
    assert show(fresh_site.engine, table="enrolment").empty


def test_logout_and_idle_timeout_end_the_session_on_the_server(fresh_site: Site) -> None:
    client = _login(fresh_site, "ana")
    cookie = client.cookies.get("xt_session")
    token = _csrf(client.get("/subjects").text)
    assert client.post("/logout", data={"csrf_token": token}).status_code == 303
    stolen = TestClient(create_app(fresh_site.db), follow_redirects=False)
    stolen.cookies.set("xt_session", cookie)
    assert stolen.get("/subjects").status_code == 303  # the old cookie opens nothing
    client = _login(fresh_site, "ana")
    old = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)).isoformat(timespec="seconds")
    with fresh_site.engine.begin() as conn:
        conn.execute(text("UPDATE xt_sessions SET last_seen = :t"), {"t": old})
    r = client.get("/subjects")
    assert r.status_code == 303 and "timed+out" in r.headers["location"].replace("%20", "+")


def test_a_locked_store_shows_it_and_refuses_saves(fresh_site: Site) -> None:
    client = _login(fresh_site, "ana")
    page = client.get(FORM.format(s="1"))
    lock_store(fresh_site.engine, actor=Actor("dm"), reason="final analysis")
    locked = client.get(FORM.format(s="1"))
    assert "The database is locked" in locked.text and "Save</button>" not in locked.text
    data = {"csrf_token": _csrf(page.text), "version": "0", "age": "61", "form_status": "2"}
    r = client.post(FORM.format(s="1"), data=data)
    assert r.status_code == 423 and "the store is locked" in r.text


def test_the_form_previews_its_rules_as_fields_are_left(site: Site) -> None:
    """The page's script asks the server (POST .../preview) for the checks, branching and
    calculations of what is typed: the same rules as a save, nothing written."""
    client = _login(site, "ana")
    page = client.get(FORM.format(s="1"))
    url = FORM.format(s="1").replace("?", "/preview?")
    assert f'data-preview="{url}"' in page.text.replace("&amp;", "&")
    data = {"csrf_token": _csrf(page.text), "form_status": "0", "age": "17", "symptoms": "2"}
    r = client.post(url, data=data)
    assert r.status_code == 200, r.text
    assert r.json() == {
        "shown": {"pain_detail": True},
        "calculated": {},
        "errors": {"age": "must be >= 18"},
        "notes": {},
        "checks": [],
    }
    r = client.post(url, data=data | {"age": "85", "symptoms": "1"})
    assert r.json()["shown"] == {"pain_detail": False}
    assert r.json()["notes"] == {"age": "85 is above the expected 80 (soft limit)"}
    saliva = "/subjects/1/forms/saliva/preview?visit=baseline"
    weights = {"before_g": "1", "after_g": "3"}
    r = client.post(saliva, data={"csrf_token": data["csrf_token"]} | weights)
    assert r.json()["calculated"] == {"diff_g": "2.00"}  # its precision
    assert show(site.engine, table="enrolment").empty  # nothing written


@pytest.mark.parametrize(("who", "subject", "code"), [("ana", "3", 403), ("mo", "1", 403)])
def test_the_preview_keeps_the_forms_boundaries(site: Site, who: str, subject: str, code: int):
    client = _login(site, who)
    token = _csrf(client.get("/subjects").text)
    url = FORM.format(s=subject).replace("?", "/preview?")
    assert client.post(url, data={"csrf_token": token, "age": "50"}).status_code == code
    assert (
        _login(site, "ana")
        .post(FORM.format(s="1").replace("?", "/preview?"), data={"age": "50"})
        .status_code
        == 403
    )  # no CSRF token
