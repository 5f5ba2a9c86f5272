"""xerotrial: data and statistics system of a salivary-gland cell-therapy trial.

The statistical core, :mod:`xerotrial.stats`, is a domain-free REML engine for repeated
measures mixed models that matches SAS PROC MIXED (covariance structures, Kenward-Roger,
LS means) with no R or SAS needed.
"""

__version__ = "0.1.0"
