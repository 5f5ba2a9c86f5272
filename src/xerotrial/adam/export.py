"""``export adam`` of a study store: ADSL and the BDS dataset, as CSV, Parquet or XPT.

``adsl``: one record per subject (``USUBJID SUBJID SITEID ARM TRT01P``); ``adbds``: the BDS
dataset of the definition's derivations (:func:`xerotrial.adam.bds.study_bds`). XPT (SAS
transport 5, via pyreadstat) keeps the ADaM names, which are at most 8 characters. The audit
check's stamp ``AUDIT_STATUS.txt`` is written beside them.

Example
-------
>>> import tempfile, os
>>> from xerotrial.store.study_store import init_study_store
>>> from xerotrial.store.engine import open_store
>>> from xerotrial.study import SEED_STUDY
>>> d = tempfile.mkdtemp(); db = os.path.join(d, "s.db"); _ = init_study_store(db, SEED_STUDY)
>>> [p.name for p in export_study_adam(open_store(db), d, "csv")]
['adsl.csv', 'adbds.csv']
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from sqlalchemy import Engine

from xerotrial.store.integrity import check_store, write_status
from xerotrial.store.study_export import stored_frames
from xerotrial.store.study_schema import subject_column
from xerotrial.store.study_store import stored_study

from .bds import study_bds

__all__ = ["ADAM_FORMATS", "export_study_adam"]

ADAM_FORMATS = ("csv", "parquet", "xpt")


def _adsl(frames: dict, study) -> pd.DataFrame:  # noqa: ANN001 - a StudyDefinition
    subject = subject_column(study)
    labels = {a.name: a.label or a.name for a in study.allocation.arms}
    rows = frames["__subjects__"]
    return pd.DataFrame(
        {
            "USUBJID": [f"{study.study.id}-{r[subject]}" for r in rows],
            "SUBJID": [r[subject] for r in rows],
            "SITEID": [r["site"] for r in rows],
            "ARM": [r["arm"] for r in rows],
            "TRT01P": [labels.get(r["arm"], r["arm"]) for r in rows],
            "DEFVER": [r["def_version"] for r in rows],
        }
    )


def export_study_adam(engine: Engine, out: str | Path, fmt: str = "csv") -> list[Path]:
    """Write ``adsl`` and ``adbds`` into the folder ``out``; returns their paths."""
    if fmt not in ADAM_FORMATS:
        raise ValueError(f"format {fmt!r}: one of {', '.join(ADAM_FORMATS)}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    report = check_store(engine)
    with engine.connect() as conn:
        study = stored_study(conn)
        datasets = {"adsl": _adsl(stored_frames(conn, study), study), "adbds": study_bds(conn)}
    paths = []
    for name, frame in datasets.items():
        path = out / f"{name}.{fmt}"
        if fmt == "csv":
            frame.to_csv(path, index=False, lineterminator="\n")
        elif fmt == "parquet":
            frame.to_parquet(path, index=False)
        else:
            import pyreadstat

            xpt = frame.copy()
            for col in xpt.columns:
                if xpt[col].dtype == object:
                    xpt[col] = xpt[col].where(xpt[col].notna(), "").astype(str)
            pyreadstat.write_xport(xpt, str(path), file_format_version=5, table_name=name.upper())
        paths.append(path)
    write_status(report, out)
    return paths
