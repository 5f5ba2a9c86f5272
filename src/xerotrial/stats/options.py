"""Names of the engine's choices, importable without numpy or scipy (for a fast CLI).

Example
-------
>>> "kenward-roger" in DF_METHODS and "un" in COVARIANCES
True
"""

__all__ = [
    "COVARIANCES",
    "SPATIAL_COVARIANCES",
    "VISIT_COVARIANCES",
    "DF_METHODS",
    "ICE_STRATEGIES",
    "IMPUTATION_METHODS",
    "KR_INFORMATION",
    "MAX_COVARIANCE_PARAMETERS",
    "VCOV_METHODS",
    "LSMEANS_WEIGHTS",
]

COVARIANCES = (
    "random-intercept",
    "un",
    "cs",
    "csh",
    "ar1",
    "arh1",
    "toep",
    "toeph",
    "adh",
    "diag",
    "sp-exp",
    "sp-gau",
    "sp-pow",
)
#: The spatial structures (SAS SP(...)): they place observations by coordinates, not a time
#: factor, so the commands that build models over visits (power, estimand, a study's plan)
#: offer the others, ``VISIT_COVARIANCES``.
SPATIAL_COVARIANCES = ("sp-exp", "sp-gau", "sp-pow")
VISIT_COVARIANCES = tuple(c for c in COVARIANCES if c not in SPATIAL_COVARIANCES)

DF_METHODS = (
    "containment",
    "between-within",
    "residual",
    "satterthwaite",
    "kenward-roger",
    "kenward-roger-linear",
)

#: The covariance of the fixed effects that tests use: the model-based (X'V^-1X)^-1, or a
#: sandwich estimator (``robust.py``: SAS EMPIRICAL = mmrm's CR0, CR3, CR2).
VCOV_METHODS = ("model", "empirical", "empirical-jackknife", "empirical-bias-reduced")

#: The margins of LS means over the other factors: ``equal`` (SAS's default, emmeans's) or
#: ``proportional`` to the data (SAS OM, emmeans ``weights = "proportional"``).
LSMEANS_WEIGHTS = ("equal", "proportional")

#: The information matrix behind Kenward-Roger's covariance of the covariance parameters:
#: ``observed`` (SAS PROC MIXED DDFM=KR) or ``expected`` (R's pbkrtest, and so lmerTest and
#: emmeans with Kenward-Roger).
KR_INFORMATION = ("observed", "expected")

#: The most covariance parameters a fit takes (``un`` over t time levels has t(t+1)/2, one set
#: per --group level; a check in ``covariance.check_parameters``): more are refused at once,
#: with the count, instead of a fit that runs for minutes or hours. 210 is ``un`` over 20
#: visits, the largest ``un`` whose fits all answered within about a minute when timed on
#: simulated data (100 subjects, 120 at 40 visits, y ~ visit, one shared core; seconds per
#: Newton-Raphson iteration, the whole fit in brackets; a fit may take up to 200 iterations):
#:
#: ======  =====  ==============  =====================  =========================
#: visits  K      complete data   monotone dropout 5 %   20 % missing at random
#: ======  =====  ==============  =====================  =========================
#: 10      55     (0.06 s)        0.027 s (0.19 s)       0.079 s (0.71 s)
#: 20      210    (0.12 s)        0.19 s (2.9 s)         2.9 s (62 s)
#: 30      465    (0.46 s)        2.4 s (over 300 s)     30 s
#: 40      820    (1.3 s)         18 s                   not timed
#: ======  =====  ==============  =====================  =========================
#:
#: Complete data have one pattern and converge in 2 iterations; missing values multiply the
#: patterns, and the time per iteration grows about as the cube of the parameter count.
MAX_COVARIANCE_PARAMETERS = 210

#: Reference-based imputation (xerotrial.stats.imputation): the strategies for the visits from
#: an intercurrent event on, rbmi's names.
ICE_STRATEGIES = ("MAR", "JR", "CR", "CIR", "LMCF")
#: Its methods (xerotrial.stats.estimand), as the command line and a study definition name them.
IMPUTATION_METHODS = ("condmean-jackknife", "condmean-bootstrap", "bootstrap-mi", "approx-bayes")
