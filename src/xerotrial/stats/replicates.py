"""Many fits of one model at once: the engine's replicate API (``fit`` is one replicate).

``fit_replicates`` fits a mixed model to R data sets that share a layout (the same subjects,
time levels and covariates, one response vector each, NaN where missing) with one stacked
REML engine: no Python loop over replicates or covariance patterns. ``fit_visit_means`` is the
common case of a subjects x visits array with visit as the only fixed effect (LS mean per
visit, each visit minus the first). Every replicate's results equal those of ``fit`` on that
replicate alone (the tests check it to 1e-10).

Example
-------
>>> import numpy as np
>>> rng = np.random.default_rng(7)
>>> y = rng.normal(size=(4, 10, 3)) + rng.normal(size=(4, 10, 1))   # 4 replicates
>>> y[:, 0, 2] = np.nan                                              # a missing cell
>>> out = fit_visit_means(y)            # random intercept, visit fixed, containment df
>>> out["means"].shape, out["se_diffs"][:, 0].tolist(), out["df"][0].tolist()
((4, 3), [0.0, 0.0, 0.0, 0.0], [nan, 17.0, 17.0])
>>> bool(out["converged"].all())
True
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd

from . import coding, grid
from .covariance import G_SIDE, SPATIAL, check_name, check_parameters
from .design import Design, build_design
from .errors import DataValidationError
from .fixed_df import design_ranks, df_table, gram_ranks, row_df, term_rules, test_df
from .inference import FIXED_DF_METHODS, Estimates, check_df_method, f_test, t_tests
from .linalg import solve
from .marginal import (
    CombinedCovariance,
    MarginalCovariance,
    RandomEffectsCovariance,
    RepeatedCovariance,
    SpatialCovariance,
)
from .optimize import OptimizationResult, newton_raphson
from .options import KR_INFORMATION, VCOV_METHODS
from .patterns import build_layout
from .reml import RemlEngine
from .robust import Sandwich, sandwich
from .subject_blocks import subject_blocks

__all__ = ["ReplicateFit", "fit_design", "fit_replicates", "fit_visit_means"]


def _marginal(
    design: Design, covariance: str, group: str | None, random: bool = False
) -> MarginalCovariance:
    if covariance == G_SIDE:
        names = ["Intercept", *design.random_vars]
        return RandomEffectsCovariance(len(names), names)
    if random:  # RANDOM beside REPEATED
        return CombinedCovariance(_marginal(design, covariance, group), 1 + len(design.random_vars))
    labels = [f"{group} {lv}" for lv in design.group_levels] if group else None
    if covariance in SPATIAL:
        if design.coordinates is None:
            raise DataValidationError(
                f"covariance {covariance!r} is spatial: give the coordinate columns "
                "(--coordinates COL[,COL])"
            )
        return SpatialCovariance(covariance, design.coordinates, labels)
    return RepeatedCovariance(covariance, len(design.time_levels), labels)


def _slots(design: Design, g_side: bool) -> np.ndarray:
    """R-side: the time level; G-side: the row's position within its subject in time order."""
    if not g_side:
        return design.time
    order = np.lexsort((design.time, design.subject))
    subj = design.subject[order]
    start = np.flatnonzero(np.r_[True, subj[1:] != subj[:-1]])
    pos = np.arange(len(order)) - np.repeat(start, np.diff(np.r_[start, len(order)]))
    out = np.empty(len(order), dtype=np.int64)
    out[order] = pos
    return out


def _masked_inverse(H: np.ndarray, free: np.ndarray, pinv: bool = False) -> np.ndarray:
    """2 H_ff^-1 per replicate, zero rows and columns for parameters on the boundary."""
    K = H.shape[-1]
    both = free[:, :, None] & free[:, None, :]
    every = bool(free.all()) and bool(np.isfinite(H).all())
    Hm = H if every else np.where(both & np.isfinite(H), H, np.eye(K))
    with np.errstate(all="ignore"):
        if pinv:
            W = 2.0 * np.linalg.pinv(Hm)
        else:
            try:
                W = 2.0 * solve(Hm, np.broadcast_to(np.eye(K), Hm.shape))
            except np.linalg.LinAlgError:
                W = np.empty_like(Hm)
                for r in range(len(Hm)):
                    try:
                        W[r] = 2.0 * np.linalg.inv(Hm[r])
                    except np.linalg.LinAlgError:
                        W[r] = 2.0 * np.linalg.pinv(Hm[r])
    return W if every else np.where(both, W, 0.0)


