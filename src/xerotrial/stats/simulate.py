"""Simulation-based power of a randomized repeated-measures trial (AT-MSC vs placebo).

Each simulated trial draws ``n`` placebo and ``round(n * allocation)`` active subjects with
multivariate normal outcomes over the visits (mean difference ``effect`` per visit, covariance
from per-visit SDs and a correlation), optional monotone dropout and an optional baseline
covariate, and analyses them with the engine's mixed model ``y ~ arm * visit (+ baseline)``
and the chosen covariance and df method: the t test of the arm difference at the last visit
(or a chosen weighted combination of the per-visit differences). Power is the share of trials
with p < alpha; a trial whose fit did not converge counts as "not significant" and is reported
in ``n_failed`` (never dropped), with the first failure's reason (``first_failure``) and a
``ConvergenceWarning``. When every fit at an n fails, its power is not estimable: NaN (null in
JSON), never 0.

Trials are simulated and fitted in chunks (``replicates.fit_replicates``: all replicates of a
chunk fitted at once by the engine that ``fit`` uses, so each trial's analysis is exactly
``fit``'s). Chunk ``k`` of the power at ``n`` per arm draws from ``np.random.default_rng([seed, n,
k])``, and results are concatenated in chunk order, so the numbers do not depend on how the
chunks are spread over processes or a Dask cluster.

Example
-------
>>> design = TrialDesign(visits=3, effect=(0.0, 0.0, 0.5), sd=(1.0,), correlation=0.5)
>>> res = run_power(design, [10], n_sims=50, seed=1, workers=1)
>>> res.results[0].n_sims, 0.0 <= res.results[0].power <= 1.0
(50, True)
"""

from __future__ import annotations

import math
import os
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from .covariance import NAMES, check_parameters
from .errors import ConvergenceWarning, DataValidationError
from .options import DF_METHODS
from .replicates import fit_replicates

__all__ = [
    "TrialDesign",
    "ChunkResult",
    "PowerPoint",
    "PowerResult",
    "simulate_data",
    "simulate_chunk",
    "run_power",
    "smallest_n",
]

CORRELATIONS = ("cs", "ar1", "un", "random-intercept")


