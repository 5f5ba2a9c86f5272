"""An estimand's analysis by reference-based imputation: rbmi's four methods end to end.

``run`` takes the grid (``imputation.long_data``) through draws, imputation, the ANCOVA per
visit and pooling, and returns the pooled results named as rbmi names them (``trt_<visit>``,
``lsm_ref_<visit>``, ``lsm_alt_<visit>``):

* ``condmean-jackknife``: conditional mean imputation from the full data's fit, SEs from the
  n leave-one-out fits (Wolbers et al. 2022). Deterministic.
* ``condmean-bootstrap``: conditional mean imputation, percentile (or normal) intervals from
  bootstrap resamples stratified by group.
* ``bootstrap-mi``: von Hippel and Bartlett's bootstrapped ML imputation: B resamples, D
  random imputations of each (rbmi's ``method_bmlmi``).
* ``approx-bayes``: parameters from bootstrap fits, one random imputation of the original
  data per fit, Rubin's rules (rbmi's ``method_approxbayes``).

Example
-------
>>> import numpy as np, pandas as pd
>>> from xerotrial.stats.imputation import long_data
>>> rng = np.random.default_rng(3)
>>> rows = [dict(id=f"s{i}", visit=f"w{t}", arm="ab"[i % 2], base=float(i % 5),
...              y=i % 5 + t * (1 + i % 2) + rng.normal()) for i in range(40) for t in (1, 2)]
>>> frame = pd.DataFrame(rows)
>>> frame.loc[frame.index[-6::2], "y"] = np.nan
>>> data = long_data(frame, outcome="y", subject="id", visit="visit", group="arm",
...                  reference="a", covariates=["base*visit"], analysis_covariates=["base"])
>>> out = run(data, "condmean-jackknife", analysis_covariates=["base"])
>>> [r["parameter"] for r in out.results][:3], out.n_samples
(['trt_w1', 'lsm_ref_w1', 'lsm_alt_w1'], 40)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import ConvergenceError, DataValidationError
from .imputation import (
    CHUNK,
    Draws,
    LongData,
    bootstrap_indices,
    fit_draws,
    full_fit,
    impute,
    model_matrices,
)
from .imputation_analysis import (
    analysis_design,
    ancova,
    pool_bmlmi,
    pool_bootstrap,
    pool_jackknife,
    pool_rubin,
)
from .options import IMPUTATION_METHODS

__all__ = ["METHODS", "DEFAULT_SAMPLES", "EstimandResult", "run"]

#: The methods, as the command line names them (``options.IMPUTATION_METHODS``).
METHODS = IMPUTATION_METHODS
#: Samples when none are asked for: rbmi's defaults (20 for its MI methods), 200 bootstrap
#: resamples for percentile intervals.
DEFAULT_SAMPLES = {"condmean-bootstrap": 200, "bootstrap-mi": 20, "approx-bayes": 20}
#: rbmi's ``threshold``: the share of bootstrap fits that may fail (and are replaced).
FAILURE_SHARE = 0.01


@dataclass
class EstimandResult:
    """Pooled results per parameter, in rbmi's order (per visit: trt, lsm_ref, lsm_alt)."""

    method: str
    n_samples: int
    results: list[dict]
    n_failed: int = 0
    seed: int | None = None
    draws: int | None = None
    pool: str = ""

    def as_dict(self) -> dict:
        out = {"method": self.method, "n_samples": self.n_samples, "results": self.results}
        out.update(pool=self.pool, n_failed=self.n_failed, seed=self.seed)
        if self.draws is not None:
            out["draws"] = self.draws
        return out


def _bootstrap_draws(data, mm, size, rng, covariance, start) -> Draws:
    """``size`` successful bootstrap fits; failed ones are replaced (up to rbmi's share)."""
    limit = int(np.ceil(FAILURE_SHARE * size))
    betas, sigmas, idxs, failed = [], [], [], 0
    need = size
    while need > 0:
        idx = bootstrap_indices(data, need, rng)
        b, s, ok = fit_draws(data, mm, idx, covariance, start=start)
        failed += int((~ok).sum())
        if failed > limit:
            raise ConvergenceError(
                f"the imputation model failed on {failed} bootstrap samples, more than "
                f"{FAILURE_SHARE:.0%} of {size}; try a simpler covariance structure"
            )
        betas.append(b[ok])
        sigmas.append(s[ok])
        idxs.append(idx[ok])
        need -= int(ok.sum())
    return Draws(np.concatenate(betas), np.concatenate(sigmas), np.concatenate(idxs), failed)


def _rows(data: LongData, pooled: dict[str, list[dict]]) -> list[dict]:
    out = []
    for t, visit in enumerate(data.visits):
        for name in ("trt", "lsm_ref", "lsm_alt"):
            r = pooled[name][t]
            out.append(
                {
                    "parameter": f"{name}_{visit}",
                    "visit": visit,
                    **{k: float(r[k]) for k in ("est", "se", "lci", "uci", "pval")},
                }
            )
    return out


