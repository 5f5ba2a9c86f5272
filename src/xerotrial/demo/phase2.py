"""Build the **synthetic** phase II demo: MESRIX-III's randomized trial, blinded then unblinded.

The bundled definition (``xerotrial/data/studies/phase2/study.toml``) and case report forms
(``records.csv``, a REDCap records export, calibrated by ``tools/demo_calibration/phase2.py``
so that this analysis prints the published 4-month results) go through every step a trial
unit takes, into ``out/trial.db``:

1. the store from the definition; each subject's enrolment (the forms allocation reads,
   without an arm);
2. the concealed allocation list (permuted blocks, seed ``LIST_SEED``), made by the unblinded
   statistician; each subject randomized by the site in the order of the file;
3. the follow-up forms; the **blinded** report (arms pooled) in ``out/blinded/``;
4. the database lock, the study's unblinding (the arms written from the list), and the
   **unblinded** report in ``out/unblinded/``.

The file's events carry each subject's arm (``baseline_arm_1``: AT-MSC), as the list gives
it; the import takes the arms from the list only (a blinded store refuses arms from a file),
and the demo checks that the two agree.

Example
-------
>>> definition().name, records().name
('study.toml', 'records.csv')
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources
from pathlib import Path

__all__ = ["LIST_SEED", "PHASE2_STEPS", "build_phase2_demo", "definition", "records"]

#: The seed of the concealed allocation list (the calibration generates outcomes by its arms).
LIST_SEED = 2021
#: The steps ``build_phase2_demo`` reports through ``step``.
PHASE2_STEPS = 6


def _folder() -> Path:
    return Path(str(resources.files("xerotrial") / "data" / "studies" / "phase2"))


def definition() -> Path:
    """The bundled study definition of the phase II demo."""
    return _folder() / "study.toml"


def records() -> Path:
    """The bundled, calibrated case report forms (a REDCap records export)."""
    return _folder() / "records.csv"


def _allocation_forms() -> set[str]:
    """The forms allocation reads (eligibility rules, strata): entered before randomizing."""
    from xerotrial.randomize.design import load_design

    design = load_design(definition())
    forms = {rule.form for rule in design.eligibility}
    return forms | {s.field.split(".")[0] for s in design.strata if s.field}


def build_phase2_demo(
    out: str | Path, step: Callable[[str], None] | None = None, reports: bool = True
) -> Path:
    """Build ``out/trial.db`` and write ``out/blinded/`` and ``out/unblinded/``; returns the
    unblinded report's path. ``reports=False``: the locked, unblinded store only (its path)."""
    from xerotrial.errors import StoreError
    from xerotrial.randomize.allocate import allocate, allocation_arms, setup_list, unblind_study
    from xerotrial.report.study_report import write_study_report
    from xerotrial.store.accounts import Actor
    from xerotrial.store.engine import open_store
    from xerotrial.store.lock import lock_store
    from xerotrial.store.redcap_records import read_records
    from xerotrial.store.study_import import SubjectRow, import_rows
    from xerotrial.store.study_store import init_study_store, stored_study

    say = step or (lambda _text: None)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    db = out / "trial.db"
    for stale in (db, out / "trial.db-journal", out / "trial.db-wal", out / "trial.db-shm"):
        stale.unlink(missing_ok=True)
    say("creating the study store from the definition")
    url = f"sqlite:///{db}"
    init_study_store(url, definition(), user="xerotrial-demo")
    engine = open_store(url)
    try:
        with engine.connect() as conn:
            study = stored_study(conn)
        people, rows, _ = read_records(study, records())
        say("enrolling the subjects")
        before = _allocation_forms()
        enrolment = [r for r in rows if r.form in before]
        subjects = [SubjectRow(p.subject, p.site) for p in people]
        import_rows(engine, study, subjects, enrolment, source="the enrolment", user="site-staff")
        say("making the concealed list and randomizing")
        statistician = Actor.local("unblinded-statistician")
        setup_list(engine, seed=LIST_SEED, actor=statistician, per_stratum=len(people))
        for p in people:
            allocate(engine, subject=p.subject, actor=Actor.local("site-staff"))
        with engine.connect() as conn:
            listed = allocation_arms(conn, statistician)
        differ = [p.subject for p in people if p.arm is not None and listed.get(p.subject) != p.arm]
        if differ:
            raise StoreError(
                f"{records()}: the arms of subject(s) {differ[:5]} differ from the concealed "
                "list's; the demo's records were made for another list"
            )
        say("entering the follow-up forms")
        follow_up = [r for r in rows if r.form not in before]
        import_rows(engine, study, [], follow_up, source="follow-up", user="site-staff")
        source = f"{db} (synthetic phase II demo)"
        if reports:
            say("writing the blinded report")
            write_study_report(engine, out / "blinded", source)
        say("locking the database, unblinding" + (", writing the unblinded report" * reports))
        lock_store(engine, actor=Actor.local("data-manager"), reason="database lock")
        unblind_study(engine, actor=statistician, decision="SAP final analysis: unblind at lock")
        if not reports:
            return db
        return write_study_report(engine, out / "unblinded", source)
    finally:
        engine.dispose()
