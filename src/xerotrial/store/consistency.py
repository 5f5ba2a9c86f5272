"""Rules across rows and forms, checked on the store as it would be after a write.

An import and an edit run the same rules (:func:`consistency_problems`) on the stored rows
with the incoming rows put in: a violation that involves an incoming row is a problem of that
row (file, row, column, rule), so nothing is written. Violations among stored rows alone
(data imported before a rule existed) are not an import's problem: ``xerotrial audit`` and the
analysis see them.

============================  ===============================================================
visit dates                   every dated visit of a subject puts day 0 on the same date
                              (``visit_date - study_day``)
screening before day 0        a participant is screened on or before their day 0
cells to patients             only a patient receives cells (administrations)
matched to a patient          a control's ``matched_to`` is a patient
matching criteria             a control matches their patient: sex, race and education equal,
                              ages within ``matching.AGE_TOLERANCE`` years
one control per patient       two controls are not matched to the same patient
enrolment order               two patients do not share an enrolment order
============================  ===============================================================

Example
-------
>>> state = {"visits": {("P1", "day0"): {"subject": "P1", "visit": "day0", "study_day": 0,
...                         "visit_date": dt.date(2024, 1, 1)},
...                     ("P1", "year2"): {"subject": "P1", "visit": "year2", "study_day": 730,
...                         "visit_date": dt.date(2024, 1, 2)}}}
>>> [v.rule for v in violations(state)]  # doctest: +ELLIPSIS
['visit_date 2024-01-02 at study day 730 puts day 0 on 2022-01-02, but visit day0 ...']
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from xerotrial.trial.matching import pair_mismatches

from .forms import FORMS, Problem
from .schema import stored_rows

__all__ = ["RULE_FORMS", "Violation", "consistency_problems", "violations"]

#: The forms the rules read.
RULE_FORMS = ("participants", "screening", "visits", "administrations")

Key = tuple
State = Mapping[str, Mapping[Key, Mapping[str, Any]]]
#: A place a violation can be reported: (form, key, column, value).
Place = tuple[str, Key, str, Any]


@dataclass(frozen=True)
class Violation:
    """A broken rule and the rows it involves, in the order to report it (``places``)."""

    places: tuple[Place, ...]
    rule: str


def _rows(state: State, form: str) -> Mapping[Key, Mapping[str, Any]]:
    return state.get(form, {})


def _day0(state: State) -> dict[str, tuple[dt.date, Key, Mapping[str, Any]]]:
    """Each subject's day-0 date from the dated visit nearest day 0 (the anchor)."""
    out: dict[str, tuple[dt.date, Key, Mapping[str, Any]]] = {}
    for key, v in sorted(_rows(state, "visits").items(), key=lambda kv: abs(kv[1]["study_day"])):
        if v.get("visit_date") is not None and v["subject"] not in out:
            out[v["subject"]] = (v["visit_date"] - dt.timedelta(days=v["study_day"]), key, v)
    return out


def _visit_dates(state: State) -> Iterator[Violation]:
    anchors = _day0(state)
    for key, v in _rows(state, "visits").items():
        if v.get("visit_date") is None or v["subject"] not in anchors:
            continue
        day0, akey, a = anchors[v["subject"]]
        mine = v["visit_date"] - dt.timedelta(days=v["study_day"])
        if mine != day0:
            yield Violation(
                (
                    ("visits", key, "visit_date", v["visit_date"]),
                    ("visits", akey, "visit_date", a["visit_date"]),
                ),
                f"visit_date {v['visit_date']} at study day {v['study_day']} puts day 0 on "
                f"{mine}, but visit {a['visit']} ({a['visit_date']}, study day "
                f"{a['study_day']}) puts it on {day0}",
            )


def _screening(state: State) -> Iterator[Violation]:
    anchors = _day0(state)
    for key, s in _rows(state, "screening").items():
        subject = s.get("subject")
        if subject not in anchors or s.get("screening_date") is None:
            continue
        day0, akey, a = anchors[subject]
        if s["screening_date"] > day0:
            yield Violation(
                (
                    ("screening", key, "screening_date", s["screening_date"]),
                    ("visits", akey, "visit_date", a["visit_date"]),
                ),
                f"{subject} is screened on {s['screening_date']}, after their day 0 ({day0}, "
                f"from visit {a['visit']})",
            )