@dataclass(frozen=True)
class TrialDesign:
    """The assumptions of a simulated trial and its analysis.

    Data: ``visits``; ``effect`` (active - placebo mean per visit; one value or one per visit);
    ``placebo_mean`` (one or per visit); ``sd`` (one or per visit) with ``correlation`` under
    ``correlation_structure`` ``cs`` or ``ar1``, or a full ``correlation_matrix``
    (``correlation_structure="un"``), or ``random-intercept`` with ``intercept_sd`` and
    ``residual_sd``; ``dropout`` (one or per visit): the probability that a subject still in
    the trial leaves before that visit (the first visit is always observed; one value applies
    to every later visit); ``allocation`` active subjects per placebo subject; an optional
    baseline covariate (``baseline_slope`` times a N(0, ``baseline_sd``^2) value).

    Analysis: ``covariance`` (any covariance ``fit`` takes: ``un``, ``cs``, ``ar1``,
    ``random-intercept``, ...), ``df_method``,
    ``contrast`` (weights of the per-visit arm differences; default: the last visit),
    ``alpha`` (two-sided).

    >>> d = TrialDesign(visits=4, effect=(0, 0, 0, 0.05), sd=(0.1,), correlation=0.6)
    >>> d.covariance_matrix()[0, 1].round(4), d.retention().tolist()
    (np.float64(0.006), [1.0, 1.0, 1.0, 1.0])
    """

    visits: int = 4
    effect: tuple[float, ...] = (0.0, 0.0, 0.0, 0.05)
    sd: tuple[float, ...] = (0.1,)
    correlation: float = 0.6
    correlation_structure: str = "cs"
    correlation_matrix: tuple[tuple[float, ...], ...] | None = None
    intercept_sd: float | None = None
    residual_sd: float | None = None
    placebo_mean: tuple[float, ...] = (0.0,)
    dropout: tuple[float, ...] = (0.0,)
    allocation: float = 1.0
    baseline_slope: float | None = None
    baseline_sd: float = 1.0
    covariance: str = "un"
    df_method: str = "kenward-roger"
    contrast: tuple[float, ...] | None = None
    alpha: float = 0.05

    def __post_init__(self) -> None:
        T = self.visits
        if T < 1:
            raise DataValidationError("visits must be at least 1")
        for name in ("effect", "sd", "placebo_mean"):
            v = getattr(self, name)
            if len(v) not in (1, T):
                raise DataValidationError(
                    f"{name} takes one value or one per visit ({T}); got {len(v)}"
                )
        if len(self.dropout) not in (1, T - 1, T) and T > 1:
            raise DataValidationError(
                f"dropout takes one value or one per visit ({T}); got {len(self.dropout)}"
            )
        if any(not 0.0 <= d < 1.0 for d in self.dropout):
            raise DataValidationError("dropout probabilities must lie in [0, 1)")
        if any(not s > 0 for s in self.sd):
            raise DataValidationError("sd must be positive")
        if self.correlation_structure not in CORRELATIONS:
            raise DataValidationError(
                f"correlation structure {self.correlation_structure!r} is not one of "
                f"{', '.join(CORRELATIONS)}"
            )
        if self.covariance not in NAMES:
            raise DataValidationError(
                f"covariance {self.covariance!r} is not one of {', '.join(NAMES)}"
            )
        if self.df_method not in DF_METHODS:
            raise DataValidationError(
                f"df method {self.df_method!r} is not one of {', '.join(DF_METHODS)}"
            )
        if not 0.0 < self.alpha < 1.0:
            raise DataValidationError("alpha must lie in (0, 1)")
        if not self.allocation > 0:
            raise DataValidationError("allocation must be positive")
        if self.contrast is not None and len(self.contrast) != T:
            raise DataValidationError(f"contrast takes one weight per visit ({T})")
        if self.contrast is not None and not any(self.contrast):
            raise DataValidationError("contrast weights are all zero")
        cm = self.correlation_matrix
        if self.correlation_structure == "un" and cm is None:
            raise DataValidationError("correlation structure 'un' needs a correlation matrix")
        if self.correlation_structure == "random-intercept" and (
            self.intercept_sd is None or self.residual_sd is None
        ):
            raise DataValidationError("random-intercept data need intercept_sd and residual_sd")
        if self.correlation_structure in ("cs", "ar1") and not -1 < self.correlation < 1:
            raise DataValidationError("correlation must lie in (-1, 1)")
        check_parameters(self.covariance, T, source="the trial design")
        try:
            np.linalg.cholesky(self.covariance_matrix())
        except np.linalg.LinAlgError:
            raise DataValidationError(
                "the covariance over visits is not positive definite"
            ) from None

    # ------------------------------------------------------------------ derived
    def _per_visit(self, v: Sequence[float]) -> np.ndarray:
        a = np.asarray(v, dtype=float)
        return np.full(self.visits, a[0]) if len(a) == 1 else a

    def correlation_over_visits(self) -> np.ndarray:
        """The T x T correlation matrix of the outcomes."""
        T = self.visits
        cs = self.correlation_structure
        if cs == "random-intercept":
            v = self.intercept_sd**2 + self.residual_sd**2
            return np.full((T, T), self.intercept_sd**2 / v) + np.eye(T) * self.residual_sd**2 / v
        if cs == "un":
            return np.asarray(self.correlation_matrix, dtype=float)
        idx = np.arange(T)
        lag = np.abs(idx[:, None] - idx[None, :])
        if cs == "ar1":
            return self.correlation ** lag.astype(float)
        return np.where(lag == 0, 1.0, self.correlation)

    def sds(self) -> np.ndarray:
        """Per-visit SDs of the outcome."""
        if self.correlation_structure == "random-intercept":
            return np.full(self.visits, math.hypot(self.intercept_sd, self.residual_sd))
        return self._per_visit(self.sd)

    def covariance_matrix(self) -> np.ndarray:
        """The T x T covariance of one subject's outcomes (given the baseline covariate)."""
        s = self.sds()
        return self.correlation_over_visits() * np.outer(s, s)

    def hazards(self) -> np.ndarray:
        """Per visit, the probability of leaving before it (0 at the first visit)."""
        T = self.visits
        d = np.asarray(self.dropout, dtype=float)
        if len(d) == 1:
            return np.r_[0.0, np.full(T - 1, d[0])]
        return np.r_[0.0, d] if len(d) == T - 1 else np.r_[0.0, d[1:]]

    def retention(self) -> np.ndarray:
        """Expected share of subjects observed at each visit."""
        return np.cumprod(1.0 - self.hazards())

    def weights(self) -> np.ndarray:
        """Weights of the per-visit arm differences that form the tested contrast."""
        if self.contrast is None:
            w = np.zeros(self.visits)
            w[-1] = 1.0
            return w
        return np.asarray(self.contrast, dtype=float)

    def true_difference(self) -> float:
        """The value of the tested contrast under the design."""
        return float(self.weights() @ self._per_visit(self.effect))

    def n_active(self, n: int) -> int:
        """Active subjects for ``n`` placebo subjects."""
        return max(int(round(n * self.allocation)), 1)

    def to_dict(self) -> dict:
        """Plain-JSON view of the design."""
        return asdict(self)


