"""The API's contract (issue 13): authentication, each role boundary, versions, the lock,
hostile input; every answer checked against what the store then holds."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import text

from xerotrial.store.accounts import Actor, disable_user, issue_token
from xerotrial.store.audit import show
from xerotrial.store.verify import verify

from .conftest import DEFINITION, PASSWORD, Site

FORM = "/api/v1/subjects/{s}/forms/enrolment?visit=baseline"


def _put(site: Site, who: str, subject: str, values: dict, version: int, **extra):
    body = {"values": values, "version": version, **extra}
    return site.client.put(FORM.format(s=subject), json=body, headers=site.auth(who))


# ------------------------------------------------------------------ authentication (401)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer not-a-token"},
        {"Authorization": "Basic YW5hOnB3"},
        {"Authorization": "Bearer "},
    ],
)
def test_no_valid_token_is_401(site: Site, headers: dict) -> None:
    for url in ("/api/v1/subjects", FORM.format(s="1")):
        r = site.client.get(url, headers=headers)
        assert r.status_code == 401, r.text
        assert r.headers["WWW-Authenticate"] == "Bearer"


def test_an_expired_token_and_a_disabled_account_are_401(fresh_site: Site) -> None:
    s = fresh_site
    old = issue_token(s.engine, "ana", PASSWORD, lifetime=dt.timedelta(seconds=-1))
    r = s.client.get("/api/v1/subjects", headers={"Authorization": f"Bearer {old}"})
    assert r.status_code == 401 and "expired" in r.json()["detail"]
    assert s.client.get("/api/v1/subjects", headers=s.auth("ana")).status_code == 200
    disable_user(s.engine, "ana", actor=Actor.local("admin"))
    r = s.client.get("/api/v1/subjects", headers=s.auth("ana"))
    assert r.status_code == 401 and "disabled" in r.json()["detail"]


def test_a_token_or_role_written_behind_the_applications_back_grants_nothing(
    fresh_site: Site,
) -> None:
    """Someone who can write the database forges a token row and promotes an account:
    neither is in the audit trail, so neither is honoured."""
    import hashlib

    s = fresh_site
    forged = "forged-token-of-an-attacker"
    digest = hashlib.sha256(forged.encode()).hexdigest()
    with s.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO xt_tokens (token_sha256, name, created_at, expires_at, revoked) "
                "VALUES (:d, 'root', '2026-01-01', '2999-01-01', false)"
            ),
            {"d": digest},
        )
        conn.execute(text("UPDATE xt_users SET role = 'data-manager' WHERE name = 'olu'"))
    r = s.client.get("/api/v1/subjects", headers={"Authorization": f"Bearer {forged}"})
    assert r.status_code == 401
    assert s.client.get("/api/v1/subjects", headers=s.auth("olu")).status_code == 401
    assert not verify(s.engine).ok


# ------------------------------------------------------------------ who sees what (403)


def test_each_role_lists_the_subjects_it_may_see(site: Site) -> None:
    def subjects(who: str) -> list:
        r = site.client.get("/api/v1/subjects", headers=site.auth(who))
        return r.status_code, r.json()

    assert subjects("ana") == (
        200,
        [{"subject": "1", "site": "rh"}, {"subject": "2", "site": "rh"}],
    )
    assert subjects("olu") == (200, [{"subject": "3", "site": "ou"}])
    for who in ("mo", "dm", "stat"):
        code, body = subjects(who)
        assert code == 200 and [x["subject"] for x in body] == ["1", "2", "3"]
        assert all("arm" not in x for x in body)  # blind to treatment
    assert subjects("root")[0] == 403


@pytest.mark.parametrize(
    ("who", "subject", "read", "write"),
    [
        ("ana", "1", 200, 200),
        ("ana", "3", 403, 403),  # another site's subject, by URL
        ("olu", "1", 403, 403),
        ("ivy", "2", 200, 200),
        ("mo", "3", 200, 403),  # a monitor never edits
        ("dm", "1", 200, 403),
        ("stat", "1", 200, 403),
        ("root", "1", 403, 403),  # an administrator enters no data
    ],
)
def test_role_and_site_boundaries(
    fresh_site: Site, who: str, subject: str, read: int, write: int
) -> None:
    s = fresh_site
    assert s.client.get(FORM.format(s=subject), headers=s.auth(who)).status_code == read
    r = _put(s, who, subject, {"age": "50"}, 0)
    assert r.status_code == write, r.text
    stored = s.client.get(FORM.format(s=subject), headers=s.auth("dm")).json()
    assert stored["values"]["age"] == ("50" if write == 200 else "")


# ------------------------------------------------------------------ saving a form


def test_save_read_change_with_reason_and_the_audit_names_the_account(fresh_site: Site) -> None:
    s = fresh_site
    r = _put(s, "ana", "1", {"age": "61", "sex": "1"}, 0)
    assert r.status_code == 200, r.text
    assert (r.json()["version"], r.json()["values"]["age"]) == (1, "61")
    got = s.client.get(FORM.format(s="1"), headers=s.auth("ana")).json()
    assert got["values"] | {} == r.json()["values"] and got["version"] == 1
    r = _put(s, "ivy", "1", {"age": "62"}, 1)  # a change without its reason
    assert r.status_code == 400
    assert r.json()["errors"] == [
        {"field": "age", "value": "62", "rule": "a changed value needs the reason for the change"}
    ]
    r = _put(s, "ivy", "1", {"age": "62"}, 1, reason="transcription error")
    assert r.status_code == 200 and r.json()["version"] == 2
    log = show(s.engine, table="enrolment")
    assert list(log["user_name"]) == ["ana", "ivy"]
    assert list(log["reason"]) == ["form entry", "transcription error"]


def test_a_stale_version_is_409_and_nothing_is_lost(fresh_site: Site) -> None:
    s = fresh_site
    assert _put(s, "ana", "1", {"age": "61"}, 0).status_code == 200
    r = _put(s, "ivy", "1", {"age": "70"}, 0)  # ivy read it before ana saved
    assert r.status_code == 409
    assert r.json()["current"]["values"]["age"] == "61"
    assert r.json()["current"]["version"] == 1
    got = s.client.get(FORM.format(s="1"), headers=s.auth("ana")).json()
    assert got["values"]["age"] == "61"


def test_every_failing_field_is_named_and_nothing_is_saved(fresh_site: Site) -> None:
    s = fresh_site
    r = _put(s, "ana", "1", {"age": "17", "sex": "9", "weight": "80"}, 0)
    assert r.status_code == 400
    fields = {e["field"]: e["rule"] for e in r.json()["errors"]}
    assert set(fields) == {"age", "sex", "weight"}
    assert fields["weight"] == "no such field in this form"
    assert "18" in fields["age"]
    assert s.client.get(FORM.format(s="1"), headers=s.auth("ana")).json()["version"] == 0
    r = s.client.put(FORM.format(s="1"), json={"values": {}}, headers=s.auth("ana"))
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "version"


def test_unknown_subject_form_or_visit_is_404(site: Site) -> None:
    h = site.auth("dm")
    assert site.client.get(FORM.format(s="99"), headers=h).status_code == 404
    url = "/api/v1/subjects/1/forms/nope?visit=baseline"
    assert site.client.get(url, headers=h).status_code == 404
    url = "/api/v1/subjects/1/forms/enrolment?visit=week_99"
    assert site.client.get(url, headers=h).status_code == 404


# ------------------------------------------------------------------ lock (423)


def test_lock_blocks_every_write_and_unlock_needs_an_admin_and_a_reason(fresh_site: Site) -> None:
    s = fresh_site
    post = s.client.post
    assert post("/api/v1/lock", headers=s.auth("ana")).status_code == 403
    assert post("/api/v1/lock", headers=s.auth("root")).status_code == 403
    r = post("/api/v1/lock", headers=s.auth("dm"), json={"reason": "final analysis"})
    assert r.status_code == 200 and r.json()["locked"] is True
    r = _put(s, "ana", "1", {"age": "61"}, 0)
    assert r.status_code == 423 and "locked" in r.json()["detail"]
    assert post("/api/v1/unlock", headers=s.auth("dm"), json={"reason": "x"}).status_code == 403
    assert post("/api/v1/unlock", headers=s.auth("root"), json={"reason": " "}).status_code == 400
    r = post("/api/v1/unlock", headers=s.auth("root"), json={"reason": "a late query"})
    assert r.status_code == 200 and r.json()["locked"] is False
    assert _put(s, "ana", "1", {"age": "61"}, 0).status_code == 200
    log = show(s.engine, table="store_meta")
    lock = log[log["row_key"] == '{"key":"lock"}']
    assert list(lock["user_name"]) == ["dm", "root"]
    assert list(lock["reason"]) == ["final analysis", "a late query"]


# ------------------------------------------------------------------ hostile input

HOSTILE = [
    "'; DROP TABLE subjects; --",
    "1' OR '1'='1",
    '<script>alert("x")</script>',
    '" onmouseover="alert(1)',
    "Robert'); DELETE FROM audit_log;--",
]


@pytest.mark.parametrize("attack", HOSTILE)
def test_injection_strings_are_data_never_code(fresh_site: Site, attack: str) -> None:
    s = fresh_site
    h = s.auth("dm")
    for url in (
        f"/api/v1/subjects/{attack}/forms/enrolment?visit=baseline",
        f"/api/v1/subjects/1/forms/{attack}?visit=baseline",
    ):
        assert s.client.get(url, headers=h).status_code in (403, 404)
    r = s.client.get("/api/v1/subjects/1/forms/enrolment", params={"visit": attack}, headers=h)
    assert r.status_code == 404
    r = _put(s, "ana", "1", {"age": "55", "symptoms": "2", "pain_detail": attack}, 0)
    assert r.status_code == 200, r.text
    back = s.client.get(FORM.format(s="1"), headers=h)
    assert back.json()["values"]["pain_detail"] == attack
    assert back.headers["content-type"] == "application/json"
    assert back.headers["X-Content-Type-Options"] == "nosniff"
    r = _put(s, "ana", "2", {attack: "1"}, 0)
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == attack
    assert verify(s.engine).ok
    with s.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM subjects")).scalar() == 3


def test_the_api_is_documented(site: Site) -> None:
    doc = site.client.get("/api/v1/openapi.json").json()
    assert {"/api/v1/subjects", "/api/v1/lock", "/api/v1/unlock"} <= set(doc["paths"])
    assert set(doc["paths"]["/api/v1/subjects/{subject}/forms/{form}"]) == {"get", "put"}
    assert json.dumps(doc).count("HTTPBearer") >= 1


# ------------------------------------------------------------------ records, metadata, stamps

RECORDS = DEFINITION.parent / "two_arms_records.csv"


def test_records_import_by_site_staff_and_export_without_arms(fresh_site: Site) -> None:
    s = fresh_site
    lines = RECORDS.read_bytes().splitlines(keepends=True)
    mine = b"".join([lines[0], *(x for x in lines[1:] if x.startswith(b"1,"))])  # site rh
    post = s.client.post
    assert post("/api/v1/records", content=mine, headers=s.auth("olu")).status_code == 403
    assert post("/api/v1/records", content=mine, headers=s.auth("dm")).status_code == 403
    mixed = RECORDS.read_bytes()  # subject 2 at site ou, stored at rh
    assert post("/api/v1/records", content=mixed, headers=s.auth("ana")).status_code == 403
    bad = mine.replace(b"Headache,1", b"Headache,9")
    r = post("/api/v1/records", content=bad, headers=s.auth("ana"))
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "grade"
    r = post("/api/v1/records", content=mine, headers=s.auth("ana"))
    assert r.status_code == 200, r.text
    assert r.json()["inserted"] == 5  # enrolment and saliva at baseline, saliva, 2 AEs
    assert set(show(s.engine, table="adverse_events")["user_name"]) == {"ana"}
    got = s.client.get("/api/v1/records", headers=s.auth("stat"))
    assert got.status_code == 200 and len(got.json()) == 5
    assert {r["form"] for r in got.json()} == {"enrolment", "saliva", "adverse_events"}
    assert all("arm" not in json.dumps(r) for r in got.json())
    assert s.client.get("/api/v1/records", headers=s.auth("ana")).status_code == 403
    assert s.client.get("/api/v1/records", headers=s.auth("olu")).status_code == 403
    meta = s.client.get("/api/v1/metadata", headers=s.auth("stat"))
    assert meta.status_code == 200 and meta.text.startswith('"Variable / Field Name"')


def test_exports_and_reports_record_the_lock_state(fresh_site: Site, tmp_path) -> None:
    from xerotrial.store.lock import lock_store
    from xerotrial.store.study_export import export_study

    s = fresh_site
    export_study(s.engine, tmp_path / "before")
    status = (tmp_path / "before" / "AUDIT_STATUS.txt").read_text()
    assert "database lock: not locked" in status
    lock_store(s.engine, actor=Actor("dm"), reason="final analysis")
    export_study(s.engine, tmp_path / "after")
    status = (tmp_path / "after" / "AUDIT_STATUS.txt").read_text()
    assert "database lock: locked by dm at " in status and "(final analysis)" in status