def _participant(state: State, subject: Any) -> tuple[Key, Mapping[str, Any]] | None:
    row = _rows(state, "participants").get((subject,))
    return None if row is None else ((subject,), row)


def _cells_to_patients(state: State) -> Iterator[Violation]:
    for key, a in _rows(state, "administrations").items():
        found = _participant(state, a["subject"])
        if found is not None and found[1]["group"] != "patient":
            yield Violation(
                (
                    ("administrations", key, "subject", a["subject"]),
                    ("participants", found[0], "group", found[1]["group"]),
                ),
                f"{a['subject']} is a {found[1]['group']}: only patients receive cells "
                f"({a['gland']} administration)",
            )


def _matching(state: State) -> Iterator[Violation]:
    people = _rows(state, "participants")
    taken: dict[Any, Key] = {}
    order: dict[Any, Key] = {}
    for key, p in sorted(people.items()):
        if p["group"] == "patient" and p.get("enrolment_order") is not None:
            n = p["enrolment_order"]
            if n in order:
                yield Violation(
                    (
                        ("participants", key, "enrolment_order", n),
                        ("participants", order[n], "enrolment_order", n),
                    ),
                    f"enrolment order {n} is also {order[n][0]}'s (one patient per place)",
                )
            order.setdefault(n, key)
        if p["group"] != "control" or p.get("matched_to") is None:
            continue
        found = _participant(state, p["matched_to"])
        if found is None:
            continue  # an unknown participant: the reference check says so
        pkey, patient = found
        if patient["group"] != "patient":
            yield Violation(
                (
                    ("participants", key, "matched_to", p["matched_to"]),
                    ("participants", pkey, "group", patient["group"]),
                ),
                f"{p['subject']} is matched to {p['matched_to']}, who is a "
                f"{patient['group']}: a control is matched to a patient",
            )
            continue
        if p["matched_to"] in taken:
            other = taken[p["matched_to"]]
            yield Violation(
                (
                    ("participants", key, "matched_to", p["matched_to"]),
                    ("participants", other, "matched_to", p["matched_to"]),
                ),
                f"{p['matched_to']} is already the match of {other[0]} (one control per patient)",
            )
        taken.setdefault(p["matched_to"], key)
        criteria = ("sex", "race", "education")
        theirs = {"age": patient["age_years"]} | {c: patient.get(c) for c in criteria}
        ours = {"age": p["age_years"]} | {c: p.get(c) for c in criteria}
        for column, rule in pair_mismatches(theirs, ours):
            col = "age_years" if column == "age" else column
            yield Violation(
                (
                    ("participants", key, col, p.get(col)),
                    ("participants", pkey, col, patient.get(col)),
                ),
                f"{p['subject']} does not match {p['matched_to']}: {rule}",
            )


_RULES = (_visit_dates, _screening, _cells_to_patients, _matching)


def violations(state: State) -> list[Violation]:
    """Every rule broken in ``state`` (``form -> key -> row``)."""
    return [v for rule in _RULES for v in rule(state)]


def _load(conn: Connection) -> dict[str, dict[Key, dict[str, Any]]]:
    return {form: stored_rows(conn, form) for form in RULE_FORMS}


def consistency_problems(
    conn: Connection,
    form: str,
    rows: Sequence[tuple[int, Mapping[str, Any]]],
    source: str,
    lines: Mapping[int, int] | None = None,
) -> list[Problem]:
    """The rules broken by putting ``rows`` (``[(row number, values)]``) of ``form`` into
    the store, as problems of those rows (``lines``: row number -> file line)."""
    if form not in RULE_FORMS or not rows:
        return []
    spec = FORMS[form]
    state = _load(conn)
    mine: dict[Key, int] = {}
    for i, values in rows:
        key = tuple(values[k] for k in spec.key)
        state[form][key] = dict(values)
        mine[key] = i
    problems: list[Problem] = []
    seen = set()
    for v in violations(state):
        for place_form, key, column, value in v.places:
            if place_form == form and key in mine:
                i = mine[key]
                if (i, column, v.rule) not in seen:
                    seen.add((i, column, v.rule))
                    line = None if lines is None else lines.get(i)
                    problems.append(Problem(source, i, column, value, v.rule, line=line))
                break
    return problems