@dataclass
class SimData:
    """One chunk of simulated trials: y (R, S, T), level (R, S) visits kept, arm (S,) and the
    optional baseline covariate (R, S)."""

    y: np.ndarray
    level: np.ndarray
    arm: np.ndarray
    baseline: np.ndarray | None

    def layout(self) -> pd.DataFrame:
        """One row per subject and visit (id, arm, visit): the trial every replicate shares."""
        S, T = self.y.shape[1:]
        return pd.DataFrame(
            {
                "id": np.repeat(np.arange(S), T),
                "arm": np.repeat(np.where(self.arm == 1, "active", "control"), T),
                "visit": [f"v{t + 1}" for t in range(T)] * S,
            }
        )

    def responses(self) -> np.ndarray:
        """(R, S * T) responses in ``layout`` order, NaN after a subject's dropout."""
        R, S, T = self.y.shape
        kept = np.arange(T)[None, None, :] < self.level[:, :, None]
        return np.where(kept, self.y, np.nan).reshape(R, S * T)

    def frame(self, r: int) -> pd.DataFrame:
        """Replicate ``r`` as a long data frame (id, arm, visit, y[, baseline]), for ``fit``."""
        out = self.layout()
        out["y"] = self.responses()[r]
        if self.baseline is not None:
            out["baseline"] = np.repeat(self.baseline[r], self.y.shape[2])
        return out[np.isfinite(out["y"])].reset_index(drop=True)


def simulate_data(design: TrialDesign, n: int, size: int, rng: np.random.Generator) -> SimData:
    """Draw ``size`` trials with ``n`` placebo subjects.

    >>> d = TrialDesign(visits=3, effect=(0.0,), dropout=(0.2,))
    >>> sim = simulate_data(d, 5, 2, np.random.default_rng(0))
    >>> sim.y.shape, sim.level.max() <= 3
    ((2, 10, 3), np.True_)
    """
    T = design.visits
    n1 = design.n_active(n)
    arm = np.r_[np.zeros(n), np.ones(n1)]
    S = len(arm)
    mu = (
        design._per_visit(design.placebo_mean)[None, :]
        + arm[:, None] * design._per_visit(design.effect)[None, :]
    )
    Lc = np.linalg.cholesky(design.covariance_matrix())
    z = rng.standard_normal((size, S, T))
    y = mu[None] + z @ Lc.T
    base = None
    if design.baseline_slope is not None:
        base = rng.standard_normal((size, S)) * design.baseline_sd
        y += design.baseline_slope * base[:, :, None]
    h = design.hazards()
    if T > 1 and (h > 0).any():
        u = rng.random((size, S, T - 1))
        stay = u >= h[None, None, 1:]
        level = 1 + np.cumprod(stay, axis=2).sum(axis=2)
    else:
        level = np.full((size, S), T)
    return SimData(y, level, arm, base)


