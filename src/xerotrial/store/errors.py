"""The store's exceptions: a missing store, a rejected import with every problem.

Example
-------
>>> from xerotrial.store.forms import Problem
>>> e = ImportRejectedError("a.csv", [Problem("a.csv", 2, "grade", "9", "must be <= 5")])
>>> print(e)
a.csv: rejected, nothing was imported (1 problem):
  a.csv: row 2, column 'grade', value '9': must be <= 5
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from xerotrial.stats.errors import DataValidationError, XerotrialError

if TYPE_CHECKING:
    from .forms import Problem

__all__ = ["ImportRejectedError", "StoreError"]


class StoreError(XerotrialError):
    """The store cannot be used as asked (it does not exist, a key is unknown, ...)."""


class ImportRejectedError(DataValidationError):
    """A file was rejected: ``problems`` lists every problem found (file, row, column,
    value, rule); the store is unchanged."""

    def __init__(self, source: str, problems: Sequence[Problem]) -> None:
        self.source = source
        self.problems = list(problems)
        n = len(self.problems)
        lines = [f"{source}: rejected, nothing was imported ({n} problem{'s' * (n != 1)}):"]
        lines += [f"  {p}" for p in self.problems]
        super().__init__("\n".join(lines))