NAMES = ("trt", "lsm_ref", "lsm_alt")


def _analyse(data, adesign, y, index) -> dict[str, np.ndarray]:
    """ANCOVA of imputed sets, in chunks of replicates."""
    parts = [
        ancova(y[lo : lo + CHUNK], adesign, index[lo : lo + CHUNK])
        for lo in range(0, len(y), CHUNK)
    ]
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def run(
    data: LongData,
    method: str,
    *,
    analysis_covariates: list[str] | None = None,
    covariance: str = "un",
    samples: int | None = None,
    draws: int = 2,
    seed: int | None = None,
    pool: str = "percentile",
    level: float = 0.95,
) -> EstimandResult:
    """The pooled estimates of ``method`` (one of ``METHODS``) on ``data``."""
    if method not in METHODS:
        raise DataValidationError(f"method {method!r} is not one of {', '.join(METHODS)}")
    if pool not in ("percentile", "normal"):
        raise DataValidationError(f"pool {pool!r} is not 'percentile' or 'normal'")
    n, T = data.y.shape
    mm = model_matrices(data)
    adesign = analysis_design(
        data.grid, data.arm, list(analysis_covariates or []), data.group, data.visit, n, T
    )
    identity = np.arange(n)[None, :]
    if method == "condmean-jackknife" and samples is not None:
        raise DataValidationError("--samples does not apply to condmean-jackknife (n fits)")
    b0, s0, theta0 = full_fit(data, mm, covariance)
    if method == "condmean-jackknife":
        beta, sigma, ok = fit_draws(data, mm, None, covariance, drop=np.arange(n), start=theta0)
        if not ok.all():
            bad = data.subjects[int(np.flatnonzero(~ok)[0])]
            raise ConvergenceError(
                f"the imputation model did not converge after removing subject {bad!r}"
            )
        full = Draws(b0, s0, identity)
        jack_index = np.array([np.delete(np.arange(n), i) for i in range(n)])
        jack = Draws(beta, sigma, jack_index)
        est_full = _analyse(data, adesign, impute(data, mm, full), full.index)
        est_jack = _analyse(data, adesign, impute(data, mm, jack), jack.index)
        pooled = {
            k: [
                pool_jackknife(np.r_[est_full[k][:, t], est_jack[k][:, t]], level) for t in range(T)
            ]
            for k in NAMES
        }
        return EstimandResult(method, n, _rows(data, pooled), pool="jackknife")

    size = samples if samples is not None else DEFAULT_SAMPLES[method]
    minimum = 2 if method != "condmean-bootstrap" else 1
    if size < minimum:
        raise DataValidationError(f"--samples {size}: {method} needs at least {minimum}")
    if seed is None:
        seed = int(np.random.SeedSequence().entropy % (2**31))
    rng = np.random.default_rng(seed)
    if method == "condmean-bootstrap":
        boot = _bootstrap_draws(data, mm, size, rng, covariance, theta0)
        d = Draws(np.r_[b0, boot.beta], np.r_[s0, boot.sigma], np.r_[identity, boot.index])
        est = _analyse(data, adesign, impute(data, mm, d), d.index)
        pooled = {k: [pool_bootstrap(est[k][:, t], level, pool) for t in range(T)] for k in NAMES}
        return EstimandResult(
            method, size, _rows(data, pooled), boot.n_failed, seed, pool=f"bootstrap ({pool})"
        )
    boot = _bootstrap_draws(data, mm, size, rng, covariance, theta0)
    if method == "bootstrap-mi":
        if draws < 2:
            raise DataValidationError(f"--draws {draws}: bootstrap-mi needs at least 2")
        y = impute(data, mm, boot, rng, draws)  # (B, D, n, T)
        B = len(boot.beta)
        flat = y.reshape(B * draws, n, T)
        index = np.repeat(boot.index, draws, axis=0)
        est = _analyse(data, adesign, flat, index)
        pooled = {k: [pool_bmlmi(est[k][:, t], draws, level) for t in range(T)] for k in NAMES}
        return EstimandResult(
            method, size, _rows(data, pooled), boot.n_failed, seed, draws, pool="bmlmi"
        )
    # approx-bayes: the bootstrap fits' parameters, each imputing the original data once
    d = Draws(boot.beta, boot.sigma, np.repeat(identity, len(boot.beta), axis=0))
    y = impute(data, mm, d, rng, 1)[:, 0]
    est = _analyse(data, adesign, y, d.index)
    pooled = {
        k: [
            pool_rubin(est[k][:, t], est[f"{k}_se"][:, t], float(est["df"][0]), level)
            for t in range(T)
        ]
        for k in NAMES
    }
    return EstimandResult(method, size, _rows(data, pooled), boot.n_failed, seed, pool="rubin")
