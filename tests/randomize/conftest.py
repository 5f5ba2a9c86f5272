"""Fixtures: a study store of the phase II example with enrolled (not yet randomized) subjects,
on SQLite and on PostgreSQL (when a server is given; see tests/pg.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from xerotrial.store.engine import open_store
from xerotrial.store.study_import import FormRow, SubjectRow, import_rows
from xerotrial.store.study_store import init_study_store, stored_study

DEFINITION = Path(__file__).parents[2] / "examples" / "phase2" / "study.toml"


def enrol(engine: Engine, subjects: list[tuple[str, str, str, int, int | None]]) -> None:
    """Enrol subjects: (id, site, dose group code, age, years since radiotherapy or None)."""
    with engine.connect() as conn:
        study = stored_study(conn)
    people = [SubjectRow(s, site) for s, site, *_ in subjects]
    rows = [
        FormRow(
            "enrolment",
            s,
            "baseline",
            values={
                "age": str(age),
                "sex": "1",
                "radiotherapy_dose_group": dose,
                "years_since_radiotherapy": "" if years is None else str(years),
            },
        )  # fmt: skip
        for s, _, dose, age, years in subjects
    ]
    import_rows(engine, study, people, rows, source="test enrolment", user="test")


def subjects(n: int) -> list[tuple[str, str, str, int, int]]:
    """``n`` eligible subjects spread over the 4 strata."""
    return [(f"S{i:03d}", ("rh", "ouh")[i % 2], ("1", "2")[(i // 2) % 2], 50, 4) for i in range(n)]


@pytest.fixture
def trial(db_url: str) -> Iterator[Engine]:
    """The phase II study store with 12 enrolled subjects."""
    init_study_store(db_url, DEFINITION, user="test")
    engine = open_store(db_url)
    enrol(engine, subjects(12))
    yield engine
    engine.dispose()


RECORDS = DEFINITION.parent / "records.csv"


def randomized_phase2(url: str, *, seed: int = 2027, definition: Path = DEFINITION) -> Engine:
    """The phase II example as a blinded randomized trial: its records' subjects enrolled
    (without their arms), randomized from a concealed list in the order of the file (the
    ineligible ones left out), then the rest of their records entered."""
    from xerotrial.randomize.allocate import IneligibleError, allocate, setup_list
    from xerotrial.store.accounts import Actor
    from xerotrial.store.redcap_records import read_records

    init_study_store(url, definition, user="test")
    engine = open_store(url)
    with engine.connect() as conn:
        study = stored_study(conn)
    people, rows, _ = read_records(study, RECORDS)
    enrolment = [r for r in rows if r.form == "enrolment"]
    import_rows(engine, study, [SubjectRow(p.subject, p.site) for p in people], enrolment,
                source="enrolment", user="site")  # fmt: skip
    setup_list(engine, seed=seed, actor=Actor.local("dmc-statistician"), per_stratum=20)
    randomized = set()
    for p in people:
        try:
            allocate(engine, subject=p.subject, actor=Actor.local("site"))
        except IneligibleError:
            continue
        randomized.add(p.subject)
    follow_up = [r for r in rows if r.form != "enrolment" and r.subject in randomized]
    import_rows(engine, study, [], follow_up, source="follow-up", user="site")
    return engine
