"""The pre-flight audit check of every command that reads the store, and its stamp.

Writers need nothing here: every write passes through ``audit.AuditWriter``, which refuses a
store that fails :func:`~.verify.verify`. Readers (``export``, ``report``) call
:func:`check_store` first, say loudly on standard error when it fails (:func:`warning_text`)
and stamp what they write as verified or NOT VERIFIED (:func:`status_text`: ``export``
writes it to ``AUDIT_STATUS.txt``, the report shows it and a banner). The check is the full
verify (about 0.1 s for the demo store's 1,601 entries).

Example
-------
>>> from xerotrial.store.verify import AuditReport
>>> print(status_text(AuditReport(2, ["entry 2 is missing"])))
NOT VERIFIED: the store fails its audit check (1 problem)
chain head: entry 0, hash 0000000000000000, MACs none (unkeyed store)
database lock: not locked
problem: entry 2 is missing
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine

from .verify import AuditReport, verify

__all__ = ["STATUS_FILE", "check_store", "status_text", "warning_text", "write_status"]

#: The stamp ``export`` writes next to its files.
STATUS_FILE = "AUDIT_STATUS.txt"
#: What the stamp says of a randomized study's blinding.
BLINDING_LINES = {
    "blinded": "BLINDED: the arms are pooled; no file here holds a subject's arm",
    "unblinded": "unblinded at database lock: the subjects' arms are shown",
}


def check_store(engine: Engine) -> AuditReport:
    """The store's audit check (full verify, with ``$XEROTRIAL_AUDIT_KEY_FILE``'s key)."""
    return verify(engine)


def status_text(report: AuditReport) -> str:
    """The stamp: verified or NOT VERIFIED, the chain head, the database lock, each problem
    and warning."""
    n = len(report.problems)
    first = (
        f"verified: the store passes its audit check ({report.entries} entries)"
        if report.ok
        else f"NOT VERIFIED: the store fails its audit check ({n} problem{'s' * (n != 1)})"
    )
    lines = [first, f"chain head: {report.head_line()}", f"database lock: {report.lock}"]
    if report.blinding != "open":
        lines.append(f"blinding: {BLINDING_LINES[report.blinding]}")
    lines += [f"problem: {p}" for p in report.problems]
    lines += [f"warning: {w}" for w in report.warnings]
    return "\n".join(lines) + "\n"


def warning_text(report: AuditReport, limit: int = 5) -> str:
    """What a reader prints on standard error when the store fails its check.

    >>> warning_text(AuditReport(1, ["x"])).splitlines()[0]
    'WARNING: the store fails its audit check: 1 problem (output stamped NOT VERIFIED)'
    """
    n = len(report.problems)
    lines = [
        f"WARNING: the store fails its audit check: {n} problem{'s' * (n != 1)} "
        "(output stamped NOT VERIFIED)"
    ]
    lines += [f"  {p}" for p in report.problems[:limit]]
    if n > limit:
        lines.append(f"  ... and {n - limit} more")
    lines.append("  run `xerotrial audit verify` for the full report")
    return "\n".join(lines)


def write_status(report: AuditReport, out: str | Path) -> Path:
    """Write :data:`STATUS_FILE` into the folder ``out``; returns its path."""
    path = Path(out) / STATUS_FILE
    path.write_text(status_text(report), encoding="utf-8", newline="\n")
    return path
