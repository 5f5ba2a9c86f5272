"""The trial store: SQLite by default, PostgreSQL by URL; validated import, audit, exports.

Modules, one job each: ``forms`` (the case report forms and their rules), ``schema`` (the
tables), ``engine`` (URL -> engine, write locks), ``migrate`` (Alembic, ``init``),
``importer`` (all-or-nothing import), ``edit`` (corrections), ``audit`` (the trail's writer,
which refuses a store failing its check), ``chain`` (the trail's format), ``verify`` (the
check), ``audit_key`` (the key kept outside the store, MACs), ``guards`` (append-only triggers,
PostgreSQL roles), ``checkpoint`` (chain heads kept outside the store), ``integrity`` (the
readers' pre-flight check and stamp), ``export`` (CSV / Parquet / XPT, raw and analysis
datasets), ``redcap`` (REDCap exports), ``inputs`` (the trial functions' inputs: matching,
donor HLA typing, patient-donor).

Example
-------
>>> import tempfile, os, pandas as pd
>>> db = os.path.join(tempfile.mkdtemp(), "trial.db")
>>> _ = init_store(db)
>>> engine = open_store(db)
>>> import_frame(engine, "sites", pd.DataFrame({"site": ["S1"]}), user="ana").inserted
1
>>> people = pd.DataFrame({"subject": ["P01"], "site": ["S1"], "group": ["patient"],
...                        "sex": ["F"], "age_years": ["61"]})
>>> import_frame(engine, "participants", people, user="ana").inserted
1
>>> verify(engine).ok
True
"""

from __future__ import annotations

from .audit import AuditReport, show, verify
from .edit import EditResult, delete_row, edit_row
from .engine import DEFAULT_DB, make_engine, open_store, resolve_url, write_transaction
from .errors import ImportRejectedError, StoreError
from .export import adam_datasets, export_adam, export_raw, read_form
from .forms import FORMS, Field, FormSpec, Problem
from .importer import ImportResult, import_file, import_frame
from .inputs import donor_typing, matching_frames, patient_donor
from .migrate import init_store
from .redcap import import_redcap

__all__ = [
    "DEFAULT_DB",
    "FORMS",
    "AuditReport",
    "EditResult",
    "Field",
    "FormSpec",
    "ImportRejectedError",
    "ImportResult",
    "Problem",
    "StoreError",
    "adam_datasets",
    "delete_row",
    "donor_typing",
    "edit_row",
    "export_adam",
    "export_raw",
    "import_file",
    "import_frame",
    "import_redcap",
    "init_store",
    "make_engine",
    "matching_frames",
    "open_store",
    "patient_donor",
    "read_form",
    "resolve_url",
    "show",
    "verify",
    "write_transaction",
]
