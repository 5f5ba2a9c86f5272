"""What every SDTM and ADaM dataset of a store shares: subjects, arms, visits, dates, days.

:class:`StudyContext` reads a store once: its definition, its subjects with their site and
arm, the analysis population, and the visit dates (the form whose fields are annotated
``SV.SVSTDTC``; its ``SV.SVSTDY`` field is the protocol's study day). Days follow the
definition's numbering, where ``[submission] first_dose_day`` is the day of the first
treatment; SDTM counts that day as day 1 and has no day 0 (SDTMIG 3.4 section 4.4.4), which
:meth:`StudyContext.sdtm_day` converts to. The reference start RFSTDTC is the date of the
subject's visit on the day of the first treatment.

Arms: a study store's subjects have the arm of their allocation (none while the study is
blinded: :attr:`StudyContext.blinded`); a study without allocation gives its analysis
population the ``[submission] arm`` and every other subject none (DM's ARMNRS "NOT
ASSIGNED").

Example
-------
>>> StudyContext.sdtm_day_of(0, 0), StudyContext.sdtm_day_of(-3, 0), StudyContext.sdtm_day_of(29, 0)
(1, -3, 30)
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import pandas as pd
from sqlalchemy import Connection

from xerotrial.adam.bds import StoreRows, rows_where, store_study
from xerotrial.study.model import Field, Form, StudyDefinition
from xerotrial.study.submission import SubmissionPlan

__all__ = ["Arm", "StudyContext", "annotated"]


@dataclass(frozen=True)
class Arm:
    """A subject's planned arm: ARMCD and ARM (both None when not assigned or blinded)."""

    code: str | None
    label: str | None


def annotated(form: Form, domain: str) -> dict[str, Field]:
    """``VARIABLE -> field`` of ``form``'s fields annotated ``domain.VARIABLE``."""
    return {f.sdtm.split(".", 1)[1]: f for f in form.fields if f.sdtm_domain == domain}


def _date(value: Any) -> dt.date | None:
    if value is None or (isinstance(value, float) and pd.isna(value)) or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


