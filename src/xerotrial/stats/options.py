"""Names of the engine's choices, importable without numpy or scipy (for a fast CLI).

Example
-------
>>> "kenward-roger" in DF_METHODS and "un" in COVARIANCES
True
"""

__all__ = ["COVARIANCES", "DF_METHODS"]

COVARIANCES = ("random-intercept", "un", "cs", "csh", "ar1", "arh1", "toep", "toeph", "adh", "diag")

DF_METHODS = (
    "containment",
    "between-within",
    "residual",
    "satterthwaite",
    "kenward-roger",
    "kenward-roger-linear",
)