@dataclass
class ChunkResult:
    """One chunk's per-trial results (in replicate order)."""

    n: int
    chunk: int
    p: np.ndarray
    estimate: np.ndarray
    se: np.ndarray
    df: np.ndarray
    converged: np.ndarray
    seconds: float
    #: Why the chunk's first failed fit failed (None: none failed).
    failure: str | None = None


def simulate_chunk(design: TrialDesign, n: int, chunk: int, size: int, seed: int) -> ChunkResult:
    """Simulate and fit chunk ``chunk`` (``size`` trials) of the power at ``n`` per arm.

    The random stream is ``np.random.default_rng([seed, n, chunk])``.

    >>> d = TrialDesign(visits=2, effect=(0.0, 1.0), sd=(1.0,), correlation=0.3)
    >>> out = simulate_chunk(d, 8, 0, 20, seed=3)
    >>> out.p.shape, bool(out.converged.all())
    ((20,), True)
    """
    t0 = time.perf_counter()
    rng = np.random.default_rng([seed, n, chunk])
    sim = simulate_data(design, n, size, rng)
    fits, tests = _fit_and_test(design, sim)
    conv = fits.converged & np.isfinite(tests["p"])
    return ChunkResult(
        n,
        chunk,
        tests["p"],
        tests["estimate"],
        tests["se"],
        tests["df"],
        conv,
        time.perf_counter() - t0,
        failure_reason(fits, tests, int(np.flatnonzero(~conv)[0])) if not conv.all() else None,
    )


def failure_reason(fits, tests: dict[str, np.ndarray], r: int) -> str:
    """Why replicate ``r`` of ``fits`` gave no test: no positive definite start, no convergence
    or a p-value that is not finite; and too few residual df for the covariance parameters.

    >>> d = TrialDesign(visits=4, effect=(0, 0, 0, 1.0), sd=(1.0,), correlation=0.5)
    >>> fits, tests = _fit_and_test(d, simulate_data(d, 2, 1, np.random.default_rng(1)))
    >>> print(failure_reason(fits, tests, 0))
    10 covariance parameters but 8 residual degrees of freedom (16 observations - 8 fixed-effect
    columns): the fit did not converge: the Hessian is not positive definite at the last iterate
    """
    k = len(fits.cov.param_names)
    n, p = int(fits.n_obs[r]), fits.design.X.shape[1]
    why = (
        f"{k} covariance parameters but {n - p} residual degrees of freedom ({n} observations - "
        f"{p} fixed-effect columns): "
        if k > n - p
        else ""
    )
    if fits.failed[r]:
        return why + "the starting values give a covariance matrix that is not positive definite"
    if not fits.converged[r]:
        message = fits.opt.message(r).rstrip(".")
        return why + "the fit " + message[0].lower() + message[1:]
    return why + f"the test's p-value is not finite (df {float(tests['df'][r]):.3g})"


