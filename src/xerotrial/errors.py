"""xerotrial's exceptions, one family with structured fields (file, row, column, value, rule).

Every error a user can cause is a :class:`XerotrialError`; ``str(error)`` is the message for
people, the fields (``file``, ``row``, ``line``, ``column``, ``value``, ``rule``) and
``problems`` (a list of :class:`Problem`) say the same for programs, so that the store and the
command line read fields instead of parsing messages. The root and the data errors are the
engine's (:mod:`xerotrial.stats.errors`, which must stand alone); the store's are here.
``xerotrial.stats.errors`` and ``xerotrial.store.errors`` keep exporting the same classes.

=======================  =====================================================================
``XerotrialError``        the root: anything a user can fix
``DataValidationError``   the data or the model specification (also a ``ValueError``)
``ImportRejectedError``   a rejected file: ``problems`` lists every one, ``summary`` heads them
``ConvergenceError``      no valid estimate at all (also an ``ArithmeticError``)
``StoreError``            the store cannot be used as asked (missing, unknown key, ...)
``ConvergenceWarning``    a warning: not converged, on the boundary, or not identifiable
``DataWarning``           a warning: rows left out of a fit (empty subject, time or response)
=======================  =====================================================================

Example
-------
>>> e = ImportRejectedError("a.csv", [Problem("a.csv", 2, "grade", "9", "must be <= 5")])
>>> print(e)
a.csv: rejected, nothing was imported (1 problem):
  a.csv: row 2, column 'grade', value '9': must be <= 5
>>> e.summary
'a.csv: rejected, nothing was imported (1 problem):'
>>> [(p.row, p.column, p.value) for p in e.problems]
[(2, 'grade', '9')]
>>> isinstance(e, DataValidationError) and isinstance(StoreError("x"), XerotrialError)
True
"""

from __future__ import annotations

from collections.abc import Sequence

from .stats.errors import (
    ConvergenceError,
    ConvergenceWarning,
    DataValidationError,
    DataWarning,
    Problem,
    XerotrialError,
)

__all__ = [
    "ConvergenceError",
    "ConvergenceWarning",
    "DataValidationError",
    "DataWarning",
    "ImportRejectedError",
    "Problem",
    "StoreError",
    "XerotrialError",
]


class StoreError(XerotrialError):
    """The store cannot be used as asked (it does not exist, a key is unknown, ...)."""


class ImportRejectedError(DataValidationError):
    """A file was rejected: ``problems`` lists every problem found (file, row, column,
    value, rule); the store is unchanged. ``file`` is the source, ``summary`` the first line
    of the message; ``done`` says what did not happen (``imported``, ``changed``)."""

    def __init__(self, source: str, problems: Sequence[Problem], *, done: str = "imported") -> None:
        problems = list(problems)
        n = len(problems)
        summary = f"{source}: rejected, nothing was {done} ({n} problem{'s' * (n != 1)}):"
        super().__init__(
            "\n".join([summary, *(f"  {p}" for p in problems)]), file=source, problems=problems
        )
        self.source = source
        self.summary = summary