@dataclass
class ReplicateFit:
    """Fits of one model to R replicates; every array has a leading replicate axis.

    Results of the replicates whose fit failed (no positive definite start) are NaN; check
    ``converged`` too (a fit that stopped short of SAS's criterion is reported, not hidden).
    """

    design: Design
    cov: MarginalCovariance
    engine: RemlEngine
    opt: OptimizationResult
    covariance: str
    method: str
    subject: str
    time: str | None
    kr_information: str = "observed"
    observed: np.ndarray | None = None  # (R, rows) None: every row of the design observed
    varying: dict[str, np.ndarray] = field(default_factory=dict)  # numeric columns (R, rows)
    exact_ranks: bool = False  # fixed df from the design's SVD ranks (a fitted data set)
    vcov: str = "model"  # or one of robust.EMPIRICAL: the covariance of b inference uses
    y: np.ndarray | None = None  # (R, rows) the responses fitted (for the empirical vcov)
    X: np.ndarray | None = None  # the X fitted, (rows, p) or (R, rows, p); None: the design's

    # ------------------------------------------------------------------ estimates
    @property
    def R(self) -> int:
        return self.engine.R

    @property
    def theta(self) -> np.ndarray:
        return self.opt.evaluation.theta

    @property
    def beta(self) -> np.ndarray:
        return self.opt.evaluation.beta

    @property
    def Phi(self) -> np.ndarray:
        """Model-based covariance of the fixed effects, (X'V^-1X)^-1."""
        return self.opt.evaluation.Phi

    @property
    def converged(self) -> np.ndarray:
        return self.opt.converged

    @property
    def failed(self) -> np.ndarray:
        return self.opt.failed

    @property
    def free(self) -> np.ndarray:
        return self.opt.free

    @property
    def n_obs(self) -> np.ndarray:
        return self.engine.N

    @property
    def n_subjects(self) -> np.ndarray:
        return self.engine.layout.n_subjects

    @property
    def neg2_loglik(self) -> np.ndarray:
        """-2 (restricted) log-likelihood as SAS prints it (lme4's REML criterion)."""
        return self.opt.evaluation.objective

    @cached_property
    def theta_cov(self) -> np.ndarray:
        """Asymptotic covariance of the covariance parameters: 2 H^-1 with H the observed
        Hessian of -2 log-likelihood (as SAS and lmerTest); zero for boundary parameters."""
        return _masked_inverse(self.opt.evaluation.hessian, self.free)

    @cached_property
    def estimates(self) -> Estimates:
        ev = self.opt.evaluation
        with np.errstate(all="ignore"):
            P = -ev.B * self.free[:, :, None, None]
            W_kr = self.theta_cov
            if self.kr_information == "expected":
                W_kr = _masked_inverse(ev.expected, self.free, pinv=True)
        theta = ev.theta
        return Estimates(
            self.beta,
            self.Phi,
            P,
            self.theta_cov,
            W_kr,
            self.method,
            self.cov.linear,
            lambda W, second: self.engine.kr_sums(theta, W, second),
            empirical=None if self.vcov == "model" else self.sandwiches,
        )

    @cached_property
    def sandwiches(self) -> list[Sandwich]:
        """Per replicate, the empirical covariance of b (``vcov``, one of robust.EMPIRICAL)."""
        if self.y is None:
            raise DataValidationError("an empirical covariance needs the responses fitted")
        g_side = self.covariance == G_SIDE
        d = self.design
        slots = _slots(d, g_side)
        out = []
        for r in range(self.R):
            X = d.X if self.X is None else self.X if self.X.ndim == 2 else self.X[r]
            used = ~np.isnan(self.y[r])
            blocks = subject_blocks(
                self.cov,
                self.theta[r],
                d.subject,
                slots,
                None if g_side else d.group,
                d.Z if g_side or self.cov.random else None,
                used,
            )
            residual = np.where(used, self.y[r] - X @ self.beta[r], 0.0)
            out.append(sandwich(blocks, X, residual, self.Phi[r], self.vcov))
        return out

    # ------------------------------------------------------------------ fixed df
    @cached_property
    def df_table(self) -> dict[str, dict[str, np.ndarray]]:
        """Per model term, the df (R,) of the fixed-df methods."""
        g_side = self.cov.random  # a RANDOM statement, alone or beside REPEATED
        rules = term_rules(self.design, self.subject, g_side)
        all_between = self.covariance == "un"
        if self.exact_ranks:
            ranks = design_ranks(self.design, self.subject, g_side, all_between)
        else:
            if g_side and self.design.random_vars:
                raise DataValidationError(
                    "fixed df of replicate fits with random slopes are not implemented; "
                    "use satterthwaite or kenward-roger"
                )
            ranks = gram_ranks(
                self.engine.gram(), self.n_obs, self.n_subjects, rules, g_side, all_between
            )
        return df_table(rules, ranks)

    def _fixed(self, L: np.ndarray, df_method: str, terms) -> np.ndarray | None:
        if df_method not in FIXED_DF_METHODS:
            return None
        return row_df(self.df_table, self.design, L if L.ndim == 2 else L[0], df_method, terms)

    # ------------------------------------------------------------------ tests
    def _mask(self, out: dict) -> dict:
        if self.failed.any():
            for k, v in out.items():
                if isinstance(v, np.ndarray) and v.shape[:1] == (self.R,):
                    out[k] = np.where(self.failed.reshape(-1, *[1] * (v.ndim - 1)), np.nan, v)
        return out

    def t_tests(
        self,
        L: np.ndarray,
        df_method: str = "kenward-roger",
        terms: list | None = None,
        level: float = 0.95,
    ) -> dict[str, np.ndarray]:
        """t tests of each row of L ((rows, p) or (R, rows, p)): estimate, se, df, t, p,
        lower, upper (R, rows). ``terms`` names, per row, the model term whose df a fixed-df
        method uses (default: the last term with a non-zero coefficient, as SAS does for
        ESTIMATE statements)."""
        L = np.asarray(L, dtype=float)
        L = L[None] if L.ndim == 1 else L
        return self._mask(
            t_tests(L, self.estimates, df_method, self._fixed(L, df_method, terms), level)
        )

    def test(
        self, L: np.ndarray, df_method: str = "kenward-roger", term: str | None = None
    ) -> dict[str, np.ndarray]:
        """Wald test of L b = 0 per replicate (t for one row, F for several)."""
        check_df_method(df_method, self.method)
        L = np.atleast_2d(np.asarray(L, dtype=float))
        fixed = None
        if df_method in FIXED_DF_METHODS:
            fixed = test_df(self.df_table, self.design, L, df_method, term)
        with np.errstate(all="ignore"):
            return self._mask(f_test(L, self.estimates, df_method, fixed))

    # ------------------------------------------------------------------ LS means
    def numeric_means(self) -> dict[str, np.ndarray] | None:
        """Per replicate, each numeric covariate's mean over the observed rows (None: the
        design's own means, when every row is observed in one replicate)."""
        d = self.design
        if not d.numeric or (self.observed is None and not self.varying):
            return None
        obs = np.ones((self.R, len(d.y)), dtype=bool) if self.observed is None else self.observed
        out = {}
        for v in d.numeric:
            values = self.varying.get(v, d.columns[v])
            out[v] = np.where(obs, values, 0.0).sum(axis=1) / np.maximum(obs.sum(axis=1), 1)
        return out

    @cached_property
    def _lsm_cache(self) -> dict:
        return {}

    def lsmeans_matrix(self, factor: str, by: str | None = None, weights: str = "equal"):
        """Rows (rows, p) or (R, rows, p) of the LS means of ``factor`` and their labels."""
        if (factor, by, weights) not in self._lsm_cache:
            self._lsm_cache[(factor, by, weights)] = grid.lsmeans_matrix(
                self.design, factor, by, self.numeric_means(), weights
            )
        return self._lsm_cache[(factor, by, weights)]

    def lsmeans(
        self,
        factor: str,
        by: str | None = None,
        df_method: str = "kenward-roger",
        weights: str = "equal",
    ):
        """LS means of ``factor`` (within ``by``): labels and the t-test columns (R, rows)."""
        L, keys = self.lsmeans_matrix(factor, by, weights)
        term = grid.lsmeans_term(self.design, factor, by)
        return keys, self.t_tests(L, df_method, [term] * len(keys))

    def differences(
        self, factor: str, pairs, by: str | None, df_method: str, weights: str = "equal"
    ):
        """t tests of LS-mean differences: ``pairs`` of (label, by level, row, other row)."""
        L, _ = self.lsmeans_matrix(factor, by, weights)
        term = grid.lsmeans_term(self.design, factor, by)
        i, j = np.array([pr[2:] for pr in pairs], dtype=int).reshape(-1, 2).T
        D = L[..., i, :] - L[..., j, :]
        return self.t_tests(D, df_method, [term] * len(pairs))

    def contrasts_vs_reference(
        self,
        factor: str,
        reference: str | None = None,
        by: str | None = None,
        df_method: str = "kenward-roger",
        weights: str = "equal",
    ):
        """Each level of ``factor`` minus ``reference`` (first level by default) within
        ``by``: the labels ``'level - reference'``, the ``by`` levels and the t tests."""
        _, keys = self.lsmeans_matrix(factor, by, weights)
        ref, pairs = grid.reference_pairs(self.design, factor, reference, by, keys)
        labels = [f"{lv} - {ref}" for lv, *_ in pairs]
        diffs = self.differences(factor, pairs, by, df_method, weights)
        return labels, [b for _, b, _, _ in pairs], diffs