def analyse(design: TrialDesign, sim: SimData) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Fit every replicate of ``sim`` (one stacked REML fit) and test the contrast.

    The model is ``y ~ arm * visit (+ baseline)`` with the design's covariance; the tested
    contrast is the weighted sum of the per-visit LS-mean differences active - control, with
    the df method's df (a fixed-df method takes the df of the last model term in the
    contrast, as ``fit`` does for an ESTIMATE). Returns the test columns (estimate, se, df,
    t, p, lower, upper) and the convergence flags.

    >>> d = TrialDesign(visits=2, effect=(0.0, 1.0), sd=(1.0,), correlation=0.3)
    >>> tests, ok = analyse(d, simulate_data(d, 6, 3, np.random.default_rng(1)))
    >>> sorted(tests), ok.tolist()
    (['df', 'estimate', 'lower', 'p', 'se', 't', 'upper'], [True, True, True])
    """
    fits, tests = _fit_and_test(design, sim)
    return tests, fits.converged & np.isfinite(tests["p"])


def _fit_and_test(design: TrialDesign, sim: SimData):
    """``analyse``'s replicate fits and test columns."""
    T = design.visits
    frame = sim.layout()
    formula = "y ~ arm * visit"
    varying = None
    if sim.baseline is not None:
        formula += " + baseline"
        varying = {"baseline": np.repeat(sim.baseline, T, axis=1)}
    visits = [f"v{t + 1}" for t in range(T)]
    fits = fit_replicates(
        frame,
        formula,
        "id",
        sim.responses(),
        time="visit",
        covariance=design.covariance,
        time_order=visits,
        varying=varying,
        source="simulated trials",
    )
    L, keys = fits.lsmeans_matrix("arm", "visit")
    row = {(k["arm"], k["visit"]): i for i, k in enumerate(keys)}
    w = design.weights()
    diff = sum(
        w[t] * (L[..., row[("active", v)], :] - L[..., row[("control", v)], :])
        for t, v in enumerate(visits)
    )
    tests = {k: v[:, 0] for k, v in fits.t_tests(diff[..., None, :], design.df_method).items()}
    return fits, tests


@dataclass
class PowerPoint:
    """Power at one n per arm (``n_per_arm`` placebo subjects): NaN (not estimable) when every
    fit failed; ``first_failure`` says why the first failed fit failed."""

    n_per_arm: int
    power: float
    mc_se: float
    n_sims: int
    n_failed: int
    first_failure: str | None = None

    @property
    def estimable(self) -> bool:
        """False when every simulated fit failed (``power`` is NaN)."""
        return not math.isnan(self.power)


@dataclass
class PowerResult:
    """The power curve, with timing."""

    design: TrialDesign
    results: list[PowerPoint]
    seconds: float
    fits_per_second: float
    seed: int
    chunk_size: int
    chunks: list[ChunkResult] = field(default_factory=list, repr=False)

    def to_dict(self) -> dict:
        """``{"results": [...], "fits_per_second": ...}`` as ``xerotrial power --json``: a
        power that is not estimable is None; ``first_failure`` is there when a fit failed."""
        return {
            "results": [
                {
                    k: None if isinstance(v, float) and math.isnan(v) else v
                    for k, v in row.items()
                    if k != "first_failure" or v is not None
                }
                for row in map(asdict, self.results)
            ],
            "fits_per_second": self.fits_per_second,
        }


def _tasks(n_list: Sequence[int], n_sims: int, chunk_size: int) -> list[tuple[int, int, int]]:
    out = []
    for n in n_list:
        for k in range(math.ceil(n_sims / chunk_size)):
            out.append((int(n), k, min(chunk_size, n_sims - k * chunk_size)))
    return out


def _run_local(design, tasks, seed, workers, callback):
    if workers <= 1 or len(tasks) == 1:
        out = []
        for n, k, size in tasks:
            out.append(simulate_chunk(design, n, k, size, seed))
            callback(size)
        return out
    from concurrent.futures import ProcessPoolExecutor, as_completed

    results: dict[int, ChunkResult] = {}
    with ProcessPoolExecutor(max_workers=workers) as ex:
        futs = {
            ex.submit(simulate_chunk, design, n, k, size, seed): i
            for i, (n, k, size) in enumerate(tasks)
        }
        for f in as_completed(futs):
            results[futs[f]] = f.result()
            callback(results[futs[f]].p.size)
    return [results[i] for i in range(len(tasks))]


