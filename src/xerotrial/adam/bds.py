"""The BDS analysis dataset of a store, by its definition's derivations.

One record per subject, parameter and visit: ``USUBJID SUBJID SITEID ARM TRT01P PARAMCD PARAM
AVISIT AVISITN AVAL BASE CHG PCHG ABLFL POPFL DEFVER``. Each ``[derivations.PARAMCD]`` calls
its function (:data:`xerotrial.trial.registry.DERIVATIONS`) on the rows of its form (those its
``where`` keeps), the inputs renamed from the fields. POPFL is "Y" for a subject of the plan's
population (every subject when it names none). A seed store is read by the seed trial's
definition, its forms' participant and visit columns giving subject and visit.

AVISIT is the visit's name, AVISITN its target day (its position when it has none). BASE is
the value at the baseline visit (``baseline = true``); CHG = AVAL − BASE; PCHG = 100 × CHG /
BASE (NaN when BASE is 0 or missing). A repeating form cannot feed a derivation (several
values per visit); the definition check leaves it to this module to say so.

Example
-------
>>> import tempfile, os
>>> from xerotrial.store.study_store import init_study_store
>>> from xerotrial.store.engine import open_store
>>> from xerotrial.study import SEED_STUDY
>>> db = os.path.join(tempfile.mkdtemp(), "s.db"); _ = init_study_store(db, SEED_STUDY)
>>> with open_store(db).connect() as conn:
...     list(study_bds(conn)[["PARAMCD", "AVAL"]].columns)
['PARAMCD', 'AVAL']
"""

from __future__ import annotations

from collections.abc import Collection

import numpy as np
import pandas as pd
from sqlalchemy import Connection

from xerotrial.errors import DataValidationError
from xerotrial.store.study_export import stored_frames
from xerotrial.store.study_schema import subject_column
from xerotrial.store.study_store import stored_study
from xerotrial.study.model import StudyDefinition
from xerotrial.trial.registry import DERIVATIONS

__all__ = ["BDS_COLUMNS", "StoreRows", "store_study", "study_bds"]

BDS_COLUMNS = [
    "USUBJID",
    "SUBJID",
    "SITEID",
    "ARM",
    "TRT01P",
    "PARAMCD",
    "PARAM",
    "AVISIT",
    "AVISITN",
    "AVAL",
    "BASE",
    "CHG",
    "PCHG",
    "ABLFL",
    "POPFL",
    "DEFVER",
]


def _visitn(study: StudyDefinition) -> dict[str, float]:
    return {
        v.name: float(v.day) if v.day is not None else float(i) for i, v in enumerate(study.visits)
    }


def store_study(conn: Connection) -> StudyDefinition:
    """The definition a store runs by: a study store's own, the seed trial's for a seed store."""
    from xerotrial.store.layout import STUDY_KIND, store_kind

    if store_kind(conn) == STUDY_KIND:
        return stored_study(conn)
    from xerotrial.study import SEED_STUDY, load_study

    return load_study(SEED_STUDY)


class StoreRows:
    """A store's rows by form, each with ``subject``, ``visit``, ``instance`` and
    ``def_version`` (a study store's context; a seed store's from its forms' participant and
    visit columns), and its subjects' site and arm."""

    def __init__(self, conn: Connection, study: StudyDefinition) -> None:
        from xerotrial.store.layout import STUDY_KIND, store_kind

        self.conn, self.study = conn, study
        self.study_store = store_kind(conn) == STUDY_KIND
        self._frames = stored_frames(conn, study) if self.study_store else None
        self.subject = subject_column(study) if self.study_store else "subject"

    def subjects(self) -> dict[str, dict]:
        if self._frames is not None:
            return {str(s[self.subject]): s for s in self._frames["__subjects__"]}
        from xerotrial.store.schema import stored_rows

        # a seed store's subjects: the form keyed by the subject alone (its participants)
        form = next((f for f in self.study.forms if f.key == ("subject",)), None)
        if form is None:
            return {}
        return {
            str(k[0]): {"site": r.get("site"), "arm": None, "def_version": self.study.version}
            for k, r in stored_rows(self.conn, form.name).items()
        }

    def form(self, name: str) -> pd.DataFrame:
        if self._frames is not None:
            rows = pd.DataFrame(self._frames[name])
            return rows.rename(columns={self.subject: "subject"}) if not rows.empty else rows
        from xerotrial.store.schema import stored_rows

        spec = next(f for f in self.study.forms if f.name == name)
        who, visit = (
            spec.visit_columns if spec.visit_columns else (spec.participant or "subject", None)
        )
        stored = stored_rows(self.conn, name)
        rows = pd.DataFrame([stored[k] for k in sorted(stored, key=_sortable)])  # key order
        if rows.empty:
            return rows
        subject = rows[who].astype(str) if who in rows else None  # sites, donors: no subject
        context = {"subject": subject, "instance": 1}
        if visit or "visit" not in rows:  # a form's own visit field (the visits form) stays
            context["visit"] = rows[visit] if visit else ""
        return rows.assign(**context, def_version=self.study.version)


