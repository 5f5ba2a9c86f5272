"""The BDS analysis dataset of a study store, by its definition's derivations.

One record per subject, parameter and visit: ``USUBJID SUBJID SITEID ARM TRT01P PARAMCD PARAM
AVISIT AVISITN AVAL BASE CHG PCHG ABLFL DEFVER``. Each ``[derivations.PARAMCD]`` calls its
function (:data:`xerotrial.trial.registry.DERIVATIONS`) on the rows of its form, the inputs
renamed from the fields. AVISIT is the visit's name, AVISITN its target day (its position when
it has none). BASE is the value at the baseline visit (``baseline = true``); CHG = AVAL − BASE;
PCHG = 100 × CHG / BASE (NaN when BASE is 0 or missing). A repeating form cannot feed a
derivation (several values per visit); the definition check leaves it to this module to say so.

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

import numpy as np
import pandas as pd
from sqlalchemy import Connection

from xerotrial.errors import DataValidationError
from xerotrial.store.study_export import stored_frames
from xerotrial.store.study_schema import subject_column
from xerotrial.store.study_store import stored_study
from xerotrial.study.model import StudyDefinition
from xerotrial.trial.registry import DERIVATIONS

__all__ = ["BDS_COLUMNS", "study_bds"]

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
    "DEFVER",
]


def _visitn(study: StudyDefinition) -> dict[str, float]:
    return {
        v.name: float(v.day) if getattr(v, "day", None) is not None else float(i)
        for i, v in enumerate(study.visits)
    }


def study_bds(conn: Connection, study: StudyDefinition | None = None) -> pd.DataFrame:
    """The BDS dataset (see the module docstring), sorted by parameter, subject, visit."""
    study = stored_study(conn) if study is None else study
    frames = stored_frames(conn, study)
    subject = subject_column(study)
    subjects = {s[subject]: s for s in frames.pop("__subjects__")}
    labels = {a.name: a.label or a.name for a in study.allocation.arms}
    visitn = _visitn(study)
    baseline = next((v.name for v in study.visits if v.baseline), None)
    parts = []
    for d in study.derivations:
        rows = pd.DataFrame(frames[d.form])
        if rows.empty:
            continue
        if (rows["instance"] != 1).any():
            raise DataValidationError(
                f"derivation {d.param}: form {d.form} repeats (several rows per visit); a "
                "derivation reads one row per subject and visit"
            )
        inputs = rows[[subject, "visit", "def_version", *d.inputs.values()]].copy()
        inputs.columns = [subject, "visit", "def_version", *d.inputs.keys()]
        values = DERIVATIONS[d.function].compute(inputs.reset_index(drop=True), d.params)
        ids = inputs[subject].astype(str)
        parts.append(
            pd.DataFrame(
                {
                    "USUBJID": [f"{study.study.id}-{s}" for s in ids],
                    "SUBJID": ids.to_numpy(),
                    "SITEID": [subjects[s]["site"] for s in ids],
                    "ARM": [subjects[s]["arm"] for s in ids],
                    "TRT01P": [labels.get(subjects[s]["arm"], subjects[s]["arm"]) for s in ids],
                    "PARAMCD": d.param,
                    "PARAM": d.label or d.param,
                    "AVISIT": inputs["visit"].to_numpy(),
                    "AVISITN": inputs["visit"].map(visitn).to_numpy(dtype=float),
                    "AVAL": np.asarray(values, dtype=float),
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