class StudyContext:
    """A store read once for its submission datasets (see the module docstring)."""

    def __init__(self, conn: Connection, study: StudyDefinition | None = None) -> None:
        from xerotrial.store.layout import STUDY_KIND, store_kind

        self.conn = conn
        self.study = store_study(conn) if study is None else study
        self.plan: SubmissionPlan = self.study.submission or SubmissionPlan()
        self.rows = StoreRows(conn, self.study)
        #: what the data cannot give that SDTM requires (said by ``sdtm_datasets``)
        self.problems: list[str] = []
        self.study_store = store_kind(conn) == STUDY_KIND
        self.studyid = self.study.study.id
        self.subjects: dict[str, dict] = self.rows.subjects()
        self.blinded = False
        self.allocated: dict[str, str] = {}  # subject -> date of allocation
        if self.study_store:
            from sqlalchemy import select

            from xerotrial.store.randomization_schema import ALLOCATIONS, blinding_state

            self.blinded = blinding_state(conn) == "blinded"
            for subject, at in conn.execute(
                select(ALLOCATIONS.c.subject, ALLOCATIONS.c.allocated_at)
            ):
                self.allocated[str(subject)] = str(at)[:10]
        self.visit_number = {v.name: i + 1 for i, v in enumerate(self.study.visits)}
        self._forms: dict[str, pd.DataFrame] = {}
        self.population = self._population()
        self.visit_dates, self.visit_days = self._visit_dates()
        self.reference_start = {
            s: self.visit_dates.get((s, v.name))
            for s in self.subjects
            for v in self.study.visits
            if v.day == self.plan.first_dose_day and self.visit_dates.get((s, v.name))
        }

    # -- reading --------------------------------------------------------------------------

    def form(self, name: str) -> pd.DataFrame:
        """The rows of a form (cached), with ``subject``, ``visit``, ``instance``."""
        if name not in self._forms:
            self._forms[name] = self.rows.form(name)
        return self._forms[name]

    def forms_of(self, domain: str) -> list[Form]:
        """The forms with a field annotated to ``domain``, in definition order."""
        return [f for f in self.study.forms if annotated(f, domain)]

    def _population(self) -> set[str] | None:
        plan = self.study.analysis
        if plan is None or plan.population is None:
            return None
        form, expr = plan.population
        rows = rows_where(self.form(form), expr)
        return set(rows["subject"].astype(str)) if not rows.empty else set()

    def _visit_dates(self) -> tuple[dict, dict]:
        dates: dict[tuple[str, str], dt.date] = {}
        days: dict[tuple[str, str], int] = {}
        for form in self.forms_of("SV"):
            marks = annotated(form, "SV")
            rows = self.form(form.name)
            if rows.empty:
                continue
            visit = marks["VISIT"].name if "VISIT" in marks else "visit"
            for r in rows.to_dict("records"):
                key = (str(r["subject"]), str(r[visit]))
                if "SVSTDTC" in marks and _date(r.get(marks["SVSTDTC"].name)) is not None:
                    dates[key] = _date(r[marks["SVSTDTC"].name])
                if "SVSTDY" in marks and pd.notna(r.get(marks["SVSTDY"].name)):
                    days[key] = int(r[marks["SVSTDY"].name])
        return dates, days

    # -- subjects --------------------------------------------------------------------------

    def site_country(self, site: Any) -> str:
        """A site's country as the definition gives it (``[study.sites.CODE] country``), else
        as a form keyed by the site holds it (a seed store's ``sites`` form); "" if neither."""
        if not hasattr(self, "_countries"):
            self._countries = {x.code: x.country for x in self.study.study.sites if x.country}
            for form in self.study.forms:
                names = [f.name for f in form.fields]
                if form.key == ("site",) and "country" in names:
                    for r in self.form(form.name).to_dict("records"):
                        if r.get("country") and str(r["site"]) not in self._countries:
                            self._countries[str(r["site"])] = str(r["country"])
        return self._countries.get(str(site), "")

    def usubjid(self, subject: Any) -> str:
        """``STUDYID-SUBJID``."""
        return f"{self.studyid}-{subject}"

    def in_population(self, subject: str) -> bool:
        return self.population is None or subject in self.population

    def arm(self, subject: str) -> Arm:
        """The subject's planned arm (see the module docstring)."""
        if self.study_store:
            code = self.subjects.get(subject, {}).get("arm")
            if code is None:
                return Arm(None, None)
            labels = {a.name: a.label or a.name for a in self.study.allocation.arms}
            return Arm(str(code).upper(), labels.get(code, code))
        if self.plan.arm is not None and self.in_population(subject):
            return Arm(*self.plan.arm)
        return Arm(None, None)

    def assigned(self, subject: str) -> bool:
        """Whether the subject has an arm (known, or concealed while blinded)."""
        if self.arm(subject).code is not None:
            return True
        return self.blinded and subject in self.allocated

    # -- days and dates ----------------------------------------------------------------------

    @staticmethod
    def sdtm_day_of(day: int, first: int) -> int:
        """The SDTM study day of the protocol's ``day`` (``first``: the first treatment's)."""
        return day - first + 1 if day >= first else day - first

    def sdtm_day(self, day: Any) -> int | None:
        if day is None or pd.isna(day):
            return None
        return self.sdtm_day_of(int(day), self.plan.first_dose_day)

    def date_of_day(self, subject: str, day: Any) -> dt.date | None:
        """The date of the protocol's study ``day`` for ``subject`` (None without RFSTDTC)."""
        start = self.reference_start.get(subject)
        if start is None or day is None or pd.isna(day):
            return None
        return start + dt.timedelta(days=int(day) - self.plan.first_dose_day)

    def sdtm_day_of_date(self, subject: str, date: Any) -> int | None:
        """The SDTM study day of ``date`` (ISO text or a date) against the subject's RFSTDTC
        (None without either)."""
        start, d = self.reference_start.get(subject), _date(date)
        if start is None or d is None:
            return None
        delta = (d - start).days
        return delta + 1 if delta >= 0 else delta

    def epoch(self, day: Any, visit: str | None = None) -> str | None:
        """SCREENING before the first treatment (and at the baseline visit), TREATMENT on
        its day, FOLLOW-UP after."""
        if visit:
            v = next((x for x in self.study.visits if x.name == visit), None)
            if v is not None and v.baseline:
                return "SCREENING"
            if day is None and v is not None:
                day = v.day
        if day is None or pd.isna(day):
            return None
        first = self.plan.first_dose_day
        return "SCREENING" if day < first else "TREATMENT" if day == first else "FOLLOW-UP"

    def visit_label(self, visit: str) -> str:
        v = next((x for x in self.study.visits if x.name == visit), None)
        return (v.label or v.name) if v is not None else visit

    def visit_day(self, subject: str, visit: str) -> int | None:
        """The protocol day the subject was seen at ``visit`` (recorded), else None."""
        return self.visit_days.get((subject, visit))


def iso(d: dt.date | None) -> str:
    """ISO 8601 date text ('' for none), as SDTM's --DTC variables hold it."""
    return d.isoformat() if d is not None else ""