def _sortable(key: tuple) -> tuple:
    """A row key that sorts as SQL ORDER BY does (None first)."""
    return tuple((v is not None, v) for v in key)


def rows_where(rows: pd.DataFrame, expr: str | None) -> pd.DataFrame:
    if expr is None or rows.empty:
        return rows
    from xerotrial.study.expressions import parse_expression

    e = parse_expression(expr)
    keep = [e.evaluate(r) is True for r in rows.to_dict("records")]
    return rows[keep]


def study_bds(
    conn: Connection, study: StudyDefinition | None = None, params: Collection[str] | None = None
) -> pd.DataFrame:
    """The BDS dataset (see the module docstring), sorted by parameter, subject, visit
    (``params``: only those parameters)."""
    study = store_study(conn) if study is None else study
    source = StoreRows(conn, study)
    subjects = source.subjects()
    labels = {a.name: a.label or a.name for a in study.allocation.arms}
    visitn = _visitn(study)
    baseline = next((v.name for v in study.visits if v.baseline), None)
    population = None
    plan = study.analysis
    if plan is not None and plan.population is not None:
        form, expr = plan.population
        population = set(
            rows_where(source.form(form), expr).get("subject", pd.Series()).astype(str)
        )
    parts = []
    for d in study.derivations:
        if params is not None and d.param not in params:
            continue
        rows = rows_where(source.form(d.form), d.where)
        if rows.empty:
            continue
        if (rows["instance"] != 1).any():
            raise DataValidationError(
                f"derivation {d.param}: form {d.form} repeats (several rows per visit); a "
                "derivation reads one row per subject and visit"
            )
        inputs = rows[["subject", "visit", "def_version", *d.inputs.values()]].copy()
        inputs.columns = ["subject", "visit", "def_version", *d.inputs.keys()]
        inputs = inputs.reset_index(drop=True)
        fn = DERIVATIONS[d.function]
        values = fn.compute(inputs, d.params)
        if fn.per_visit:  # one value per subject and visit (a mean over several rows)
            version = inputs.groupby(["subject", "visit"], sort=False)["def_version"].max()
            inputs = values[["subject", "visit"]].assign(
                def_version=[
                    version[(s, v)] for s, v in zip(values["subject"], values["visit"], strict=True)
                ]
            )
            values = values["value"].to_numpy()
        ids = inputs["subject"].astype(str)
        parts.append(
            pd.DataFrame(
                {
                    "USUBJID": [f"{study.study.id}-{s}" for s in ids],
                    "SUBJID": ids.to_numpy(),
                    "SITEID": [subjects.get(s, {}).get("site") for s in ids],
                    "ARM": [subjects.get(s, {}).get("arm") for s in ids],
                    "TRT01P": [
                        labels.get(subjects.get(s, {}).get("arm"), subjects.get(s, {}).get("arm"))
                        for s in ids
                    ],
                    "PARAMCD": d.param,
                    "PARAM": d.label or d.param,
                    "AVISIT": inputs["visit"].to_numpy(),
                    "AVISITN": inputs["visit"].map(visitn).to_numpy(dtype=float),
                    "AVAL": np.asarray(values, dtype=float),
                    "POPFL": ["Y" if population is None or s in population else "" for s in ids],
                    "DEFVER": inputs["def_version"].to_numpy(),
                }
            )
        )
    if not parts:
        return pd.DataFrame(columns=BDS_COLUMNS)
    bds = pd.concat(parts, ignore_index=True)
    bds["ABLFL"] = np.where(bds["AVISIT"] == baseline, "Y", "")
    base = bds[(bds["ABLFL"] == "Y") & bds["AVAL"].notna()].set_index(["USUBJID", "PARAMCD"])
    key = pd.MultiIndex.from_frame(bds[["USUBJID", "PARAMCD"]])
    bds["BASE"] = base["AVAL"].reindex(key).to_numpy(dtype=float)
    bds["CHG"] = bds["AVAL"] - bds["BASE"]
    with np.errstate(divide="ignore", invalid="ignore"):
        pchg = 100.0 * bds["CHG"] / bds["BASE"]
    bds["PCHG"] = pchg.where(bds["BASE"] != 0)
    bds = bds.sort_values(["PARAMCD", "USUBJID", "AVISITN"], kind="stable")
    return bds[BDS_COLUMNS].reset_index(drop=True)
