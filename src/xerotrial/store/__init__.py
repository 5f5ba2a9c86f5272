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
>>> from xerotrial.store import import_frame, init_store, open_store
>>> from xerotrial.store.verify import verify
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

from importlib import import_module
from typing import Any

#: Each public name and the module that defines it: imported on first use (PEP 562), so that
#: ``import xerotrial.store.engine`` (the web server, the command line) does not load pandas,
#: SciPy and every form's rules. (``verify`` is the submodule's name: the check is
#: ``xerotrial.store.verify.verify``.)
_LAZY = {
    "AuditReport": "audit",
    "show": "audit",
    "EditResult": "edit",
    "delete_row": "edit",
    "edit_row": "edit",
    "DEFAULT_DB": "engine",
    "make_engine": "engine",
    "open_store": "engine",
    "resolve_url": "engine",
    "write_transaction": "engine",
    "ImportRejectedError": "errors",
    "StoreError": "errors",
    "adam_datasets": "export",
    "export_raw": "export",
    "read_form": "export",
    "FORMS": "forms",
    "Field": "forms",
    "FormSpec": "forms",
    "Problem": "forms",
    "ImportResult": "importer",
    "import_file": "importer",
    "import_frame": "importer",
    "donor_typing": "inputs",
    "matching_frames": "inputs",
    "patient_donor": "inputs",
    "init_store": "migrate",
    "import_redcap": "redcap",
}


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
    "write_transaction",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value
