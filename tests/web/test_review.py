"""Queries, source-data verification and signatures (issue 13) through the API, with each
role's boundary, the lock's rule and what the grid and the audit trail then show."""

from __future__ import annotations

import re

from xerotrial.store.audit import show

from .conftest import PASSWORD, Site
from .test_pages import _login

FORM = "/api/v1/subjects/{s}/forms/enrolment?visit=baseline"


def _save(site: Site, who: str, subject: str, values: dict, **extra) -> dict:
    url = FORM.format(s=subject)
    version = site.client.get(url, headers=site.auth(who)).json()["version"]
    body = {"values": values, "version": version, **extra}
    r = site.client.put(url, json=body, headers=site.auth(who))
    assert r.status_code == 200, r.text
    return r.json()


def _raise(site: Site, who: str, subject: str = "1", field: str = "age"):
    body = {"subject": subject, "form": "enrolment", "visit": "baseline", "field": field,
            "question": "Age differs from the source document (62)"}  # fmt: skip
    return site.client.post("/api/v1/queries", json=body, headers=site.auth(who))


def _step(site: Site, who: str, qid: str, step: str, text: str):
    url = f"/api/v1/queries/{qid}/{step}"
    return site.client.post(url, json={"text": text}, headers=site.auth(who))


def test_a_query_thread_with_every_role_boundary(fresh_site: Site) -> None:
    s = fresh_site
    _save(s, "ana", "1", {"age": "61"})
    assert _raise(s, "ana").status_code == 403  # the site does not query itself
    assert _raise(s, "stat").status_code == 403
    r = _raise(s, "mo")
    assert r.status_code == 201 and r.json()["query_id"] == "Q1" and r.json()["status"] == "open"
    assert _raise(s, "mo", field="nope").status_code == 404
    assert _step(s, "olu", "Q1", "answer", "x").status_code == 403  # another site
    assert _step(s, "mo", "Q1", "answer", "x").status_code == 403  # the raiser does not answer
    r = _step(s, "ana", "Q1", "answer", "Corrected to 62 from the ID card")
    assert r.status_code == 200 and r.json()["status"] == "answered"
    _save(s, "ana", "1", {"age": "62"}, reason="query Q1: source document")
    assert _step(s, "dm", "Q1", "close", "ok").status_code == 403  # only the raiser closes
    r = _step(s, "mo", "Q1", "close", "Verified against the ID card")
    assert r.status_code == 200 and r.json()["status"] == "closed"
    assert _step(s, "mo", "Q1", "answer", "x").status_code == 403
    assert _step(s, "ana", "Q1", "answer", "again").status_code == 400  # closed
    r = _step(s, "mo", "Q1", "reopen", "The month is still wrong")
    assert r.status_code == 200 and r.json()["status"] == "open"
    log = show(s.engine, table="xt_queries")
    assert list(log["user_name"]) == ["mo", "ana", "mo", "mo"]
    assert list(log["reason"])[1:] == [
        "Corrected to 62 from the ID card",
        "Verified against the ID card",
        "The month is still wrong",
    ]
    listed = s.client.get("/api/v1/queries?status=open", headers=s.auth("ana")).json()
    assert [q["query_id"] for q in listed] == ["Q1"]
    assert s.client.get("/api/v1/queries", headers=s.auth("olu")).json() == []


def test_no_lock_while_a_query_is_not_closed(fresh_site: Site) -> None:
    s = fresh_site
    _save(s, "ana", "1", {"age": "61"})
    _raise(s, "dm")
    r = s.client.post("/api/v1/lock", headers=s.auth("dm"))
    assert r.status_code == 400 and "1 query is not closed (Q1)" in r.json()["detail"]
    _step(s, "ana", "Q1", "answer", "checked")
    assert s.client.post("/api/v1/lock", headers=s.auth("dm")).status_code == 400
    _step(s, "dm", "Q1", "close", "fine")
    assert s.client.post("/api/v1/lock", headers=s.auth("dm")).status_code == 200
    assert _raise(s, "dm").status_code == 423


