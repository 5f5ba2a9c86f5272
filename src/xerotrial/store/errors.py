"""The store's exceptions: a missing store, a rejected import with every problem.

They belong to xerotrial's one family of exceptions and are defined in :mod:`xerotrial.errors`
(this module re-exports them, so ``from xerotrial.store.errors import ...`` keeps working).

Example
-------
>>> from xerotrial.store.forms import Problem
>>> e = ImportRejectedError("a.csv", [Problem("a.csv", 2, "grade", "9", "must be <= 5")])
>>> print(e)
a.csv: rejected, nothing was imported (1 problem):
  a.csv: row 2, column 'grade', value '9': must be <= 5
"""

from __future__ import annotations

from xerotrial.errors import ImportRejectedError, StoreError

__all__ = ["ImportRejectedError", "StoreError"]
