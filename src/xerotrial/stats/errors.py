"""Exceptions of the statistics engine: each says what is wrong and what to change.

Example
-------
>>> raise DataValidationError("data.csv: column 'uws' not found")
Traceback (most recent call last):
...
xerotrial.stats.errors.DataValidationError: data.csv: column 'uws' not found
"""

from __future__ import annotations

__all__ = ["XerotrialError", "DataValidationError", "ConvergenceError", "ConvergenceWarning"]


class XerotrialError(Exception):
    """Base class of the errors xerotrial reports to its users."""


class DataValidationError(XerotrialError, ValueError):
    """The input data or model specification cannot be used as given."""


class ConvergenceError(XerotrialError, ArithmeticError):
    """The optimiser could not find a valid estimate at all."""


class ConvergenceWarning(UserWarning):
    """The fit finished but did not meet the convergence criterion, or an estimate is on its
    boundary (for example a random-effect variance of zero)."""
