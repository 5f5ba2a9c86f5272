"""Assurance: the probability that a trial succeeds, averaging its power over what an earlier
trial says about the effect (O'Hagan, Stevens and Campbell 2005).

The prior of the tested contrast's true value is normal, from the earlier trial's estimate and
SE, optionally discounted as a power prior (``discount`` a0 in (0, 1]: the earlier trial counts
as a0 of its information, so the prior SD is SE / sqrt(a0)). Success is a significant test
whose estimate has the prior mean's sign (in favour of the treatment the earlier trial
favoured). The prior is cut into ``nodes`` strata of equal probability, each represented by
its median; at each, the design's effect profile is scaled so that the contrast takes that
value and the trial is simulated (``simulate.run_power``) with ``sims / nodes`` trials, so
the assurance costs one power run and its Monte-Carlo SE is that of plain sampling from the
prior (the midpoint rule on the probability scale is exact to O(1 / nodes^2) for the smooth
success curve).

Example
-------
>>> from xerotrial.stats.simulate import TrialDesign
>>> d = TrialDesign(visits=2, effect=(0.0, 0.5), sd=(1.0,), correlation=0.5)
>>> out = assurance(d, [20], prior_mean=0.5, prior_se=0.25, sims=200, nodes=10, workers=1)
>>> 0.2 < out.results[0].assurance < 0.6, out.results[0].n_sims
(True, 200)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace

import numpy as np
from scipy import stats as st

from .errors import DataValidationError
from .simulate import TrialDesign, run_power

__all__ = ["AssurancePoint", "AssuranceResult", "assurance", "prior_nodes"]


@dataclass
class AssurancePoint:
    """Assurance at one n per arm, with the power at the prior mean beside it."""

    n_per_arm: int
    assurance: float
    mc_se: float
    power_at_prior_mean: float
    n_sims: int
    n_failed: int


@dataclass
class AssuranceResult:
    prior_mean: float
    prior_sd: float
    discount: float
    nodes: list[float]
    results: list[AssurancePoint]
    probability_effect_favourable: float

    def to_dict(self) -> dict:
        return {
            "prior": {
                "mean": self.prior_mean,
                "sd": self.prior_sd,
                "discount": self.discount,
                "probability_effect_favourable": self.probability_effect_favourable,
                "nodes": self.nodes,
            },
            "results": [asdict(r) for r in self.results],
        }


def prior_nodes(mean: float, sd: float, nodes: int) -> np.ndarray:
    """The medians of ``nodes`` equal-probability strata of N(mean, sd^2).

    >>> prior_nodes(0.0, 1.0, 2).round(4).tolist()
    [-0.6745, 0.6745]
    """
    return mean + sd * st.norm.ppf((np.arange(nodes) + 0.5) / nodes)


def assurance(
    design: TrialDesign,
    n_per_arm: Sequence[int],
    prior_mean: float,
    prior_se: float,
    discount: float = 1.0,
    sims: int = 2000,
    nodes: int = 20,
    seed: int = 1,
    chunk_size: int = 500,
    workers: int | None = None,
    dask: str | None = None,
) -> AssuranceResult:
    """Assurance of ``design`` at each n per arm under the normal prior of the contrast."""
    if not (math.isfinite(prior_mean) and math.isfinite(prior_se) and prior_se > 0):
        raise DataValidationError("the prior needs a finite estimate and a positive SE")
    if not 0 < discount <= 1:
        raise DataValidationError(f"discount {discount}: a power prior's a0 lies in (0, 1]")
    if nodes < 2:
        raise DataValidationError("assurance needs at least 2 prior nodes")
    shape = design.true_difference()
    if shape == 0:
        raise DataValidationError(
            "the design's effect profile gives the tested contrast the value 0; give the "
            "effect's shape over visits (it is scaled to each prior value)"
        )
    sd = prior_se / math.sqrt(discount)
    values = prior_nodes(prior_mean, sd, nodes)
    sign = 1.0 if prior_mean >= 0 else -1.0
    per_node = max(1, math.ceil(sims / nodes))
    profile = design._per_visit(design.effect) / shape
    success = {int(n): [] for n in n_per_arm}
    failed = {int(n): 0 for n in n_per_arm}
    for k, delta in enumerate(values):
        d_k = replace(design, effect=tuple(float(v) for v in profile * delta))
        res = run_power(d_k, n_per_arm, per_node, seed * 1000 + k, chunk_size, workers, dask)
        for n in success:
            chunks = [c for c in res.chunks if c.n == n]
            p = np.concatenate([c.p for c in chunks])
            est = np.concatenate([c.estimate for c in chunks])
            conv = np.concatenate([c.converged for c in chunks])
            success[n].append(float((conv & (p < design.alpha) & (sign * est > 0)).mean()))
            failed[n] += int((~conv).sum())
    at_mean = run_power(
        replace(design, effect=tuple(float(v) for v in profile * prior_mean)),
        n_per_arm,
        per_node * nodes,
        seed * 1000 + nodes,
        chunk_size,
        workers,
        dask,
    )
    points = []
    for n, rates in success.items():
        s = np.array(rates)
        a = float(s.mean())
        se = float(np.sqrt((s * (1 - s)).sum() / per_node) / nodes)
        pm = next(r.power for r in at_mean.results if r.n_per_arm == n)
        points.append(AssurancePoint(n, a, se, pm, per_node * nodes, failed[n]))
    favourable = float(st.norm.sf(0.0, loc=sign * prior_mean, scale=sd))
    return AssuranceResult(prior_mean, sd, discount, [float(v) for v in values], points, favourable)
