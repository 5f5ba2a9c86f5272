"""The data monitoring committee's report (``xerotrial report --dmc open|closed``, issue 14).

The **open** session is pooled: it shows no arm and can go to the study team. It has:

- enrolment (randomization) by site and month;
- retention by visit;
- completeness of the forms due;
- overdue visits;
- the serious adverse events;
- the emergency unblindings.

The **closed** session has the same by arm, and also:

- adverse events by system organ class (CTCAE v5.0), term and grade;
- SAEs and deaths by arm;
- if ``[analysis.dmc]`` says so, efficacy by arm (the plan's models) and the interim look.
  The interim look is the Lan-DeMets boundary at the observed information fraction
  (:mod:`xerotrial.stats.group_sequential`).

Only a caller who may see arms gets the closed session (:func:`~xerotrial.randomize.allocate.
sees_arms`).

Study day 0 is the day of randomization, so a visit's window opens and closes that many days
after it. A visit is expected once its window has opened by the report's date (``as_of``). It
is overdue once the window has closed with none of its forms entered. The adverse-event form
is the form whose fields map to SDTM ``AE.AETERM``, ``AE.AETOXGR`` and ``AE.AESER``. A death
is an event of grade 5.

Example
-------
>>> _month("2027-03-14T10:00:00+00:00")
'2027-03'
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Engine, select

from xerotrial.study.model import Form, StudyDefinition

__all__ = ["SESSIONS", "dmc_tables", "write_dmc_report"]

SESSIONS = ("open", "closed")


def _month(ts: str) -> str:
    return ts[:7]


def _ae_form(study: StudyDefinition) -> tuple[Form, dict[str, str]] | None:
    """The adverse-event form and its term, grade and seriousness fields (by SDTM target)."""
    want = {"AE.AETERM": "term", "AE.AETOXGR": "grade", "AE.AESER": "serious"}
    for form in study.forms:
        found = {want[f.sdtm]: f.name for f in form.fields if f.sdtm in want}
        if "term" in found:
            return form, found
    return None


def _frame(rows: list[dict[str, Any]], columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=columns)


def dmc_tables(
    conn: Connection,
    study: StudyDefinition,
    *,
    arms: Mapping[str, str | None] | None,
    as_of: dt.date,
) -> dict[str, pd.DataFrame]:
    """The report's tables; ``arms`` (subject -> arm) for the closed session, None for the
    open one (then no table has an arm column)."""
    from xerotrial.store.randomization_schema import ALLOCATIONS, UNBLINDINGS
    from xerotrial.store.study_export import stored_frames
    from xerotrial.trial.ctcae import lookup_term

    col = _subject_col(study)
    frames = stored_frames(conn, study)
    subjects = {s[col]: s for s in frames.pop("__subjects__")}
    alloc = {r.subject: r for r in conn.execute(select(ALLOCATIONS).order_by(ALLOCATIONS.c.id))}
    by_arm = arms is not None
    arm_of = (arms or {}).get
    a_col = ["arm"] if by_arm else []
    out: dict[str, pd.DataFrame] = {}

    def cell(arm: str | None) -> dict[str, Any]:  # the arm column, closed session only
        return {"arm": arm} if by_arm else {}

    # enrolment by site and month (the randomization's date)
    enrol: dict[tuple, int] = {}
    for s, a in alloc.items():
        key = (subjects[s]["site"] or "", _month(a.allocated_at), *([arm_of(s)] if by_arm else []))
        enrol[key] = enrol.get(key, 0) + 1
    out["randomized"] = _frame(
        [dict(zip(["site", "month", *a_col, "randomized"], (*k, n), strict=True))
         for k, n in sorted(enrol.items(), key=lambda kv: tuple(str(x) for x in kv[0]))],
        ["site", "month", *a_col, "randomized"],
    )  # fmt: skip
    groups = sorted({arm_of(s) or "" for s in alloc}) if by_arm else [None]
    seen_at: dict[str, set[str]] = {}
    for rows in frames.values():
        for r in rows:
            seen_at.setdefault(r["visit"], set()).add(r[col])
    start = {s: dt.date.fromisoformat(a.allocated_at[:10]) for s, a in alloc.items()}

    def opened(s: str, visit: Any) -> bool:
        return visit.window is None or start[s] + dt.timedelta(days=visit.window[0]) <= as_of

    retention, completeness, overdue = [], [], []
    for v in study.visits:
        entered = {
            form: {r[col] for r in frames.get(form, []) if r["visit"] == v.name}
            for form, visits in study.schedule.due.items()
            if v.name in visits
        }
        for g in groups:
            mine = [s for s in alloc if not by_arm or (arm_of(s) or "") == g]
            due = [s for s in mine if opened(s, v)]
            with_data = [s for s in due if s in seen_at.get(v.name, set())]
            retention.append(
                {"visit": v.name, **cell(g), "randomized": len(mine),
                 "expected": len(due), "with_data": len(with_data)}
            )  # fmt: skip
            for form, ids in entered.items():
                completeness.append(
                    {"form": form, "visit": v.name, **cell(g), "expected": len(due),
                     "entered": len(set(due) & ids)}
                )  # fmt: skip
        for s in alloc:
            if v.window is None or s in seen_at.get(v.name, set()):
                continue
            closes = start[s] + dt.timedelta(days=v.window[1])
            if closes < as_of:
                overdue.append(
                    {"subject": s, "site": subjects[s]["site"], **cell(arm_of(s)), "visit": v.name,
                     "window_closed": closes.isoformat()}
                )  # fmt: skip
    out["retention"] = _frame(retention, ["visit", *a_col, "randomized", "expected", "with_data"])
    out["completeness"] = _frame(completeness, ["form", "visit", *a_col, "expected", "entered"])
    out["overdue"] = _frame(overdue, ["subject", "site", *a_col, "visit", "window_closed"])

    ae = _ae_form(study)
    events = []
    if ae is not None:
        form, f = ae
        for r in frames.get(form.name, []):
            s = r[col]
            if s not in alloc:
                continue
            term = r.get(f["term"])
            try:
                hit = lookup_term(term) if term else None
            except KeyError:  # a term outside xerotrial's short CTCAE list: said so
                hit = None
            events.append(
                {"subject": s, "site": subjects[s]["site"], **cell(arm_of(s)), "visit": r["visit"],
                 "instance": r["instance"], "term": term, "grade": r.get(f.get("grade", "")),
                 "serious": bool(r.get(f.get("serious", ""))),
                 "soc": hit.soc if hit is not None else "(term not in CTCAE list)"}
            )  # fmt: skip
    cols = ["subject", "site", *a_col, "visit", "instance", "term", "grade"]
    out["sae"] = _frame([{k: e[k] for k in cols} for e in events if e["serious"]], cols)
    unblind = [
        {"unblinding": r.unblinding_id, "subject": r.subject, **cell(arm_of(r.subject)),
         "by": r.unblinded_by, "at": r.unblinded_at, "reason": r.reason}
        for r in conn.execute(select(UNBLINDINGS).where(UNBLINDINGS.c.kind == "emergency")
                              .order_by(UNBLINDINGS.c.id))
    ]  # fmt: skip
    out["unblindings"] = _frame(unblind, ["unblinding", "subject", *a_col, "by", "at", "reason"])
    if by_arm:
        out["ae_by_soc_term_grade"] = _ae_summary(events)
        out["sae_deaths_by_arm"] = _sae_deaths(events, alloc, arm_of)
    return out


def _subject_col(study: StudyDefinition) -> str:
    from xerotrial.store.study_schema import subject_column

    return subject_column(study)


def _ae_summary(events: list[dict[str, Any]]) -> pd.DataFrame:
    cols = ["soc", "term", "grade", "arm", "subjects", "events"]
    if not events:
        return _frame([], cols)
    df = pd.DataFrame(events).assign(arm=lambda d: d["arm"].fillna(""))
    g = df.groupby(["soc", "term", "grade", "arm"], dropna=False)
    table = g.agg(subjects=("subject", "nunique"), events=("subject", "size")).reset_index()
    return (
        table[cols]
        .sort_values(["soc", "term", "grade", "arm"], kind="stable")
        .reset_index(drop=True)
    )


def _sae_deaths(
    events: list[dict[str, Any]], alloc: Mapping[str, Any], arm_of: Any
) -> pd.DataFrame:
    rows = []
    for arm in sorted({arm_of(s) or "" for s in alloc}):
        mine = [e for e in events if (e["arm"] or "") == arm]
        sae = [e for e in mine if e["serious"]]
        deaths = [e for e in mine if e["grade"] == 5]
        rows.append(
            {"arm": arm, "randomized": sum(1 for s in alloc if (arm_of(s) or "") == arm),
             "subjects_with_sae": len({e["subject"] for e in sae}), "saes": len(sae),
             "deaths": len({e["subject"] for e in deaths})}
        )  # fmt: skip
    return _frame(rows, ["arm", "randomized", "subjects_with_sae", "saes", "deaths"])


def _efficacy(
    conn: Connection, study: StudyDefinition, arms: Mapping[str, str | None]
) -> tuple[list, pd.DataFrame]:
    """The plan's endpoints fitted with the subjects' arms (the closed session only), and
    the analysis dataset they were fitted on."""
    from xerotrial.adam.bds import study_bds
    from xerotrial.analysis.plan import run_plan

    bds = study_bds(conn, study)
    labels = {a.name: a.label or a.name for a in study.allocation.arms}
    bds = bds.assign(ARM=bds["SUBJID"].astype(str).map(arms))
    if "TRT01P" in bds:
        bds = bds.assign(TRT01P=bds["ARM"].map(labels))
    from .study_report import descriptives

    results = [dict(r) for r in run_plan(bds, study)]
    for r in results:
        r["descriptives"] = descriptives(bds, r["param"], list(study.analysis.arms))
    return results, bds


def _interim(study: StudyDefinition, results: list, bds: pd.DataFrame) -> dict[str, Any] | None:
    """The interim look on the primary endpoint (``[analysis.dmc]``): the Lan-DeMets boundary
    at the observed information fraction after the looks already taken, the non-binding
    futility threshold, and the conditional power under the current trend."""
    from xerotrial.stats.group_sequential import boundaries, conditional_power

    plan = study.analysis.dmc if study.analysis else None
    if plan is None or plan.spending is None:
        return None
    primary = next((r for r in results if r.get("primary")), None)
    if primary is None or not primary.get("diffs"):
        return {"note": "no primary comparison could be made: no interim look"}
    at = primary.get("primary_visit") or primary["visits"][-1]
    diff = next((d for d in primary["diffs"] if d.get("AVISIT") == at), None)
    if diff is None:
        return {"note": f"no comparison at the primary visit {at}: no interim look"}
    there = bds[(bds["PARAMCD"] == primary["param"]) & (bds["AVISIT"] == at)]
    observed = there[primary["response"]].notna() & there["ARM"].notna()
    n = int(there.loc[observed, "USUBJID"].nunique())
    t = min(n / plan.planned_subjects, 1.0)
    previous = list(plan.previous_looks)
    if previous and t <= previous[-1]:
        return {
            "note": f"the information fraction {t:.4f} ({n} of {plan.planned_subjects}) is not "
            f"beyond the last look's ({previous[-1]}): no new look"
        }
    rates = [*previous, t]
    b = boundaries(rates, alpha=plan.alpha, spending=plan.spending, sided=plan.sided)
    z = diff["estimate"] / diff["se"]
    c = b.critical_values[-1]
    crossed = abs(z) >= c if plan.sided == 2 else z >= c
    out = {
        "endpoint": primary["name"], "visit": at, "subjects": n,
        "planned_subjects": plan.planned_subjects, "information_fraction": t,
        "previous_looks": previous, "spending": plan.spending, "alpha": plan.alpha,
        "sided": plan.sided, "alpha_spent": b.alpha_spent[-1], "critical_z": c, "z": z,
        "crossed": bool(crossed), "futility_z": plan.futility_z,
        "futility": None if plan.futility_z is None else bool(z < plan.futility_z),
        "conditional_power": None,
    }  # fmt: skip
    if t < 1:
        final = boundaries([*rates, 1.0], alpha=plan.alpha, spending=plan.spending,
                           sided=plan.sided).critical_values[-1]  # fmt: skip
        out["conditional_power"] = conditional_power(z, t, final)
    return out


def write_dmc_report(
    engine: Engine,
    out: str | Path,
    *,
    session: str,
    actor: Any,
    source: str,
    as_of: dt.date | None = None,
) -> Path:
    """Write the DMC report of ``session`` into ``out`` (``dmc_report.html``, ``tables/``,
    ``dmc.json``); returns the HTML's path. The closed session is refused to a caller who
    may not see arms (:class:`~xerotrial.randomize.allocate.RandomizationForbiddenError`)."""
    from xerotrial.randomize.allocate import RandomizationForbiddenError, sees_arms
    from xerotrial.store.integrity import check_store
    from xerotrial.store.randomization_schema import blinding_state
    from xerotrial.store.study_store import stored_study

    if session not in SESSIONS:
        raise ValueError(f"session must be one of {', '.join(SESSIONS)}, not {session!r}")
    as_of = as_of or dt.datetime.now(dt.UTC).date()
    audit = check_store(engine)
    with engine.connect() as conn:
        study = stored_study(conn)
        state = blinding_state(conn)
        arms = None
        if session == "closed":
            if not sees_arms(actor, blinded=state == "blinded"):
                raise RandomizationForbiddenError(
                    f"the closed session shows the arms: {actor.audit_name} may not see them "
                    "(an unblinded role may)"
                )
            arms = _arms(conn, study, actor, state)
        tables = dmc_tables(conn, study, arms=arms, as_of=as_of)
        plan = study.analysis.dmc if study.analysis else None
        efficacy, bds = (
            _efficacy(conn, study, arms)
            if arms is not None and plan and plan.efficacy
            else ([], None)
        )
    interim = _interim(study, efficacy, bds) if efficacy else None
    out = Path(out)
    (out / "tables").mkdir(parents=True, exist_ok=True)
    for name, frame in tables.items():
        frame.to_csv(out / "tables" / f"{name}.csv", index=False, lineterminator="\n")
    (out / "dmc.json").write_text(
        json.dumps(
            {"study": study.study.id, "session": session, "as_of": as_of.isoformat(),
             "blinding": state, "audit_ok": audit.ok, "efficacy": efficacy,
             "interim": interim},
            indent=1, allow_nan=False, default=str,
        ) + "\n",
        encoding="utf-8",
    )  # fmt: skip
    from .study_report import format_endpoint, templates

    labels = {a.name: a.label or a.name for a in study.allocation.arms}
    html = (
        templates()
        .get_template("dmc_report.html.j2")
        .render(
            study=study,
            session=session,
            state=state,
            as_of=as_of.isoformat(),
            source=source,
            audit=audit,
            tables={
                k: (list(v.columns), v.astype(object).where(v.notna(), "").values.tolist())
                for k, v in tables.items()
            },  # fmt: skip
            titles=TITLES,
            endpoints=[format_endpoint(r, labels) for r in efficacy],
            interim=interim,
        )
    )
    path = out / "dmc_report.html"
    path.write_text(html, encoding="utf-8")
    return path


def _arms(conn: Connection, study: StudyDefinition, actor: Any, state: str) -> dict[str, Any]:
    """Each subject's arm for the closed session: the concealed list's, or (no list: an
    open-label store) the subjects' own."""
    from xerotrial.randomize.allocate import allocation_arms
    from xerotrial.store.study_schema import SUBJECTS, study_tables

    if state != "open":
        return allocation_arms(conn, actor)
    t = study_tables(study)[SUBJECTS]
    col = _subject_col(study)
    return {r[col]: r["arm"] for r in conn.execute(select(t)).mappings()}


#: The tables' titles, in the report's order.
TITLES = {
    "randomized": "Randomized subjects by site and month",
    "retention": "Retention: subjects with data at each visit (of those whose window opened)",
    "completeness": "Completeness: forms entered of those due",
    "overdue": "Overdue visits (window closed, nothing entered)",
    "sae": "Serious adverse events",
    "unblindings": "Emergency unblindings",
    "ae_by_soc_term_grade": "Adverse events by system organ class, CTCAE term and grade",
    "sae_deaths_by_arm": "Serious adverse events and deaths by arm",
}
