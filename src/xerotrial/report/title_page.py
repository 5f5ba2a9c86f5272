"""The title page of a report: what the study is, which data, which plan, which software.

One list of (label, value) rows for every report of a store (the seed trial's, a study
store's): the study's title, registry numbers and sponsor; the protocol's and the statistical
analysis plan's versions (``[study] protocol_version`` / ``sap_version``, and the version of
the study definition that holds the plan); the data cut-off; the database's lock and blinding
state; the analysis sets (ADSL's population flags, :func:`xerotrial.submission.adam.analysis_sets`);
the software and its environment.

Example
-------
>>> [label for label, _ in software_rows()]
['Software', 'Environment']
"""

from __future__ import annotations

import platform
import sys
from importlib import metadata

from sqlalchemy import Engine

__all__ = ["software_rows", "title_page"]

#: The libraries whose versions the title page names (the engine's numerics and data frames).
LIBRARIES = ("numpy", "scipy", "pandas")


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def software_rows() -> list[tuple[str, str]]:
    """xerotrial's version, Python's and the numerical libraries', and the platform."""
    from xerotrial import __version__

    libs = ", ".join(f"{n} {_version(n)}" for n in LIBRARIES)
    py = ".".join(str(x) for x in sys.version_info[:3])
    return [
        ("Software", f"xerotrial {__version__} (Python {py}; {libs})"),
        ("Environment", f"{platform.system()} {platform.machine()}"),
    ]


def _sets(counts: dict[str, int]) -> str:
    names = (("ITTFL", "intent-to-treat"), ("SAFFL", "safety"), ("FASFL", "full analysis"),
             ("PPROTFL", "per protocol"))  # fmt: skip
    listed = "; ".join(f"{label} {counts[flag]}" for flag, label in names)
    return f"{counts['subjects']} subjects: {listed} (ADSL's population flags)"


def title_page(engine: Engine, *, data_cutoff: str) -> list[tuple[str, str]]:
    """The title page's rows (see the module docstring); the audit check and the time of
    generation are the report's own lines under them."""
    from xerotrial.adam.bds import store_study
    from xerotrial.store.layout import STUDY_KIND, store_kind
    from xerotrial.store.lock import read_lock
    from xerotrial.submission.adam import analysis_sets

    with engine.connect() as conn:
        study = store_study(conn)
        lock = read_lock(conn).describe()
        blinding = ""
        if store_kind(conn) == STUDY_KIND:
            from xerotrial.store.randomization_schema import blinding_state

            state = blinding_state(conn)
            blinding = {"blinded": "; blinded (the arms are concealed)",
                        "unblinded": "; unblinded", "open": ""}[state]  # fmt: skip
        sets = analysis_sets(conn)
    s = study.study
    ids = " · ".join(
        x
        for x in (
            s.nct,
            f"EudraCT {s.eudract}" if s.eudract else "",
            s.id if s.id not in (s.nct,) else "",
        )
        if x  # fmt: skip
    )
    sap = f"version {s.sap_version}; " if s.sap_version else ""
    rows = [
        ("Study", s.title),
        ("Identifiers", ids),
        ("Sponsor", s.sponsor or "not given"),
        ("Protocol", f"version {s.protocol_version}" if s.protocol_version else
         "version not given in the study definition ([study] protocol_version)"),
        ("Statistical analysis plan", f"{sap}the analysis plan of study definition version "
         f"{study.version}"),
        ("Data cut-off", data_cutoff or "no date recorded in the store"),
        ("Database", f"{lock}{blinding}"),
        ("Analysis sets", _sets(sets)),
        *software_rows(),
    ]  # fmt: skip
    return rows