def test_verification_and_signature_show_in_the_grid_and_break_on_a_change(
    fresh_site: Site,
) -> None:
    s = fresh_site
    _save(s, "ana", "1", {"age": "61"}, status=2)
    verify = "/api/v1/subjects/1/forms/enrolment/verify?visit=baseline"
    assert s.client.post(verify, headers=s.auth("ana")).status_code == 403
    assert s.client.post(verify, headers=s.auth("dm")).status_code == 403
    r = s.client.post(verify, headers=s.auth("mo"))
    assert r.status_code == 200 and r.json() == {"verified": True, "version": 1}
    grid = _login(s, "ana").get("/subjects").text

    def cell(html: str) -> str:
        return re.search(r'/subjects/1/forms/enrolment\?visit=baseline" title="(\w+)"', html)[1]

    assert cell(grid) == "verified"
    sign = "/api/v1/subjects/1/sign"
    assert (
        s.client.post(sign, json={"password": PASSWORD}, headers=s.auth("ana")).status_code == 403
    )
    r = s.client.post(sign, json={"password": "wrong"}, headers=s.auth("ivy"))
    assert r.status_code == 401
    r = s.client.post(sign, json={"password": PASSWORD}, headers=s.auth("ivy"))
    assert r.status_code == 200 and r.json()["signed_by"] == "ivy" and r.json()["valid"]
    assert cell(_login(s, "ana").get("/subjects").text) == "signed"
    _save(s, "ana", "1", {"age": "62"}, reason="typo", status=2)
    sig = s.client.get("/api/v1/subjects/1/signature", headers=s.auth("mo")).json()
    assert sig["signed_by"] == "ivy" and sig["valid"] is False
    assert cell(_login(s, "ana").get("/subjects").text) == "complete"  # neither verified nor signed
    log = show(s.engine, table="xt_signatures")
    assert list(log["user_name"]) == ["ivy"] and "attest" in log["reason"].iloc[0]


def test_the_review_steps_on_the_pages(fresh_site: Site) -> None:
    from .test_pages import FORM as PAGE
    from .test_pages import _csrf
    from .test_pages import _save as save_page

    s = fresh_site
    ana, mo, ivy = _login(s, "ana"), _login(s, "mo"), _login(s, "ivy")
    assert save_page(ana, "1", {"age": "61"}).status_code == 200
    page = mo.get(PAGE.format(s="1"))
    assert "Raise a query" in page.text and "Mark source data verified" in page.text
    assert "Raise a query" not in ana.get(PAGE.format(s="1")).text
    hostile = "<script>alert(1)</script> is the age right?"
    r = mo.post(
        "/subjects/1/forms/enrolment/queries?visit=baseline",
        data={"csrf_token": _csrf(page.text), "field": "age", "question": hostile},
    )
    assert r.status_code == 200 and "Query Q1 raised." in r.text
    assert hostile not in r.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in r.text
    page = ana.get(PAGE.format(s="1"))
    assert 'action="/queries/Q1/answer"' in page.text and "/queries/Q1/close" not in page.text
    r = ana.post("/queries/Q1/answer", data={"csrf_token": _csrf(page.text), "text": "yes"})
    assert r.status_code == 200 and "Query Q1: answer done." in r.text
    r = ana.post("/queries/Q1/close", data={"csrf_token": _csrf(page.text), "text": "x"})
    assert r.status_code == 403
    listing = mo.get("/queries").text
    assert "Q1" in listing and "answered" in listing
    r = mo.post("/queries/Q1/close", data={"csrf_token": _csrf(listing), "text": "ok"})
    assert r.status_code == 200
    r = mo.post("/subjects/1/forms/enrolment/verify?visit=baseline",
                data={"csrf_token": _csrf(listing)})  # fmt: skip
    assert r.status_code == 200 and "Source data verified at version 1." in r.text
    sign = ivy.get("/subjects/1/sign")
    assert sign.status_code == 200 and "attest" in sign.text
    assert ana.get("/subjects/1/sign").status_code == 403
    r = ivy.post("/subjects/1/sign", data={"csrf_token": _csrf(sign.text), "password": "no"})
    assert r.status_code == 401
    r = ivy.post("/subjects/1/sign", data={"csrf_token": _csrf(sign.text), "password": PASSWORD})
    assert r.status_code == 200 and "This casebook is signed by ivy" in r.text
    assert "Casebook signed by ivy" in mo.get(PAGE.format(s="1")).text
