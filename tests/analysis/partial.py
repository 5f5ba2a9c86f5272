"""A trial store part-way through the trial: the demo's case report forms cut after a study day
and imported, validated and audited, into a fresh store (the store's own importer)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from sqlalchemy.engine import Engine

from xerotrial.store.engine import open_store
from xerotrial.store.forms import FORMS
from xerotrial.store.importer import import_frame, read_table
from xerotrial.store.migrate import init_store

__all__ = ["cut_store"]


def cut_store(crf: Path, db: Path, last_day: int, protocol: Path | None = None) -> Engine:
    """A new store ``db`` with the rows of ``crf/*.csv`` up to study day ``last_day``: visits
    (and the forms of those visits) on or before it, AEs with onset and HLA samples and
    injections on or before it; sites, people, screening, donors and batches as they are."""
    init_store(db, protocol)
    engine = open_store(db)
    visits = read_table(crf / "visits.csv")
    visits = visits[visits["study_day"].astype(int) <= last_day]
    seen = set(zip(visits["subject"], visits["visit"], strict=True))
    for form in FORMS:
        path = crf / f"{form}.csv"
        if not path.is_file():
            continue
        frame = read_table(path)
        if form == "visits":
            frame = visits
        elif "visit" in frame.columns:
            keep = [(s, v) in seen for s, v in zip(frame["subject"], frame["visit"], strict=True)]
            frame = frame[pd.Series(keep, index=frame.index, dtype=bool)]
        elif "study_day" in frame.columns:
            frame = frame[frame["study_day"].astype(int) <= last_day]
        elif "onset_day" in frame.columns:
            frame = frame[frame["onset_day"].astype(int) <= last_day]
        if len(frame):
            import_frame(engine, form, frame.reset_index(drop=True), source=path.name, user="test")
    return engine
