"""Exports of a seed store: the raw forms as CSV, Parquet or SAS transport (XPT), and the
seed trial's own analysis datasets for its report.

``raw`` (:func:`export_raw`): one file per form, named ``FORM.csv|parquet|xpt``, with the
columns of its template (a raw CSV export imports back unchanged). :func:`adam_datasets`: the
report's BDS datasets derived from the raw data by the trial's functions
(``xerotrial.trial``), never stored:

============ ==================================================================================
``adflow``   whole-saliva flow rates (``sialometry.derive_flow_rate``): uws_ml_min, sws_ml_min
``adions``   saliva ions (``saliva.derive_saliva_ions``): e.g. uws_na_mmol_l
``adqs``     QLQ-H&N35 and XQ scores (``questionnaires.score_qlq_hn35`` / ``score_xq``)
``adscint``  scintigraphy means (``scintigraphy.derive_scintigraphy``)
============ ==================================================================================

each built by ``adam.derive_bds`` with the study days of the visits form and the store's
protocol. The submission datasets (SDTM, ADaM with define.xml) are
:mod:`xerotrial.submission`'s.

XPT (SAS transport version 5, via pyreadstat) limits names to 8 characters: columns are
renamed by ``Field.xpt_name`` (``cup_before_g`` -> ``CUPBEFG``), the original name becomes
the column label, and the member name is :data:`XPT_MEMBERS` (``participants`` ->
``PARTIC``). ``xpt_names.csv`` is written next to the files with the mapping. In XPT yes/no
columns are 1/0 and dates are ISO text.

The export first checks the store against its audit trail (``integrity.check_store``) and
write the result next to the files: ``AUDIT_STATUS.txt`` says verified, or NOT VERIFIED with
the problems, and the chain head (not in the returned paths).

Example
-------
>>> import tempfile, os
>>> from xerotrial.store.migrate import init_store
>>> from xerotrial.store.engine import open_store
>>> d = tempfile.mkdtemp(); _ = init_store(os.path.join(d, "trial.db"))
>>> [p.name for p in export_raw(open_store(os.path.join(d, "trial.db")), d)][:2]
['sites.csv', 'participants.csv']
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from sqlalchemy import Engine, select

from xerotrial.trial.adam import BDS_COLUMNS, WINDOW_COLUMNS, derive_bds
from xerotrial.trial.protocol import Protocol
from xerotrial.trial.questionnaires import HN35_SCALES, XQ_SCALES, score_qlq_hn35, score_xq
from xerotrial.trial.saliva import SALIVA_PARAM_LABELS, derive_saliva_ions
from xerotrial.trial.scintigraphy import SCINT_PARAM_LABELS, derive_scintigraphy
from xerotrial.trial.sialometry import FLOW_PARAM_LABELS, derive_flow_rate

from .errors import StoreError
from .forms import FORMS, format_value
from .integrity import check_store, write_status
from .migrate import stored_protocol
from .schema import TABLES
from .verify import AuditReport

__all__ = ["FORMATS", "XPT_MEMBERS", "adam_datasets", "export_raw", "read_form"]

Format = Literal["csv", "parquet", "xpt"]
#: The export formats.
FORMATS: tuple[str, ...] = ("csv", "parquet", "xpt")

#: XPT member names (<= 8 characters) of the forms and analysis datasets.
XPT_MEMBERS: dict[str, str] = {
    "sites": "SITES",
    "participants": "PARTIC",
    "screening": "SCREEN",
    "visits": "VISITS",
    "sialometry": "SIALO",
    "saliva_ions": "IONS",
    "qlq_hn35": "QLQHN35",
    "xq": "XQ",
    "adverse_events": "AE",
    "donors": "DONORS",
    "batches": "BATCHES",
    "administrations": "ADMIN",
    "hla_antibodies": "HLAAB",
    "scintigraphy": "SCINT",
    "safety_labs": "LABS",
    "adflow": "ADFLOW",
    "adions": "ADIONS",
    "adqs": "ADQS",
    "adscint": "ADSCINT",
}


def read_form(engine: Engine, form: str) -> pd.DataFrame:
    """A form's stored rows (template columns, stored types; None for an empty cell),
    sorted by key."""
    spec = FORMS[form]
    t = TABLES[form]
    with engine.connect() as conn:
        rows = conn.execute(
            select(*(t.c[c] for c in spec.columns)).order_by(*(t.c[k] for k in spec.key))
        ).all()
    frame = pd.DataFrame([tuple(r) for r in rows], columns=list(spec.columns), dtype=object)
    return frame


def _check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise StoreError(f"--format {fmt!r} is not one of: {', '.join(FORMATS)}")


def _write_csv_text(frame: pd.DataFrame, path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(frame.columns)
        for rec in frame.itertuples(index=False, name=None):
            w.writerow([format_value(v) for v in rec])


def _typed(frame: pd.DataFrame, form: str) -> pd.DataFrame:
    out = pd.DataFrame(index=frame.index)
    for f in FORMS[form].fields:
        col = frame[f.name]
        if f.kind == "int":
            out[f.name] = pd.array(col.tolist(), dtype="Int64")
        elif f.kind == "float":
            out[f.name] = pd.array(col.tolist(), dtype="Float64")
        elif f.kind == "bool":
            out[f.name] = pd.array(col.tolist(), dtype="boolean")
        else:
            out[f.name] = col.astype(object)
    return out


def _xpt_frame(frame: pd.DataFrame, names: dict[str, str]) -> pd.DataFrame:
    out = pd.DataFrame(index=frame.index)
    for c in frame.columns:
        col = frame[c]
        values = col.tolist()
        if all(v is None or isinstance(v, bool | np.bool_) for v in values) and any(
            isinstance(v, bool | np.bool_) for v in values
        ):
            out[names[c]] = [np.nan if v is None else float(v) for v in values]
        elif all(v is None or isinstance(v, int | float | np.number) for v in values) and any(
            v is not None for v in values
        ):
            out[names[c]] = [np.nan if v is None or v is pd.NA else float(v) for v in values]
        else:
            out[names[c]] = [
                ""
                if v is None or v is pd.NA or (isinstance(v, float) and v != v)
                else format_value(v)
                for v in values
            ]
    return out


def _write(
    frame: pd.DataFrame,
    path_stem: Path,
    fmt: str,
    name: str,
    xpt_names: dict[str, str] | None,
    typed: Callable[[], pd.DataFrame],
) -> Path:
    path = path_stem.with_suffix(f".{fmt}")
    if fmt == "csv":
        _write_csv_text(frame, path)
    elif fmt == "parquet":
        typed().to_parquet(path, index=False)
    else:
        import pyreadstat

        names = xpt_names or {c: c.upper()[:8] for c in frame.columns}
        pyreadstat.write_xport(
            _xpt_frame(frame, names),
            str(path),
            file_format_version=5,
            table_name=XPT_MEMBERS[name],
            column_labels=[str(c) for c in frame.columns],
        )
    return path


def _mapping(rows: list[tuple[str, str, str, str]], out: Path) -> None:
    with (out / "xpt_names.csv").open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["dataset", "member", "column", "xpt_name"])
        w.writerows(rows)


def export_raw(
    engine: Engine, out: str | Path, fmt: Format = "csv", *, audit: AuditReport | None = None
) -> list[Path]:
    """Write every form's rows to ``out/FORM.{fmt}``; returns the paths (forms' order).

    ``audit``: the store's audit check when already made (else it is made here)."""
    _check_format(fmt)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_status(audit or check_store(engine), out)
    paths, mapping = [], []
    for form, spec in FORMS.items():
        frame = read_form(engine, form)
        names = {f.name: f.xpt_name for f in spec.fields}
        mapping += [(form, XPT_MEMBERS[form], c, n) for c, n in names.items()]
        paths.append(
            _write(
                frame,
                out / form,
                fmt,
                form,
                names,
                lambda frame=frame, form=form: _typed(frame, form),
            )
        )
    if fmt == "xpt":
        _mapping(mapping, out)
    return paths


