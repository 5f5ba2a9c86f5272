"""Newton-Raphson for the REML/ML objective, as SAS PROC MIXED does it.

Fisher scoring for the first steps (robust far from the optimum), then Newton-Raphson with the
observed Hessian, step-halving to keep V positive definite and the objective decreasing.
A random-effect variance that wants to go below zero is fixed at zero (SAS sets it to zero and
notes that G is not positive definite); that is reported as a boundary estimate.

Convergence is SAS's relative Hessian criterion g'H^-1 g / |f| <= 1e-8; iterations continue
to a much smaller criterion so that estimates are accurate to far more digits than SAS prints.

Example
-------
>>> import numpy as np
>>> from xerotrial.stats.marginal import RandomEffectsCovariance
>>> from xerotrial.stats.reml import RemlEngine
>>> rng = np.random.default_rng(1)
>>> subj = np.repeat(np.arange(20), 4)
>>> y = 1 + rng.normal(size=20)[subj] + rng.normal(size=80)
>>> eng = RemlEngine(y, np.ones((80, 1)), subj, np.tile(np.arange(4), 20), None,
...                  np.ones((80, 1)), RandomEffectsCovariance())
>>> out = newton_raphson(eng, np.array([1.0, 1.0]))
>>> out.converged
True
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .reml import Evaluation, NotPositiveDefiniteError, RemlEngine

__all__ = ["OptimizationResult", "newton_raphson"]

SAS_CRITERION = 1e-8


@dataclass
class OptimizationResult:
    evaluation: Evaluation
    iterations: int
    converged: bool
    criterion: float
    boundary: list[int] = field(default_factory=list)
    history: list[float] = field(default_factory=list)
    message: str = ""


def _feasible(theta: np.ndarray, kinds: list[str]) -> bool:
    kinds_arr = np.asarray(kinds)
    var = theta[kinds_arr == "var"]
    gvar = theta[kinds_arr == "gvar"]
    corr = theta[kinds_arr == "corr"]
    return bool(
        np.all(np.isfinite(theta))
        and np.all(var > 0)
        and np.all(gvar >= 0)
        and np.all(np.abs(corr) < 1)
    )


def _solve(H: np.ndarray, g: np.ndarray) -> np.ndarray | None:
    try:
        L = np.linalg.cholesky(H)
    except np.linalg.LinAlgError:
        return None
    return np.linalg.solve(L.T, np.linalg.solve(L, g))


def newton_raphson(
    engine: RemlEngine,
    theta0: np.ndarray,
    max_iter: int = 200,
    scoring_steps: int = 1,
    tol: float = 1e-20,
) -> OptimizationResult:
    """Minimise -2 log-likelihood over the covariance parameters starting from ``theta0``."""
    kinds = engine.cov.kinds
    theta = np.asarray(theta0, dtype=float).copy()
    free = np.ones(len(theta), dtype=bool)
    boundary: list[int] = []
    ev = engine.evaluate(theta, order=2)
    history = [ev.objective]
    crit = np.inf
    it = 0
    for it in range(1, max_iter + 1):  # noqa: B007 - iteration count is reported
        g = ev.gradient[free]
        H = (ev.expected if it <= scoring_steps else ev.hessian)[np.ix_(free, free)]
        step = _solve(H, g)
        if step is None:
            step = _solve(ev.expected[np.ix_(free, free)], g)
        if step is None:
            step = g / max(np.abs(np.diag(H)).max(), 1.0)
        crit = float(abs(g @ step) / max(abs(ev.objective), 1e-300))
        if crit < tol:
            break
        # near the optimum Newton converges quadratically: one more step reaches ~crit^2
        final = crit < 1e-8 and it > scoring_steps
        full = np.zeros_like(theta)
        full[free] = step
        lam = 1.0
        accepted = False
        while lam > 1e-12:
            cand = theta - lam * full
            # a random-effect variance crossing zero: put it on the boundary
            crossing = [
                i for i, k in enumerate(kinds) if k == "gvar" and free[i] and cand[i] < 0
            ]
            if crossing:
                for i in crossing:
                    cand[i] = 0.0
            if _feasible(cand, kinds):
                # a full step is usually accepted: evaluate it with derivatives at once
                try:
                    new = engine.evaluate(cand, order=2 if lam == 1.0 else 0)
                except NotPositiveDefiniteError:
                    new = None
                if new is not None and new.objective <= ev.objective + 1e-12 * abs(ev.objective):
                    theta = cand
                    for i in crossing:
                        if new.objective <= ev.objective:
                            free[i] = False
                            boundary.append(i)
                    accepted = True
                    break
            lam /= 2.0
        if not accepted:
            break
        prev = ev.objective
        ev = new if new.hessian is not None else engine.evaluate(theta, order=2)
        history.append(ev.objective)
        if final:
            break
        if abs(prev - ev.objective) <= 1e-15 * max(abs(ev.objective), 1.0) and crit < 1e-14:
            break
    # final criterion at the returned point
    g = ev.gradient[free]
    H = ev.hessian[np.ix_(free, free)]
    step = _solve(H, g)
    if step is not None:
        crit = float(abs(g @ step) / max(abs(ev.objective), 1e-300))
        converged = crit <= SAS_CRITERION
        msg = "Convergence criteria met." if converged else "Did not converge."
    else:
        converged = False
        msg = "Did not converge: the Hessian is not positive definite at the last iterate."
    return OptimizationResult(ev, it, converged, crit, sorted(set(boundary)), history, msg)
