"""Names of the engine's choices, importable without numpy or scipy (for a fast CLI).

Example
-------
>>> "kenward-roger" in DF_METHODS and "un" in COVARIANCES
True
"""

__all__ = ["COVARIANCES", "DF_METHODS", "KR_INFORMATION"]

COVARIANCES = ("random-intercept", "un", "cs", "csh", "ar1", "arh1", "toep", "toeph", "adh", "diag")

DF_METHODS = (
    "containment",
    "between-within",
    "residual",
    "satterthwaite",
    "kenward-roger",
    "kenward-roger-linear",
)

#: The information matrix behind Kenward-Roger's covariance of the covariance parameters:
#: ``observed`` (SAS PROC MIXED DDFM=KR) or ``expected`` (R's pbkrtest, and so lmerTest and
#: emmeans with Kenward-Roger).
KR_INFORMATION = ("observed", "expected")