def fit_design(
    design: Design,
    y: np.ndarray,
    covariance: str,
    subject: str,
    time: str | None,
    group: str | None = None,
    method: str = "REML",
    X: np.ndarray | None = None,
    kr_information: str = "observed",
    varying: dict[str, np.ndarray] | None = None,
    exact_ranks: bool = False,
    source: str = "data",
    start: np.ndarray | None = None,
    vcov: str = "model",
    random: bool = False,
) -> ReplicateFit:
    """Fit the model of ``design`` to the responses ``y`` (R, rows) (NaN: missing), with the
    design's X or per-replicate ``X`` (R, rows, p). A structure that cannot be fitted over the
    design's time levels, or has more than ``options.MAX_COVARIANCE_PARAMETERS`` parameters,
    is refused (``covariance.check_parameters``) before any work. ``start`` (K,) or (R, K):
    the covariance parameters Newton-Raphson starts from (default: moment estimates from
    OLS residuals), e.g. a full data set's optimum for its jackknife or bootstrap samples.
    ``vcov``: the covariance of b that inference uses (``robust.VCOV_METHODS``); ``random``:
    the design's random effects (Z) beside the R-side ``covariance`` (SAS RANDOM + REPEATED)."""
    check_name(covariance)
    if vcov not in VCOV_METHODS:
        raise DataValidationError(f"unknown vcov {vcov!r}; choose one of {', '.join(VCOV_METHODS)}")
    if kr_information not in KR_INFORMATION:
        raise DataValidationError("kr_information must be 'observed' or 'expected'")
    g_side = covariance == G_SIDE
    check_parameters(
        covariance,
        int(np.bincount(design.subject).max()) if g_side else len(design.time_levels),
        len(design.group_levels) if design.group_levels else 1,
        len(design.random_vars),
        time,
        source,
    )
    cov = _marginal(design, covariance, group, random and not g_side)
    layout = build_layout(
        y,
        design.X if X is None else X,
        design.subject,
        _slots(design, g_side),
        None if g_side else design.group,
        design.Z if g_side or random else None,
        uses_time=not g_side,
    )
    engine = RemlEngine(layout, cov, method)
    theta0 = engine.start_values()
    if start is not None:
        theta0 = np.broadcast_to(np.asarray(start, dtype=float), theta0.shape)
    opt = newton_raphson(engine, theta0)
    observed = None if np.isfinite(y).all() and len(y) == 1 else ~np.isnan(y)
    return ReplicateFit(
        design,
        cov,
        engine,
        opt,
        covariance,
        engine.method,
        subject,
        time,
        kr_information,
        observed,
        dict(varying or {}),
        exact_ranks,
        vcov,
        np.atleast_2d(y),
        X,
    )


