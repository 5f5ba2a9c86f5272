"""Randomization in a study store: the concealed list, allocation, unblinding, tampering and
concurrent allocation (issue 14), on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import multiprocessing as mp
from collections import Counter

import pytest
from sqlalchemy import Engine, select, text

from xerotrial.randomize.allocate import (
    IneligibleError,
    RandomizationForbiddenError,
    allocate,
    allocation_arms,
    blinding_state,
    randomization_status,
    setup_list,
    unblind_study,
    unblind_subject,
)
from xerotrial.randomize.blocks import block_list, list_csv
from xerotrial.randomize.design import load_design
from xerotrial.store.accounts import Actor, User
from xerotrial.store.audit import show, verify
from xerotrial.store.errors import ImportRejectedError, StoreError
from xerotrial.store.lock import lock_store
from xerotrial.store.randomization_schema import ALLOCATIONS, RAND_LIST

from .conftest import DEFINITION, enrol, subjects

LOCAL = Actor.local("tester")
DMC = Actor.of(User("dmc", "unblinded-statistician", None))
ANA = Actor.of(User("ana", "data-entry", "rh"))  # site rh
IVY = Actor.of(User("ivy", "investigator", "rh"))
STAT = Actor.of(User("stat", "statistician", None))
ARMS = {"atmsc", "placebo"}


def _arm_free_trail(engine: Engine) -> None:
    log = show(engine)
    mine = log[log["table_name"].str.startswith("xt_")]
    for values in mine["new_values"].dropna():
        row = json.loads(values)
        assert "arm" not in row and not ARMS & {str(v) for v in row.values()}, row


def test_the_list_is_the_seeds_and_is_made_once(trial: Engine) -> None:
    info = setup_list(trial, seed=11, actor=DMC, per_stratum=8)
    offline = list_csv(block_list(load_design(DEFINITION), seed=11, per_stratum=8))
    import hashlib

    assert info.sha256 == hashlib.sha256(offline).hexdigest()  # `randomize list`'s digest
    assert (info.slots, info.strata, info.created_by) == (32, 4, "dmc")
    with pytest.raises(StoreError, match="a list is made once"):
        setup_list(trial, seed=12, actor=DMC)
    assert verify(trial).ok
    _arm_free_trail(trial)


@pytest.mark.parametrize("who", [ANA, IVY, STAT])
def test_a_blinded_role_cannot_make_the_list(trial: Engine, who: Actor) -> None:
    with pytest.raises(RandomizationForbiddenError, match="an unblinded role does"):
        setup_list(trial, seed=1, actor=who)
    with trial.connect() as conn:
        assert blinding_state(conn) == "open"


def test_allocation_follows_the_stratums_list(trial: Engine) -> None:
    setup_list(trial, seed=11, actor=LOCAL, per_stratum=8)
    with trial.connect() as conn:
        slots = conn.execute(select(RAND_LIST).order_by(RAND_LIST.c.slot)).all()
    got = [allocate(trial, subject=f"S{i:03d}", actor=LOCAL) for i in range(12)]
    # S000 rh/1, S001 ouh/1, S002 rh/2, S003 ouh/2, ... (conftest.subjects)
    assert [a.stratum for a in got[:4]] == [
        "site=rh;dose=1", "site=ouh;dose=1", "site=rh;dose=2", "site=ouh;dose=2"
    ]  # fmt: skip
    for stratum in {a.stratum for a in got}:
        mine = [a for a in got if a.stratum == stratum]
        listed = [s for s in slots if s.stratum == stratum][: len(mine)]
        assert [a.arm for a in mine] == [s.arm for s in listed]  # the list's order
        assert [a.number for a in mine] == [f"R{s.slot:04d}" for s in listed]
    assert len({a.number for a in got}) == 12
    assert "site=rh;dose=1: 3 of 8 slots used" in randomization_status(trial)
    assert verify(trial).ok
    _arm_free_trail(trial)


def test_blinded_staff_get_the_number_only_and_only_at_their_site(trial: Engine) -> None:
    setup_list(trial, seed=3, actor=LOCAL, per_stratum=8)
    a = allocate(trial, subject="S000", actor=ANA)  # site rh
    assert a.number.startswith("R") and a.arm is None and a.allocated_by == "ana"
    with pytest.raises(RandomizationForbiddenError, match="of site ouh"):
        allocate(trial, subject="S001", actor=ANA)  # ouh
    with pytest.raises(RandomizationForbiddenError):
        allocate(trial, subject="S002", actor=STAT)
    with pytest.raises(StoreError, match="randomized already: R"):
        allocate(trial, subject="S000", actor=LOCAL)
    with trial.connect() as conn:
        assert set(allocation_arms(conn, ANA).values()) == {None}
        assert set(allocation_arms(conn, DMC).values()) <= ARMS


def test_eligibility_and_missing_data_are_refused_with_the_reason(trial: Engine) -> None:
    setup_list(trial, seed=3, actor=LOCAL, per_stratum=8)
    enrol(trial, [("Y01", "rh", "1", 76, 4), ("Y02", "rh", "2", 80, None)])
    with pytest.raises(IneligibleError, match="older than 75$"):
        allocate(trial, subject="Y01", actor=LOCAL)
    with pytest.raises(IneligibleError) as err:
        allocate(trial, subject="Y02", actor=LOCAL)
    assert err.value.reasons == [
        "older than 75",
        "radiotherapy ended less than 2 years ago (years_since_radiotherapy empty)",
    ]
    with pytest.raises(StoreError, match="no subject 'Z99'"):
        allocate(trial, subject="Z99", actor=LOCAL)
    with trial.connect() as conn:
        assert conn.execute(select(ALLOCATIONS)).first() is None


def test_no_allocation_without_a_list_or_on_a_locked_store(trial: Engine) -> None:
    with pytest.raises(StoreError, match="no allocation list yet"):
        allocate(trial, subject="S000", actor=LOCAL)
    setup_list(trial, seed=3, actor=LOCAL, per_stratum=8)
    lock_store(trial, actor=LOCAL, reason="test lock")
    with pytest.raises(StoreError, match="locked"):
        allocate(trial, subject="S000", actor=LOCAL)


def test_a_list_changed_behind_the_stores_back_is_found(trial: Engine) -> None:
    setup_list(trial, seed=3, actor=LOCAL, per_stratum=8)
    allocate(trial, subject="S000", actor=LOCAL)
    with trial.begin() as conn:
        conn.execute(
            text("UPDATE xt_rand_list SET arm = CASE arm WHEN 'atmsc' THEN 'placebo' "
                 "ELSE 'atmsc' END WHERE slot = 2")
        )  # fmt: skip
    report = verify(trial)
    assert any("concealed list (xt_rand_list) differs" in p for p in report.problems)
    with pytest.raises(StoreError):
        allocate(trial, subject="S004", actor=LOCAL)


def test_an_allocation_moved_to_another_slot_is_found(trial: Engine) -> None:
    setup_list(trial, seed=3, actor=LOCAL, per_stratum=8)
    allocate(trial, subject="S000", actor=LOCAL)
    with trial.begin() as conn:
        conn.execute(text("UPDATE xt_allocations SET slot = 2 WHERE subject = 'S000'"))
    assert any("xt_allocations row" in p and "slot" in p for p in verify(trial).problems)


def test_a_blinded_store_takes_no_arm_from_a_file(trial: Engine) -> None:
    from xerotrial.store.study_import import SubjectRow, import_rows
    from xerotrial.store.study_store import stored_study

    setup_list(trial, seed=3, actor=LOCAL, per_stratum=8)
    with trial.connect() as conn:
        study = stored_study(conn)
    with pytest.raises(ImportRejectedError, match="the study is blinded: its arms come from"):
        import_rows(trial, study, [SubjectRow("N01", "rh", "atmsc")], [], source="f", user="t")


def test_emergency_unblinding(trial: Engine) -> None:
    setup_list(trial, seed=3, actor=LOCAL, per_stratum=8)
    allocate(trial, subject="S000", actor=ANA)
    allocate(trial, subject="S001", actor=LOCAL)
    with pytest.raises(StoreError, match="needs its reason"):
        unblind_subject(trial, subject="S000", actor=IVY, reason=" ")
    with pytest.raises(RandomizationForbiddenError, match="the site's investigator does"):
        unblind_subject(trial, subject="S000", actor=ANA, reason="anaphylaxis")
    with pytest.raises(RandomizationForbiddenError):
        unblind_subject(trial, subject="S001", actor=IVY, reason="anaphylaxis")  # ouh
    with pytest.raises(StoreError, match="not randomized"):
        unblind_subject(trial, subject="S002", actor=IVY, reason="anaphylaxis")
    arm = unblind_subject(trial, subject="S000", actor=IVY, reason="anaphylaxis at day 3")
    with trial.connect() as conn:
        assert arm == allocation_arms(conn, DMC)["S000"]
        assert blinding_state(conn) == "blinded"  # one subject's code, not the study's
    log = show(trial, table="xt_unblindings")
    assert list(log["reason"]) == ["anaphylaxis at day 3"] and list(log["user_name"]) == ["ivy"]
    _arm_free_trail(trial)


def test_the_study_is_unblinded_at_lock_by_a_decision(trial: Engine) -> None:
    setup_list(trial, seed=3, actor=LOCAL, per_stratum=8)
    allocate(trial, subject="S000", actor=LOCAL)
    with pytest.raises(StoreError, match="lock the store first"):
        unblind_study(trial, actor=DMC, decision="final analysis")
    lock_store(trial, actor=LOCAL, reason="database lock")
    with pytest.raises(RandomizationForbiddenError):
        unblind_study(trial, actor=STAT, decision="final analysis")
    unblind_study(trial, actor=DMC, decision="DMC letter of 2027-03-01: unblind")
    with trial.connect() as conn:
        assert blinding_state(conn) == "unblinded"
        arm = allocation_arms(conn, ANA)["S000"]  # everyone sees arms now
        assert arm in ARMS
        stored = conn.execute(text("SELECT subject, arm FROM subjects ORDER BY subject")).all()
    assert stored[0] == ("S000", arm)  # what every output reads
    assert all(a is None for _, a in stored[1:])  # not randomized: no arm
    with pytest.raises(StoreError, match="not blinded"):
        unblind_study(trial, actor=DMC, decision="again")
    assert verify(trial).ok


# ------------------------------------------------------------------------- concurrency

#: four processes allocate at once, 20 subjects each (each allocation races the others')
N_PROCESSES, N_SUBJECTS = 4, 80


def _allocator(url: str, k: int, barrier) -> None:  # noqa: ANN001
    from xerotrial.store.engine import open_store

    engine = open_store(url)
    barrier.wait()
    for i in range(k, N_SUBJECTS, N_PROCESSES):
        allocate(engine, subject=f"S{i:03d}", actor=Actor.local(f"p{k}"))
    engine.dispose()


def test_four_processes_allocating_at_once(db_url: str) -> None:
    from xerotrial.store.engine import open_store
    from xerotrial.store.study_store import init_study_store

    init_study_store(db_url, DEFINITION, user="test")
    engine = open_store(db_url)
    enrol(engine, subjects(N_SUBJECTS))
    setup_list(engine, seed=2027, actor=LOCAL, per_stratum=60)
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(N_PROCESSES)
    procs = [ctx.Process(target=_allocator, args=(db_url, k, barrier)) for k in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(240)
    assert [p.exitcode for p in procs] == [0] * N_PROCESSES
    with engine.connect() as conn:
        done = conn.execute(select(ALLOCATIONS)).all()
        slots = conn.execute(select(RAND_LIST).order_by(RAND_LIST.c.slot)).all()
    assert len(done) == N_SUBJECTS and len({a.slot for a in done}) == N_SUBJECTS
    assert len({a.number for a in done}) == N_SUBJECTS
    # every stratum used its first slots, none twice and none skipped
    per = Counter(a.stratum for a in done)
    for stratum, n in per.items():
        first = [s.slot for s in slots if s.stratum == stratum][:n]
        assert sorted(a.slot for a in done if a.stratum == stratum) == first
    assert {a.allocated_by for a in done} == {f"local:p{k}" for k in range(N_PROCESSES)}
    report = verify(engine)
    assert report.ok, report.problems
    engine.dispose()


def test_a_store_made_before_the_randomization_tables_is_told_how_to_add_them(
    trial: Engine, db_url: str
) -> None:
    from xerotrial.store.study_store import init_study_store

    with trial.begin() as conn:
        for table in ("xt_rand_list", "xt_rand_seed", "xt_randomization", "xt_allocations",
                      "xt_unblindings"):  # fmt: skip
            conn.execute(text(f"DROP TABLE {table}"))
    problems = verify(trial).problems
    assert any(
        p.startswith("table xt_allocations is missing") and "xerotrial init" in p for p in problems
    ), problems
    init_study_store(db_url, DEFINITION, user="test")  # the same definition: adds them
    assert verify(trial).ok