def _run_dask(design, tasks, seed, address, callback):
    try:
        from dask.distributed import Client, LocalCluster, as_completed
    except ImportError:  # pragma: no cover - depends on the environment
        raise DataValidationError(
            "--dask needs dask.distributed: pip install 'dask[distributed]'"
        ) from None
    cluster = None
    if address == "local":
        try:
            cluster = LocalCluster(
                n_workers=os.cpu_count() or 1,
                threads_per_worker=1,
                processes=True,
                dashboard_address=":0",
            )
        except RuntimeError as exc:
            raise DataValidationError(f"cannot start a local Dask cluster: {exc}") from None
        client = Client(cluster)
    else:
        try:
            client = Client(address, timeout=10)
        except OSError as exc:
            raise DataValidationError(f"cannot reach the Dask scheduler {address}: {exc}") from None
    try:
        futs = [
            client.submit(simulate_chunk, design, n, k, size, seed, pure=False)
            for n, k, size in tasks
        ]
        index = {f.key: i for i, f in enumerate(futs)}
        results: dict[int, ChunkResult] = {}
        for f in as_completed(futs):
            res = f.result()
            results[index[f.key]] = res
            callback(res.p.size)
        return [results[i] for i in range(len(tasks))]
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def run_power(
    design: TrialDesign,
    n_per_arm: Sequence[int],
    n_sims: int = 1000,
    seed: int = 1,
    chunk_size: int = 500,
    workers: int | None = None,
    dask: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> PowerResult:
    """Simulated power at each n per arm: in this process (``workers=1``), local processes
    (default: one per core) or a Dask cluster (``dask="local"`` or a scheduler address).

    The numbers depend only on the design, ``n_sims``, ``seed`` and ``chunk_size``.

    >>> d = TrialDesign(visits=2, effect=(0.0, 0.0), sd=(1.0,), correlation=0.5)
    >>> run_power(d, [6], n_sims=40, seed=2, workers=1).results[0].n_failed
    0
    """
    if n_sims < 1:
        raise DataValidationError("the number of simulations must be at least 1")
    if chunk_size < 1:
        raise DataValidationError("chunk size must be at least 1")
    if not n_per_arm or any(int(n) < 2 for n in n_per_arm):
        raise DataValidationError("n per arm must be at least 2")
    tasks = _tasks(n_per_arm, n_sims, chunk_size)
    callback = progress or (lambda _n: None)
    t0 = time.perf_counter()
    if dask:
        chunks = _run_dask(design, tasks, seed, dask, callback)
    else:
        w = (os.cpu_count() or 1) if workers is None else workers
        chunks = _run_local(design, tasks, seed, min(w, len(tasks)), callback)
    seconds = time.perf_counter() - t0
    points = []
    for n in n_per_arm:
        mine = [c for c in chunks if c.n == int(n)]
        p = np.concatenate([c.p for c in mine])
        conv = np.concatenate([c.converged for c in mine])
        reject = conv & (p < design.alpha)
        n_failed = int((~conv).sum())
        first = next((c.failure for c in mine if c.failure), None)
        if n_failed == len(p):
            power = se = math.nan
            warnings.warn(
                f"power at n = {n} per arm is not estimable: all {n_failed} simulated fits "
                f"failed; the first: {first}",
                ConvergenceWarning,
                stacklevel=2,
            )
        else:
            power = float(reject.mean())
            se = math.sqrt(power * (1 - power) / len(p))
            if n_failed:
                warnings.warn(
                    f"{n_failed} of {len(p)} simulated fits at n = {n} per arm failed and count "
                    f"as not significant; the first: {first}",
                    ConvergenceWarning,
                    stacklevel=2,
                )
        points.append(PowerPoint(int(n), power, se, len(p), n_failed, first))
    total = len(n_per_arm) * n_sims
    return PowerResult(
        design,
        points,
        seconds,
        total / seconds if seconds > 0 else math.inf,
        seed,
        chunk_size,
        chunks,
    )


def smallest_n(result: PowerResult, target: float) -> int | None:
    """The smallest n per arm of the curve whose simulated power reaches ``target``.

    >>> d = TrialDesign(visits=2, effect=(0.0, 1.0), sd=(1.0,), correlation=0.5)
    >>> smallest_n(run_power(d, [4, 30], n_sims=40, seed=2, workers=1), 0.8)
    30
    """
    ok = [r.n_per_arm for r in result.results if r.power >= target]
    return min(ok) if ok else None
