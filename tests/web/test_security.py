"""Attacks on the web application (issue 13), each refused: session fixation, a forged or
stolen cookie, brute force, injection through the login, a role written into the database,
a disabled account's open session; the cookie's flags and every answer's headers."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from xerotrial.store.accounts import MAX_FAILED_LOGINS, Actor, disable_user
from xerotrial.store.verify import verify
from xerotrial.web.app import SECRET_ENV, SECURE_ENV, create_app

from .conftest import PASSWORD, Site
from .test_pages import _csrf, _login

HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def _post_login(client: TestClient, name: str, password: str):
    token = _csrf(client.get("/login").text)
    return client.post("/login", data={"username": name, "password": password, "csrf_token": token})


def test_every_answer_carries_the_security_headers(site: Site) -> None:
    client = _login(site, "ana")
    for url in ("/login", "/subjects", "/api/v1/subjects", "/nope", "/static/site.css"):
        r = client.get(url, headers=site.auth("ana") if "api" in url else None)
        for k, v in HEADERS.items():
            assert r.headers[k] == v, (url, k)
        assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"]


def test_the_session_cookie_is_httponly_samesite_and_secure_when_asked(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = TestClient(create_app(site.db), follow_redirects=False)
    r = _post_login(client, "ana", PASSWORD)
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "secure" not in cookie
    monkeypatch.setenv(SECURE_ENV, "1")
    client = TestClient(create_app(site.db), follow_redirects=False, base_url="https://testserver")
    r = _post_login(client, "ana", PASSWORD)
    assert "; secure" in r.headers["set-cookie"].lower()


def test_session_fixation_a_cookie_from_before_the_login_opens_nothing(site: Site) -> None:
    attacker = TestClient(create_app(site.db), follow_redirects=False)
    attacker.get("/login")
    planted = attacker.cookies.get("xt_session")  # given to the victim before login
    victim = TestClient(create_app(site.db), follow_redirects=False)
    victim.get("/login")
    for c in victim.cookies.jar:  # the victim's browser now holds the attacker's cookie
        c.value = planted
    token = _csrf(victim.get("/login").text)
    r = victim.post("/login", data={"username": "ana", "password": PASSWORD, "csrf_token": token})
    assert r.status_code == 303 and victim.get("/subjects").status_code == 200
    assert [c.value for c in victim.cookies.jar] != [planted]  # a new session, a new cookie
    assert attacker.get("/subjects").status_code == 303  # the planted one: to the login


def test_a_cookie_signed_with_another_key_opens_nothing(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SECRET_ENV, "k" * 40)
    other = TestClient(create_app(site.db), follow_redirects=False)
    assert _post_login(other, "ana", PASSWORD).status_code == 303
    monkeypatch.setenv(SECRET_ENV, "m" * 40)
    server = TestClient(create_app(site.db), follow_redirects=False)
    server.cookies.set("xt_session", other.cookies.get("xt_session"))
    assert server.get("/subjects").status_code == 303


def test_brute_force_locks_the_account(fresh_site: Site) -> None:
    client = TestClient(create_app(fresh_site.db), follow_redirects=False)
    for _ in range(MAX_FAILED_LOGINS):
        assert _post_login(client, "ana", "guess-" + "x" * 12).status_code == 401
    r = _post_login(client, "ana", PASSWORD)
    assert r.status_code == 401 and "locked after 5 failed logins" in r.text
    assert (
        fresh_site.client.get("/api/v1/subjects", headers=fresh_site.auth("mo")).status_code == 200
    )


@pytest.mark.parametrize(
    ("name", "password"),
    [
        ("' OR '1'='1", "' OR '1'='1"),
        ("ana'--", "x"),
        ("ana", "' OR 1=1; DROP TABLE xt_users; --"),
        ("<script>alert(1)</script>", "x"),
    ],
)
def test_injection_through_the_login_is_refused(site: Site, name: str, password: str) -> None:
    client = TestClient(create_app(site.db), follow_redirects=False)
    r = _post_login(client, name, password)
    assert r.status_code == 401 and "<script>alert(1)</script>" not in r.text
    with site.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM xt_users")).scalar() == 7


def test_a_token_is_taken_from_the_header_only(site: Site) -> None:
    token = site.tokens["dm"]
    assert site.client.get(f"/api/v1/subjects?token={token}").status_code == 401
    client = TestClient(create_app(site.db))
    client.cookies.set("token", token)
    assert client.get("/api/v1/subjects").status_code == 401


def test_a_role_written_into_the_database_or_a_disabled_account_ends_the_session(
    fresh_site: Site,
) -> None:
    s = fresh_site
    olu = _login(s, "olu")
    assert olu.get("/subjects").status_code == 200
    with s.engine.begin() as conn:
        conn.execute(text("UPDATE xt_users SET site = NULL WHERE name = 'olu'"))  # every site
    r = olu.get("/subjects")
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    assert not verify(s.engine).ok
    with s.engine.begin() as conn:  # put it back; the trail is intact again
        conn.execute(text("UPDATE xt_users SET site = 'ou' WHERE name = 'olu'"))
    assert verify(s.engine).ok
    ana = _login(s, "ana")
    disable_user(s.engine, "ana", actor=Actor.local("admin"))
    r = ana.get("/subjects")
    assert r.status_code == 303 and "disabled" in r.headers["location"]