def _replicate_X(design: Design, varying: dict[str, np.ndarray], R: int) -> np.ndarray:
    n = len(design.y)
    cols = {}
    for v, codes in design.columns.items():
        if v in design.factors:
            cols[v] = np.tile(codes, R)
        elif v in design.numeric:
            cols[v] = (varying[v] if v in varying else np.broadcast_to(codes, (R, n))).ravel()
    if design.terms is not None:
        X = coding.model_matrix_arrays(cols, R * n, design.terms, design.factors)[0]
    else:
        frame = pd.DataFrame(
            {
                v: pd.Categorical.from_codes(c, categories=design.factors[v])
                if v in design.factors
                else c
                for v, c in cols.items()
            }
        )
        X = design.model_matrix(frame)
    return X.reshape(R, n, -1)


def fit_replicates(
    frame: pd.DataFrame,
    formula: str,
    subject: str,
    y: np.ndarray,
    time: str | None = None,
    covariance: str = "un",
    group: str | None = None,
    method: str = "REML",
    time_order: list[str] | None = None,
    varying: dict[str, np.ndarray] | None = None,
    kr_information: str = "observed",
    source: str = "replicates",
) -> ReplicateFit:
    """Fit ``formula`` to R replicates that share the layout ``frame``.

    ``frame`` has one row per subject and time level that a replicate may observe, with the
    subject, time, group and every model variable (the response column is not needed);
    ``y`` (R, len(frame)) holds each replicate's responses, NaN where missing; ``varying``
    maps numeric covariates that differ between replicates to (R, len(frame)) values. The
    options are ``fit``'s (random slopes excepted).
    """
    check_name(covariance)
    y = np.asarray(y, dtype=float)
    if y.ndim != 2 or y.shape[1] != len(frame):
        raise DataValidationError(
            f"{source}: y must have shape (replicates, {len(frame)}), one column per row of "
            f"the layout; got {y.shape}"
        )
    if covariance != G_SIDE and not time:
        raise DataValidationError(f"covariance {covariance!r} needs a time factor")
    infinite = np.argwhere(np.isinf(y))
    if len(infinite):
        r, i = (int(v) for v in infinite[0])
        raise DataValidationError(
            f"{source}: replicate {r + 1}, row {i + 1} of the layout: response {y[r, i]!r} is "
            "not a finite number (NaN marks a missing response)",
            file=source,
            row=i + 1,
            value=float(y[r, i]),
            rule="not a finite number",
        )
    response = formula.split("~", 1)[0].strip()
    varying = {k: np.asarray(v, dtype=float) for k, v in (varying or {}).items()}
    # the template holds the first replicate's varying covariates (for the design's rank)
    template = frame.assign(
        **{response: 0.0}, **{k: v[0] for k, v in varying.items() if v.ndim == 2 and len(v)}
    )
    design = build_design(
        template,
        formula,
        subject=subject,
        time=time,
        group=group,
        time_order=time_order,
        random=[] if covariance == G_SIDE else None,
        source=source,
    )
    if len(design.y) != len(frame):
        raise DataValidationError(f"{source}: the layout has missing values in model variables")
    for k, v in varying.items():
        if k not in design.numeric:
            raise DataValidationError(
                f"{source}: varying column {k!r} is not a numeric covariate of {formula!r}"
            )
        if v.shape != y.shape:
            raise DataValidationError(f"{source}: varying column {k!r} must have shape {y.shape}")
    X = _replicate_X(design, varying, len(y)) if varying else None
    return fit_design(
        design,
        y,
        covariance,
        subject,
        time,
        group,
        method,
        X,
        kr_information,
        varying,
        source=source,
    )