def _with_days(frame: pd.DataFrame, visits: pd.DataFrame) -> pd.DataFrame:
    days = visits[["subject", "visit", "study_day"]]
    out = frame.merge(days, on=["subject", "visit"], how="left")
    out["study_day"] = out["study_day"].astype(int)
    return out


def _numeric(frame: pd.DataFrame, cols: list[str]) -> pd.DataFrame:
    frame = frame.copy()
    for c in cols:
        frame[c] = pd.to_numeric(frame[c].astype(object).where(frame[c].notna(), np.nan))
    return frame


def _bds(values: pd.DataFrame, labels: dict[str, str], protocol: Protocol) -> pd.DataFrame:
    bds = derive_bds(values, "paramcd", labels, protocol, unmapped="keep", source="store")
    return bds[[c for c in (*BDS_COLUMNS, *WINDOW_COLUMNS) if c in bds.columns]]


def adam_datasets(engine: Engine) -> dict[str, pd.DataFrame]:
    """The analysis datasets derived from the store (see the module docstring)."""
    with engine.connect() as conn:
        protocol = stored_protocol(conn)
    visits = read_form(engine, "visits")
    out: dict[str, pd.DataFrame] = {}
    sial = read_form(engine, "sialometry")
    if len(sial):
        s = _numeric(_with_days(sial, visits), ["cup_before_g", "cup_after_g", "minutes"])
        flow = derive_flow_rate(s, protocol, source="store")
        values = flow[["subject", "paramcd", "study_day"]].assign(value=flow["flow_ml_min"])
        out["adflow"] = _bds(values, FLOW_PARAM_LABELS, protocol)
    ions = read_form(engine, "saliva_ions")
    if len(ions):
        i = _numeric(_with_days(ions, visits), ["value_mmol_l"]).drop(columns="visit")
        long = derive_saliva_ions(i, protocol, source="store")
        values = long[["subject", "paramcd", "study_day"]].assign(value=long["value_mmol_l"])
        out["adions"] = _bds(values, SALIVA_PARAM_LABELS, protocol)
    parts = []
    labels: dict[str, str] = {}
    for form, scorer, scales, what in (
        ("qlq_hn35", score_qlq_hn35, HN35_SCALES, "EORTC QLQ-H&N35"),
        ("xq", score_xq, XQ_SCALES, "Xerostomia Questionnaire"),
    ):
        items = read_form(engine, form)
        if not len(items):
            continue
        items = _with_days(items, visits)
        item_cols = [c for c in FORMS[form].columns if c not in ("subject", "visit")]
        scores = scorer(_numeric(items, item_cols), id_column="subject", source="store")
        scores["study_day"] = items["study_day"].to_numpy()
        long = scores.melt(
            id_vars=["subject", "study_day"],
            value_vars=list(scales),
            var_name="paramcd",
            value_name="value",
        )
        parts.append(long)
        labels |= {s: f"{what} {s} score (0-100)" for s in scales}
    if parts:
        out["adqs"] = _bds(pd.concat(parts, ignore_index=True), labels, protocol)
    scint = read_form(engine, "scintigraphy")
    if len(scint):
        s = _numeric(scint, ["uptake_score", "excretion_fraction_pct"])
        wide = derive_scintigraphy(s, source="store")
        wide = _with_days(wide, visits)
        long = wide.melt(
            id_vars=["subject", "study_day"],
            value_vars=list(SCINT_PARAM_LABELS),
            var_name="paramcd",
            value_name="value",
        )
        out["adscint"] = _bds(long, SCINT_PARAM_LABELS, protocol)
    return out
