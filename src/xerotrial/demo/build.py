"""Build the **synthetic** demo trial store: the bundled CRF files -> a fresh SQLite store.

The demo's case report forms are fixed files shipped with xerotrial
(``xerotrial/data/demo_crf/*.csv``, as a real trial's export is a fixed file); the seeded
calibration that made them is a maintainer's tool (``tools/demo_calibration``), off this path.
They are copied to ``out/crf/`` (the raw data a data manager would receive) and imported form
by form, in import order, through the store's validating, audited importer into
``out/trial.db``. An existing ``trial.db`` there is replaced (the demo always starts clean).

Example
-------
>>> [p.name for p in demo_crf_files()][:3]
['sites.csv', 'participants.csv', 'screening.csv']
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from importlib import resources
from pathlib import Path

from sqlalchemy.engine import Engine

from ..store.engine import open_store
from ..store.forms import FORMS
from ..store.importer import import_file
from ..store.migrate import init_store

__all__ = ["DEMO_USER", "build_demo_store", "demo_crf_files"]

#: The audit trail's user of the demo import.
DEMO_USER = "xerotrial-demo"


def demo_crf_files() -> list[Path]:
    """The bundled demo CRF files, one per store form, in import order."""
    folder = Path(str(resources.files("xerotrial") / "data" / "demo_crf"))
    paths = [folder / f"{form}.csv" for form in FORMS]
    missing = [p.name for p in paths if not p.is_file()]
    if missing:
        raise FileNotFoundError(
            f"{folder}: the demo CRF files {missing} are missing from "
            "this installation of xerotrial"
        )
    return paths


def build_demo_store(out: str | Path, step: Callable[[str], None] | None = None) -> Engine:
    """Copy the demo CRFs to ``out/crf/`` and import them into a new ``out/trial.db``;
    returns the store's engine. ``step`` is called with a description before each step."""
    out = Path(out)
    (out / "crf").mkdir(parents=True, exist_ok=True)
    db = out / "trial.db"
    for stale in (db, out / "trial.db-journal", out / "trial.db-wal", out / "trial.db-shm"):
        stale.unlink(missing_ok=True)
    if step:
        step("copying the case report forms")
    paths = [Path(shutil.copyfile(p, out / "crf" / p.name)) for p in demo_crf_files()]
    init_store(db)
    engine = open_store(db)
    for path in paths:
        if step:
            step(f"importing {path.name}")
        import_file(engine, path.stem, path, user=DEMO_USER)
    return engine