def fit_visit_means(
    y: np.ndarray,
    covariance: str = G_SIDE,
    df_method: str = "containment",
    method: str = "REML",
) -> dict[str, np.ndarray]:
    """REML fits of ``y ~ visit`` to replicates ``y`` (R, subjects, visits), NaN = missing.

    Returns per replicate (first axis) the LS mean of each visit (``means``, ``se_means``,
    ``df_means``), each visit minus the first (``diffs``, ``se_diffs``, ``df``, ``p``; column 0
    is the first visit itself: difference and SE 0, df and p NaN), ``theta`` (the covariance
    parameters, SAS's order; for the random intercept also ``s2u`` and ``s2``) and
    ``converged``. With the defaults (random intercept per subject, containment df) the df
    of every difference is N - rank([X Z]) = N - (visits + subjects - 1).
    """
    y = np.asarray(y, dtype=float)
    if y.ndim != 3:
        raise DataValidationError(
            f"y must have shape (replicates, subjects, visits); got {y.shape}"
        )
    R, S, T = y.shape
    visits = [f"v{t + 1}" for t in range(T)]
    frame = pd.DataFrame({"subject": np.repeat(np.arange(S), T), "visit": visits * S})
    fits = fit_replicates(
        frame,
        "y ~ visit",
        "subject",
        y.reshape(R, S * T),
        time="visit",
        covariance=covariance,
        method=method,
        time_order=visits,
    )
    _, ls = fits.lsmeans("visit", df_method=df_method)
    _, _, ct = fits.contrasts_vs_reference("visit", df_method=df_method)
    zero, nan = np.zeros((R, 1)), np.full((R, 1), np.nan)
    out = {
        "means": ls["estimate"],
        "se_means": ls["se"],
        "df_means": ls["df"],
        "diffs": np.hstack([zero, ct["estimate"]]),
        "se_diffs": np.hstack([zero, ct["se"]]),
        "df": np.hstack([nan, ct["df"]]),
        "p": np.hstack([nan, ct["p"]]),
        "theta": fits.theta,
        "converged": fits.converged,
    }
    if covariance == G_SIDE:
        out["s2u"], out["s2"] = fits.theta[:, 0], fits.theta[:, 1]
    return out
