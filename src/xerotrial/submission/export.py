"""``export sdtm`` and ``export adam``: a folder of datasets with define.xml.

Every dataset is built and checked (:mod:`.conformance`) and define.xml rendered before a file
is written, so a store that breaks a rule writes nothing and the error names each breach. The
folder gets one file per dataset (``dm.xpt``, ``adsl.xpt``, ...), ``define.xml`` and
``define.html`` describing exactly those, ``NOTES.txt`` with what was not mapped, and the audit
check's ``AUDIT_STATUS.txt``.

Example
-------
>>> import tempfile, os
>>> from xerotrial.store.study_store import init_study_store
>>> from xerotrial.store.engine import open_store
>>> from xerotrial.study import SEED_STUDY
>>> d = tempfile.mkdtemp(); db = os.path.join(d, "s.db"); _ = init_study_store(db, SEED_STUDY)
>>> paths = export_submission(open_store(db), "sdtm", os.path.join(d, "sdtm"))
>>> sorted(p.name for p in paths)  # an empty store: the trial design only
['NOTES.txt', 'define.html', 'define.xml', 'ta.xpt', 'te.xpt', 'ts.xpt', 'tv.xpt']
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine

from xerotrial.errors import DataValidationError

from .conformance import problems_of
from .datasets import DATASET_FORMATS, Dataset, write_dataset

__all__ = ["STANDARDS", "build_submission_datasets", "export_submission"]

#: What ``export`` writes for each model.
STANDARDS = ("sdtm", "adam")


def build_submission_datasets(
    engine: Engine, model: str
) -> tuple[list[Dataset], list[str], set[tuple[str, str]]]:
    """The datasets of ``model`` (sdtm or adam), the notes of what was not mapped (empty
    datasets are left out and noted) and the required variables left empty with a note."""
    if model not in STANDARDS:
        raise ValueError(f"model {model!r}: one of {', '.join(STANDARDS)}")
    with engine.connect() as conn:
        if model == "sdtm":
            from .sdtm import sdtm_datasets

            result = sdtm_datasets(conn)
        else:
            from .adam import adam_datasets

            result = adam_datasets(conn)
    kept = [d for d in result.datasets if not d.frame.empty]
    notes = list(result.notes)
    notes += [f"{d.name}: no records; not written" for d in result.datasets if d.frame.empty]
    return kept, notes, result.waived


def export_submission(engine: Engine, model: str, out: str | Path, fmt: str = "xpt") -> list[Path]:
    """Write ``model``'s datasets, define.xml, define.html and NOTES.txt into ``out``;
    returns the paths written (the audit stamp besides)."""
    from xerotrial.store.integrity import check_store, write_status

    from .define import define_html, define_xml

    if fmt not in DATASET_FORMATS:
        raise ValueError(f"format {fmt!r}: one of {', '.join(DATASET_FORMATS)}")
    report = check_store(engine)
    datasets, notes, waived = build_submission_datasets(engine, model)
    found = [
        p
        for p in problems_of(datasets)
        if not any(p.startswith(f"{d} row") and f"column {v}: a required" in p for d, v in waived)
    ]
    if found:
        raise DataValidationError(
            f"export {model}: {len(found)} breach(es) of the implementation guide; nothing "
            "written:\n  " + "\n  ".join(found)
        )
    with engine.connect() as conn:
        from xerotrial.adam.bds import store_study

        study = store_study(conn)
    xml = define_xml(study, model, datasets, fmt)
    html = define_html(study, model, datasets)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = [write_dataset(d, out, fmt) for d in datasets]
    for name, text in (("define.xml", xml), ("define.html", html)):
        (out / name).write_text(text, encoding="utf-8")
        paths.append(out / name)
    (out / "NOTES.txt").write_text(
        "".join(f"{n}\n" for n in notes) or "every form with data is mapped\n", encoding="utf-8"
    )
    paths.append(out / "NOTES.txt")
    write_status(report, out)
    return paths
