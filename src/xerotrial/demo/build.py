"""Build the **synthetic** demo trial store: CRF files -> a fresh SQLite trial store.

The case report forms of :mod:`.generate` are written as CSV files to ``out/crf/`` (the raw
data a data manager would receive) and imported form by form, in import order, through the
store's validating, audited importer into ``out/trial.db``. An existing ``trial.db`` there
is replaced (the demo always starts clean).

Example
-------
>>> import tempfile
>>> from xerotrial.store.export import read_form
>>> with tempfile.TemporaryDirectory() as tmp:  # doctest: +SKIP
...     engine = build_demo_store(tmp)
...     len(read_form(engine, "participants"))
20
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sqlalchemy.engine import Engine

from ..store.engine import open_store
from ..store.importer import import_file
from ..store.migrate import init_store
from .generate import write_demo_forms

__all__ = ["build_demo_store"]


def build_demo_store(out: str | Path, seed: int = 2022,
                     step: Callable[[str], None] | None = None) -> Engine:
    """Write the demo CRFs to ``out/crf/`` and import them into a new ``out/trial.db``;
    returns the store's engine. ``step`` is called with a description before each step."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    db = out / "trial.db"
    for stale in (db, out / "trial.db-journal", out / "trial.db-wal", out / "trial.db-shm"):
        stale.unlink(missing_ok=True)
    if step:
        step("calibrating the synthetic data and writing the case report forms")
    paths = write_demo_forms(out / "crf", seed)
    init_store(db)
    engine = open_store(db)
    for path in paths:
        if step:
            step(f"importing {path.name}")
        import_file(engine, path.stem, path, user="xerotrial-demo")
    return engine
