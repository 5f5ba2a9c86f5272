"""The web application's randomization (issue 14): who may randomize and unblind, and what
each role is shown (numbers to all readers, arms to unblinded roles only)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.randomize.conftest import DEFINITION, enrol, subjects
from xerotrial.randomize.allocate import setup_list
from xerotrial.store import accounts
from xerotrial.store.accounts import Actor, add_user, issue_token
from xerotrial.store.engine import open_store
from xerotrial.store.study_store import init_study_store
from xerotrial.web.app import create_app

PASSWORD = "correct horse battery staple"
ACCOUNTS = {
    "ana": ("data-entry", "rh"),
    "olu": ("data-entry", "ouh"),
    "ivy": ("investigator", "rh"),
    "mo": ("monitor", None),
    "stat": ("statistician", None),
    "dmc": ("unblinded-statistician", None),
    "root": ("admin", None),
}
ARMS = {"atmsc", "placebo"}


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> tuple[TestClient, dict[str, dict]]:
    """The phase II store with 6 enrolled subjects, its list and one account per role; the
    module's tests share it, each randomizing subjects no other test touches."""
    from argon2 import PasswordHasher

    folder: Path = tmp_path_factory.mktemp("rand-web")
    db = init_study_store(folder / "phase2.db", DEFINITION)
    engine = open_store(db)
    enrol(engine, subjects(6))  # S000 rh, S001 ouh, S002 rh, ...
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(accounts, "_hasher", lambda: PasswordHasher(time_cost=1, memory_cost=8192))
        for name, (role, site) in ACCOUNTS.items():
            add_user(engine, name, role, site, PASSWORD, actor=Actor.local("setup"))
        tokens = {n: issue_token(engine, n, PASSWORD) for n in ACCOUNTS}
    setup_list(engine, seed=5, actor=Actor.local("setup"), per_stratum=6)
    engine.dispose()
    auth = {n: {"Authorization": f"Bearer {t}"} for n, t in tokens.items()}
    return TestClient(create_app(db)), auth


@pytest.mark.parametrize(
    ("who", "subject", "status"),
    [("mo", "S000", 403), ("stat", "S000", 403), ("root", "S000", 403), ("olu", "S000", 403),
     ("ana", "S001", 403), ("ana", "NOPE", 404)],
)  # fmt: skip
def test_who_may_not_randomize(web, who: str, subject: str, status: int) -> None:  # noqa: ANN001
    client, auth = web
    r = client.post(f"/api/v1/subjects/{subject}/randomize", headers=auth[who])
    assert r.status_code == status, r.text


def test_site_staff_randomize_and_see_the_number_only(web) -> None:  # noqa: ANN001
    client, auth = web
    r = client.post("/api/v1/subjects/S000/randomize", headers=auth["ana"])
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["randomization_number"].startswith("R") and "arm" not in body
    assert body["stratum"] == "site=rh;dose=1" and body["allocated_by"] == "ana"
    again = client.post("/api/v1/subjects/S000/randomize", headers=auth["ivy"])
    assert again.status_code == 400 and "randomized already" in again.json()["detail"]
    r = client.post("/api/v1/subjects/S001/randomize", headers=auth["olu"])
    assert r.status_code == 201 and "arm" not in r.json()
    for who in ("ana", "mo", "stat"):  # blinded readers: numbers, never arms
        listed = client.get("/api/v1/subjects", headers=auth[who]).json()
        assert all("arm" not in x for x in listed), who
        mine = {x["subject"]: x.get("randomization_number") for x in listed}
        assert mine["S000"] == body["randomization_number"], who
    shown = {x["subject"]: x.get("arm") for x in client.get(
        "/api/v1/subjects", headers=auth["dmc"]).json()}  # fmt: skip
    assert shown["S000"] in ARMS and shown["S001"] in ARMS and shown["S004"] is None


def test_emergency_unblinding_by_the_sites_investigator(web) -> None:  # noqa: ANN001
    client, auth = web
    client.post("/api/v1/subjects/S002/randomize", headers=auth["ana"])
    r = client.post("/api/v1/subjects/S002/unblind", headers=auth["ana"], json={"reason": "x"})
    assert r.status_code == 403
    r = client.post("/api/v1/subjects/S002/unblind", headers=auth["ivy"], json={"reason": ""})
    assert r.status_code == 400 and "needs its reason" in r.json()["detail"]
    r = client.post(
        "/api/v1/subjects/S002/unblind", headers=auth["ivy"], json={"reason": "anaphylaxis"}
    )
    assert r.status_code == 200 and r.json()["arm"] in ARMS
    listed = client.get("/api/v1/subjects", headers=auth["ivy"]).json()
    assert all("arm" not in x for x in listed)  # the code broken for the emergency only


def _page_login(client: TestClient, name: str) -> TestClient:
    import re

    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text).group(1)
    r = client.post("/login", data={"username": name, "password": PASSWORD, "csrf_token": token})
    assert r.status_code in (200, 303), r.text
    return client


def test_the_subjects_page_randomizes_at_the_users_site(web) -> None:  # noqa: ANN001
    import re

    api, _ = web
    client = _page_login(TestClient(api.app), "olu")  # ouh: S001, S003, S005
    page = client.get("/subjects").text
    buttons = set(re.findall(r'action="/subjects/([^/"]+)/randomize"', page))
    assert {"S003", "S005"} <= buttons <= {"S001", "S003", "S005"}  # rh's are not olu's
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    forged = client.post("/subjects/S003/randomize", data={"csrf_token": "forged"})
    assert forged.status_code in (400, 403)
    r = client.post("/subjects/S003/randomize", data={"csrf_token": token})
    assert r.status_code == 200 and "S003 randomized: number R" in r.text  # after the redirect
    assert "arm" not in re.search(r'id="message">([^<]*)<', r.text).group(1)
    other = client.post("/subjects/S004/randomize", data={"csrf_token": token})  # rh
    assert other.status_code == 403
