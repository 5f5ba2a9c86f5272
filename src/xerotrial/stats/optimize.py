"""Newton-Raphson for the REML/ML objective, as SAS PROC MIXED does it, for every replicate
of the engine at once (a single fit is one replicate).

Fisher scoring for the first step (robust far from the optimum), then Newton-Raphson with the
observed Hessian, step-halving (per replicate) to keep V positive definite and the objective
decreasing. A random-effect variance that wants to go below zero is fixed at zero (SAS sets it
to zero and notes that G is not positive definite); that is reported as a boundary estimate.

Convergence is SAS's relative Hessian criterion g'H^-1 g / |f| <= 1e-8; once it is met, one
last Newton step is taken (it lands near 1e-18), so that estimates are accurate to far more
digits than SAS prints.

Example
-------
>>> import numpy as np
>>> from xerotrial.stats.marginal import RandomEffectsCovariance
>>> from xerotrial.stats.patterns import build_layout
>>> from xerotrial.stats.reml import RemlEngine
>>> rng = np.random.default_rng(1)
>>> subj = np.repeat(np.arange(20), 4)
>>> y = 1 + rng.normal(size=(3, 20))[:, subj] + rng.normal(size=(3, 80))    # 3 replicates
>>> lay = build_layout(y, np.ones((80, 1)), subj, np.tile(np.arange(4), 20),
...                    Z=np.ones((80, 1)), uses_time=False)
>>> eng = RemlEngine(lay, RandomEffectsCovariance())
>>> out = newton_raphson(eng, eng.start_values())
>>> out.converged.tolist()
[True, True, True]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .linalg import solve_spd
from .reml import Evaluation, RemlEngine

__all__ = ["SAS_CRITERION", "SCORING_STEPS", "OptimizationResult", "newton_raphson"]

#: SAS's relative Hessian convergence criterion.
SAS_CRITERION = 1e-8
#: Fisher-scoring steps before Newton-Raphson.
SCORING_STEPS = 1


@dataclass
class OptimizationResult:
    """Per replicate: the evaluation at the estimate, convergence and boundary information."""

    evaluation: Evaluation  # order 2 at the returned theta
    free: np.ndarray  # (R, K) parameters not fixed on the boundary
    converged: np.ndarray  # (R,)
    failed: np.ndarray  # (R,) no valid estimate at all (start not positive definite)
    iterations: np.ndarray  # (R,)
    criterion: np.ndarray  # (R,) SAS's criterion at the returned theta (inf when failed)

    def boundary(self, r: int = 0) -> list[int]:
        """Indices of the parameters of replicate ``r`` fixed on the boundary (zero)."""
        return np.flatnonzero(~self.free[r]).tolist()

    def message(self, r: int = 0) -> str:
        if self.converged[r]:
            return "Convergence criteria met."
        if np.isinf(self.criterion[r]):
            return "Did not converge: the Hessian is not positive definite at the last iterate."
        return "Did not converge."


def _feasible(theta: np.ndarray, var: np.ndarray, gvar: np.ndarray, corr: np.ndarray, unit=None):
    """Per replicate: variances (and spatial ranges) > 0, G-side variances >= 0, correlations
    in (-1, 1), ``unit`` parameters (SP(POW)'s rho) in (0, 1)."""
    ok = np.isfinite(theta).all(axis=1)
    if unit is not None and unit.any():
        ok &= ((theta[:, unit] > 0) & (theta[:, unit] < 1)).all(axis=1)
    if var.any():
        ok &= (theta[:, var] > 0).all(axis=1)
    if gvar.any():
        ok &= (theta[:, gvar] >= 0).all(axis=1)
    if corr.any():
        ok &= (np.abs(theta[:, corr]) < 1).all(axis=1)
    return ok


def _solve(H: np.ndarray, g: np.ndarray, free: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Solve H_ff s = g_f per replicate by Cholesky (zeros for fixed parameters); ok False
    where H_ff is not positive definite."""
    if free.all():
        return solve_spd(H, g)
    both = free[:, :, None] & free[:, None, :]
    s, ok = solve_spd(np.where(both, H, np.eye(H.shape[-1])), np.where(free, g, 0.0))
    return np.where(free, s, 0.0), ok


def _criterion(g: np.ndarray, step: np.ndarray, f: np.ndarray) -> np.ndarray:
    return np.abs((g * step).sum(axis=1)) / np.maximum(np.abs(f), 1e-300)


def newton_raphson(
    engine: RemlEngine,
    theta0: np.ndarray,
    max_iter: int = 200,
    scoring_steps: int = SCORING_STEPS,
    tol: float = 1e-20,
) -> OptimizationResult:
    """Minimise -2 log-likelihood over the covariance parameters of every replicate, from
    ``theta0`` (R, K); each replicate stops on its own."""
    kinds = np.asarray(engine.cov.kinds)
    var, gvar, corr = np.isin(kinds, ("var", "range")), kinds == "gvar", kinds == "corr"
    unit = kinds == "unit"
    has_gvar = bool(gvar.any())
    theta = np.array(theta0, dtype=float, copy=True)
    R, K = theta.shape
    free = np.ones((R, K), dtype=bool)
    with np.errstate(all="ignore"):
        ev = engine.evaluate(theta, order=2)
        failed = ~ev.ok
        active = ev.ok.copy()
        iters = np.zeros(R, dtype=int)
        for it in range(1, max_iter + 1):
            idx = np.flatnonzero(active)
            if not len(idx):
                break
            iters[idx] = it
            g, fr, obj = ev.gradient[idx], free[idx], ev.objective[idx]
            H = ev.expected[idx] if it <= scoring_steps else ev.hessian[idx]
            step, ok = _solve(H, g, fr)
            if not ok.all():
                step2, ok2 = _solve(ev.expected[idx], g, fr)
                step = np.where(ok[:, None], step, step2)
                bad = ~ok & ~ok2
                if bad.any():
                    diag = np.where(fr, np.abs(np.diagonal(H, axis1=1, axis2=2)), 0.0)
                    scale = np.maximum(diag.max(axis=1), 1.0)
                    step[bad] = np.where(fr[bad], g[bad], 0.0) / scale[bad, None]
            crit = _criterion(g, step, obj)
            done = crit < tol
            if done.any():
                active[idx[done]] = False
                keep = ~done
                idx, step, crit, obj, fr = idx[keep], step[keep], crit[keep], obj[keep], fr[keep]
            # near the optimum Newton converges quadratically: one more step reaches ~crit^2
            final = (crit < SAS_CRITERION) & (it > scoring_steps)
            accepted = np.zeros(len(idx), dtype=bool)
            new_obj = np.full(len(idx), np.inf)
            halved = []
            pend = np.arange(len(idx))  # positions in idx still looking for a step
            lam = 1.0
            while len(pend) and lam > 1e-12:
                cand = theta[idx[pend]] - lam * step[pend]
                crossing = None
                if has_gvar:  # a random-effect variance crossing zero: on the boundary
                    crossing = gvar & fr[pend] & (cand < 0)
                    cand = np.where(crossing, 0.0, cand)
                feas = _feasible(cand, var, gvar, corr, unit)
                if feas.any():
                    fi = pend[feas]
                    # a full step is usually accepted: evaluate it with derivatives at once
                    order = 2 if lam == 1.0 else 0
                    new = engine.evaluate(cand[feas], order=order, reps=idx[fi])
                    good = new.ok & (new.objective <= obj[fi] + 1e-12 * np.abs(obj[fi]))
                    if good.any():
                        gi = fi[good]
                        rows = idx[gi]
                        theta[rows] = cand[feas][good]
                        if crossing is not None:
                            below = (new.objective[good] <= obj[gi])[:, None]
                            free[rows] &= ~(crossing[feas][good] & below)
                        accepted[gi] = True
                        new_obj[gi] = new.objective[good]
                        if order == 2 and len(rows) == R and good.all():
                            ev = new  # every replicate took the full step
                        elif order == 2:
                            ev.merge(rows, new, good)
                        else:
                            halved.append(rows)
                        pend = pend[~accepted[pend]]
                lam /= 2.0
            if len(pend):
                active[idx[pend]] = False  # no step decreases the objective: stop
            if halved:
                rows = np.sort(np.concatenate(halved))
                ev.merge(rows, engine.evaluate(theta[rows], order=2, reps=rows))
            stop = final | (
                (np.abs(obj - new_obj) <= 1e-15 * np.maximum(np.abs(new_obj), 1.0)) & (crit < 1e-14)
            )
            if stop.any():
                active[idx[accepted & stop]] = False
        # the criterion at the returned point
        step, ok = _solve(ev.hessian, ev.gradient, free)
        crit = np.where(ok & ~failed, _criterion(ev.gradient, step, ev.objective), np.inf)
    converged = ok & ~failed & (crit <= SAS_CRITERION)
    return OptimizationResult(ev, free, converged, failed, iters, crit)
