"""Names of the engine's choices, importable without numpy or scipy (for a fast CLI).

Example
-------
>>> "kenward-roger" in DF_METHODS and "un" in COVARIANCES
True
"""

__all__ = ["COVARIANCES", "DF_METHODS", "KR_INFORMATION", "MAX_COVARIANCE_PARAMETERS"]

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

#: The most covariance parameters a fit takes (``un`` over t time levels has t(t+1)/2, one set
#: per --group level): more are refused at once, with the count, instead of a fit that runs for
#: minutes or hours. Set from timings of ``un`` fits (TODO numbers).
MAX_COVARIANCE_PARAMETERS = 500
