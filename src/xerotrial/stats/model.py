"""Fit a linear mixed model by REML or ML, and the result object with its inference.

Example
-------
>>> import numpy as np, pandas as pd
>>> rng = np.random.default_rng(3)
>>> n, t = 12, 4
>>> df = pd.DataFrame({"id": np.repeat(np.arange(n), t),
...                    "visit": np.tile(["v1", "v2", "v3", "v4"], n)})
>>> df["y"] = rng.normal(size=n)[df["id"]] + 0.5 * (df["visit"] == "v4") + rng.normal(size=n * t)
>>> res = fit(df, "y ~ visit", subject="id", time="visit", covariance="cs")
>>> res.converged, res.n_obs, res.n_subjects
(True, 48, 12)
>>> table = res.lsmeans("visit", df_method="kenward-roger")
>>> list(table.columns)
['visit', 'estimate', 'se', 'df', 't', 'p', 'lower', 'upper']
"""

from __future__ import annotations

import itertools
import warnings
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from . import coding
from .design import Design, build_design
from .errors import ConvergenceError, ConvergenceWarning, DataValidationError
from .inference import DF_METHODS, KRAdjustment, Test, kr_adjustment, t_tests, wald_test
from .marginal import MarginalCovariance, RandomEffectsCovariance, RepeatedCovariance
from .optimize import OptimizationResult, newton_raphson
from .options import COVARIANCES
from .reml import NotPositiveDefiniteError, RemlEngine

__all__ = ["fit", "MixedModelResult", "COVARIANCES"]



def fit(
    data: pd.DataFrame,
    formula: str,
    subject: str,
    time: str | None = None,
    covariance: str = "un",
    group: str | None = None,
    method: str = "REML",
    time_order: list[str] | None = None,
    random_slopes: list[str] | None = None,
    source: str = "data",
    kr_information: str = "observed",
) -> MixedModelResult:
    """Fit ``formula`` with the given covariance by REML (or ML).

    ``covariance`` is ``random-intercept`` (G-side: a random intercept per subject, with
    optional ``random_slopes`` and an unstructured G) or an R-side structure over the levels of
    ``time`` (``un``, ``cs``, ``csh``, ``ar1``, ``arh1``, ``toep``, ``toeph``, ``adh``,
    ``diag``), optionally one per level of ``group`` (SAS's GROUP=).

    ``kr_information`` is the information matrix behind the covariance of the covariance
    parameters in the Kenward-Roger adjustment: ``observed`` (SAS PROC MIXED) or ``expected``
    (R's pbkrtest). Satterthwaite always uses the observed one (SAS, lmerTest).
    """
    if kr_information not in ("observed", "expected"):
        raise DataValidationError("kr_information must be 'observed' or 'expected'")
    if covariance not in COVARIANCES:
        raise DataValidationError(
            f"unknown covariance {covariance!r}; choose one of {', '.join(COVARIANCES)}"
        )
    g_side = covariance == "random-intercept"
    if not g_side and not time:
        raise DataValidationError(f"covariance {covariance!r} needs a time factor (--time)")
    if g_side and group:
        raise DataValidationError("--group applies to R-side structures, not random-intercept")
    design = build_design(
        data,
        formula,
        subject=subject,
        time=time,
        group=group,
        time_order=time_order,
        random=(random_slopes or []) if g_side else None,
        source=source,
    )
    if g_side:
        names = ["Intercept", *(random_slopes or [])]
        cov: MarginalCovariance = RandomEffectsCovariance(len(names), names)
    else:
        cov = RepeatedCovariance(covariance, len(design.time_levels), _group_labels(group, design))
    engine = RemlEngine(
        design.y, design.X, design.subject, design.time, design.group, design.Z, cov, method
    )
    theta0 = _start_values(design, cov, g_side)
    try:
        opt = newton_raphson(engine, theta0)
    except NotPositiveDefiniteError as exc:
        raise ConvergenceError(
            f"{source}: the starting values give a covariance matrix that is not positive "
            f"definite ({exc}); the model may be over-parameterised for these data"
        ) from exc
    result = MixedModelResult(
        design, cov, engine, opt, covariance, method.upper(), subject, time, kr_information
    )
    if not opt.converged:
        warnings.warn(
            f"{source}: the {covariance} model did not converge (criterion {opt.criterion:.3g} "
            f"after {opt.iterations} iterations); treat the estimates with caution",
            ConvergenceWarning,
            stacklevel=2,
        )
    if opt.boundary:
        names = [cov.param_names[i] for i in opt.boundary]
        warnings.warn(
            f"{source}: covariance parameter(s) {names} estimated at the boundary (zero); "
            "G is not positive definite and inference treats them as fixed",
            ConvergenceWarning,
            stacklevel=2,
        )
    return result


def _group_labels(group: str | None, design: Design) -> list[str] | None:
    if not group:
        return None
    return [f"{group} {lv}" for lv in design.group_levels]


def _start_values(design: Design, cov: MarginalCovariance, g_side: bool) -> np.ndarray:
    """Moment estimates from OLS residuals: a good start saves Newton iterations."""
    beta, *_ = np.linalg.lstsq(design.X, design.y, rcond=None)
    r = design.y - design.X @ beta
    total = float(np.mean(r**2)) if len(r) else 1.0
    total = total if total > 0 else 1.0
    subj = design.subject
    if g_side:
        counts = np.bincount(subj)
        sub_mean = np.bincount(subj, weights=r) / np.maximum(counts, 1)
        n_free = max(len(r) - len(counts), 1)
        within = float(np.sum((r - sub_mean[subj]) ** 2)) / n_free
        # ANOVA: var(subject means) = s2_u + s2 * mean(1/n_i)
        between = float(np.mean(sub_mean**2)) - within * float(np.mean(1.0 / counts))
        z_var = np.var(design.Z, axis=0) if design.Z is not None else np.ones(1)
        return cov.start([], {"total_var": total, "within_var": within,
                              "between_var": between, "z_var": z_var})
    t = len(design.time_levels)
    S = int(subj.max()) + 1
    covs = []
    for g in range(1 if design.group is None else len(design.group_levels)):
        rows = np.ones(len(r), bool) if design.group is None else design.group == g
        R = np.zeros((S, t))
        present = np.zeros((S, t), bool)
        R[subj[rows], design.time[rows]] = r[rows]
        present[subj[rows], design.time[rows]] = True
        n = present.T.astype(float) @ present
        with np.errstate(invalid="ignore", divide="ignore"):
            c = np.where(n >= 2, (R.T @ R) / np.maximum(n - 1, 1), 0.0)
            v = np.diag(R.T @ R) / np.diag(n)
        v = np.where(np.isfinite(v) & (v > 0), v, total)
        np.fill_diagonal(c, v)
        covs.append(c)
    return cov.start(covs, {})


@dataclass
class MixedModelResult:
    """A fitted model. Tables come back as pandas DataFrames; ``to_dict`` gives plain JSON."""

    design: Design
    cov: MarginalCovariance
    engine: RemlEngine
    opt: OptimizationResult
    covariance: str
    method: str
    subject: str
    time: str | None
    kr_information: str = "observed"

    # ------------------------------------------------------------------ basic facts
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
    def converged(self) -> bool:
        return self.opt.converged

    @property
    def n_obs(self) -> int:
        return int(self.engine.N)

    @property
    def n_subjects(self) -> int:
        return int(len(np.unique(self.design.subject)))

    @property
    def neg2_loglik(self) -> float:
        """-2 (restricted) log-likelihood as SAS prints it (lme4's REML criterion)."""
        return self.opt.evaluation.objective

    @property
    def n_cov_params(self) -> int:
        return int(len(self.theta) - len(self.opt.boundary))

    def information_criteria(self) -> dict[str, float]:
        """AIC, AICC and BIC as SAS defines them (BIC uses the number of subjects)."""
        d = self.n_cov_params + (len(self.beta) if self.method == "ML" else 0)
        n_star = self.n_obs - (len(self.beta) if self.method == "REML" else 0)
        f = self.neg2_loglik
        aicc = f + 2 * d * n_star / (n_star - d - 1) if n_star - d - 1 > 0 else np.nan
        return {
            "AIC": f + 2 * d,
            "AICC": aicc,
            "BIC": f + d * np.log(self.n_subjects),
        }

    @cached_property
    def free(self) -> np.ndarray:
        mask = np.ones(len(self.theta), dtype=bool)
        mask[self.opt.boundary] = False
        return mask

    @cached_property
    def theta_cov(self) -> np.ndarray:
        """Asymptotic covariance of the free covariance parameters: 2 H^-1, with H the observed
        Hessian of -2 log-likelihood (as SAS and lmerTest)."""
        H = self.opt.evaluation.hessian[np.ix_(self.free, self.free)]
        try:
            return 2.0 * np.linalg.inv(H)
        except np.linalg.LinAlgError:
            return 2.0 * np.linalg.pinv(H)

    @cached_property
    def _theta_cov_kr(self) -> np.ndarray:
        if self.kr_information == "observed":
            return self.theta_cov
        H = self.opt.evaluation.expected[np.ix_(self.free, self.free)]
        return 2.0 * np.linalg.pinv(H)

    @cached_property
    def _kr_pieces(self):
        P, Q, R = self.engine.kr_pieces(self.theta)
        f = self.free
        return P[f], Q[np.ix_(f, f)], R[np.ix_(f, f)]

    def kr(self, linear: bool = False) -> KRAdjustment:
        P, Q, R = self._kr_pieces
        W = self._theta_cov_kr
        return kr_adjustment(self.Phi, W, P, Q, R, linear or self.cov.linear)

    @cached_property
    def _kr_full(self) -> KRAdjustment:
        return self.kr(linear=False)

    @cached_property
    def _kr_linear(self) -> KRAdjustment:
        return self.kr(linear=True)

    def covariance_parameters(self) -> pd.DataFrame:
        """Estimates and asymptotic SEs of the covariance parameters, SAS names and order."""
        se = np.full(len(self.theta), np.nan)
        se[self.free] = np.sqrt(np.clip(np.diag(self.theta_cov), 0.0, None))
        return pd.DataFrame(
            {
                "parameter": self.cov.param_names,
                "estimate": self.theta,
                "se": se,
                "boundary": ~self.free,
            }
        )

    def covariance_matrix(self, group: int = 0) -> np.ndarray:
        """The marginal covariance of one subject over all time levels, in level order."""
        if isinstance(self.cov, RepeatedCovariance):
            return self.cov.full_matrix(self.theta, group)
        t = len(self.design.time_levels) or 1
        if self.design.Z is not None and self.design.Z.shape[1] > 1:
            raise ValueError("the covariance over time depends on the slopes' values")
        return self.theta[0] * np.ones((t, t)) + self.theta[-1] * np.eye(t)

    # ------------------------------------------------------------------ degrees of freedom
    @cached_property
    def _rank_x(self) -> int:
        return int(np.linalg.matrix_rank(self.design.X))

    def _random_blocks(self) -> list[tuple[set[str], np.ndarray]]:
        """Random effects as (variables, Z columns), e.g. ({subject}, subject indicators)."""
        d = self.design
        n_s = len(d.subject_levels)
        ind = np.zeros((len(d.y), n_s))
        ind[np.arange(len(d.y)), d.subject] = 1.0
        blocks = [({self.subject}, ind)]
        for j, var in enumerate(d.random_vars, start=1):
            blocks.append(({var, self.subject}, ind * d.Z[:, [j]]))
        return blocks

    @cached_property
    def _term_df_fixed(self) -> dict[str, dict[str, float]]:
        """Per fixed term, the df of the fixed-df methods."""
        d = self.design
        N = self.n_obs
        out: dict[str, dict[str, float]] = {}
        resid = float(N - self._rank_x)
        g_side = isinstance(self.cov, RandomEffectsCovariance)
        # containment
        contain: dict[str, float] = {}
        if g_side:
            blocks = self._random_blocks()
            Zall = np.column_stack([b for _, b in blocks])
            resid_xz = float(N - np.linalg.matrix_rank(np.column_stack([d.X, Zall])))
            contrib = []
            acc = d.X
            for _, zb in blocks:
                r0 = np.linalg.matrix_rank(acc)
                acc = np.column_stack([acc, zb])
                contrib.append(float(np.linalg.matrix_rank(acc) - r0))
            for term in d.term_columns:
                tv = _term_variables(term, d)
                cands = [c for (vs, _), c in zip(blocks, contrib, strict=True) if tv <= vs]
                contain[term] = min(cands) if cands else resid_xz
        else:
            contain = dict.fromkeys(d.term_columns, resid)
        # between-within
        subj = d.subject
        n_s = self.n_subjects
        between_cols = []
        for j in range(d.X.shape[1]):
            col = pd.Series(d.X[:, j]).groupby(subj).nunique()
            between_cols.append(bool((col <= 1).all()))
        between_cols = np.array(between_cols)
        # SAS classifies whole effects: an effect that changes within any subject is a
        # within-subject effect, all of its columns included.
        term_between = {t: bool(np.all(between_cols[c])) for t, c in d.term_columns.items()}
        bcols = [c for t, cs in d.term_columns.items() if term_between[t] for c in cs]
        rank_b = int(np.linalg.matrix_rank(d.X[:, bcols])) if bcols else 0
        df_between = float(n_s - rank_b)
        df_within = float(N - n_s - (self._rank_x - rank_b))
        all_between = self.covariance == "un"
        for term in d.term_columns:
            is_within = (not all_between) and not term_between[term]
            out[term] = {
                "residual": resid,
                "containment": contain[term],
                "between-within": df_within if is_within else df_between,
            }
        return out

    def _fixed_df_for(self, L: np.ndarray, df_method: str, term: str | None = None) -> float:
        table = self._term_df_fixed
        if term is not None and term in table:
            return table[term][df_method]
        last = None
        for t, cols in self.design.term_columns.items():
            if np.any(np.abs(np.atleast_2d(L)[:, cols]) > 0):
                last = t
        if last is None:
            last = next(iter(table))
        return table[last][df_method]

    def test(
        self, L: np.ndarray, df_method: str = "kenward-roger", term: str | None = None
    ) -> Test:
        """Wald test of L b = 0 (t test for one row, F test for several)."""
        _check_df(df_method)
        kr = None
        if df_method == "kenward-roger":
            kr = self._kr_full
        elif df_method == "kenward-roger-linear":
            kr = self._kr_linear
        fixed_df = None
        if df_method in ("residual", "containment", "between-within"):
            fixed_df = self._fixed_df_for(L, df_method, term)
        P, W = None, None
        if df_method == "satterthwaite":
            P, W = self._kr_pieces[0], self.theta_cov
        return wald_test(L, self.beta, self.Phi, df_method, fixed_df, P, W, kr)

    # ------------------------------------------------------------------ tables
    def t_table(
        self, L: np.ndarray, df_method: str = "kenward-roger", terms: list | None = None
    ) -> pd.DataFrame:
        """t tests of each row of L: estimate, se, df, t, p, lower, upper (95%).

        ``terms`` names, per row, the model term whose df a fixed-df method uses (default: the
        last term with a non-zero coefficient, as SAS does for ESTIMATE statements).
        """
        return pd.DataFrame(self._t_columns(L, df_method, terms))

    def _t_columns(
        self, L: np.ndarray, df_method: str, terms: list | None = None
    ) -> dict[str, np.ndarray]:
        """t tests of each row of L: estimate, se, df, t, p, lower, upper (95%).

        ``terms`` names, per row, the model term whose df a fixed-df method uses (default: the
        last term with a non-zero coefficient, as SAS does for ESTIMATE statements).
        """
        _check_df(df_method)
        L = np.atleast_2d(np.asarray(L, dtype=float))
        kr = P = W = fixed = None
        if df_method == "kenward-roger":
            kr = self._kr_full
        elif df_method == "kenward-roger-linear":
            kr = self._kr_linear
        elif df_method == "satterthwaite":
            P, W = self._kr_pieces[0], self.theta_cov
        else:
            terms = terms or [None] * len(L)
            pairs = zip(L, terms, strict=True)
            fixed = np.array([self._fixed_df_for(r[None, :], df_method, t) for r, t in pairs])
        return t_tests(L, self.beta, self.Phi, df_method, fixed, P, W, kr)

    def fixed_effects(self, df_method: str = "kenward-roger") -> pd.DataFrame:
        """Estimate, SE, df, t, p and 95% CI of each fixed-effect coefficient."""
        col_term = {c: t for t, cols in self.design.term_columns.items() for c in cols}
        p = len(self.beta)
        cols = {"term": self.design.column_names}
        cols.update(self._t_columns(np.eye(p), df_method, [col_term.get(j) for j in range(p)]))
        return pd.DataFrame(cols)

    def lsmeans(
        self, factor: str, by: str | None = None, df_method: str = "kenward-roger"
    ) -> pd.DataFrame:
        """LS means of ``factor`` (within each level of ``by``), SAS/emmeans conventions."""
        L, keys = self._lsmeans_matrix(factor, by)
        term = _lsmeans_term(self.design, factor, by)
        cols = {k: [key[k] for key in keys] for k in keys[0]}
        cols.update(self._t_columns(L, df_method, [term] * len(L)))
        return pd.DataFrame(cols)

    def contrasts_vs_reference(
        self,
        factor: str,
        reference: str | None = None,
        by: str | None = None,
        df_method: str = "kenward-roger",
    ) -> pd.DataFrame:
        """Each level of ``factor`` minus ``reference`` (first level by default), within ``by``."""
        levels = self.design.factors[factor]
        reference = levels[0] if reference is None else str(reference)
        if reference not in levels:
            raise DataValidationError(
                f"--reference {reference!r} is not a level of {factor!r}; levels are {levels}"
            )
        L, keys = self._lsmeans_matrix(factor, by)
        pairs = []
        for b in self.design.factors[by] if by else [None]:
            idx = {k[factor]: i for i, k in enumerate(keys) if by is None or k[by] == b}
            pairs += [(lv, b, idx[lv], idx[reference]) for lv in levels if lv != reference]
        return self._difference_table(factor, by, L, pairs, reference, df_method)

    def pairwise(
        self, factor: str, by: str | None = None, df_method: str = "kenward-roger"
    ) -> pd.DataFrame:
        """All pairwise differences of the LS means of ``factor`` (SAS's PDIFF)."""
        L, keys = self._lsmeans_matrix(factor, by)
        pairs = []
        for b in self.design.factors[by] if by else [None]:
            sel = [(i, k) for i, k in enumerate(keys) if by is None or k[by] == b]
            for (i, ki), (j, kj) in itertools.combinations(sel, 2):
                pairs.append((f"{ki[factor]} - {kj[factor]}", b, i, j))
        return self._difference_table(factor, by, L, pairs, None, df_method)

    def _difference_table(self, factor, by, L, pairs, reference, df_method) -> pd.DataFrame:
        term = _lsmeans_term(self.design, factor, by)
        D = np.array([L[i] - L[j] for _, _, i, j in pairs]).reshape(len(pairs), L.shape[1])
        cols: dict = {
            "contrast": [lv if reference is None else f"{lv} - {reference}" for lv, *_ in pairs]
        }
        if by:
            cols[by] = [b for _, b, _, _ in pairs]
        cols.update(self._t_columns(D, df_method, [term] * len(pairs)))
        return pd.DataFrame(cols)

    def type3(self, df_method: str = "kenward-roger") -> pd.DataFrame:
        """Type III F tests per model term (joint tests of each term's contrasts)."""
        rows = []
        for term in self.design.term_columns:
            if term in ("1", "Intercept"):
                continue
            L = self._type3_matrix(term)
            t = self.test(L, df_method, term=term)
            F = t.statistic**2 if t.num_df == 1 else t.statistic
            rows.append(
                {"term": term, "num_df": t.num_df, "den_df": t.den_df, "F": F, "p": t.p_value}
            )
        return pd.DataFrame(rows)

    # ------------------------------------------------------------------ reference grid
    @cached_property
    def _grid_codes(self) -> np.ndarray:
        """The reference grid: every combination of factor levels, as level codes (G x F)."""
        sizes = [len(v) for v in self.design.factors.values()]
        if not sizes:
            return np.zeros((1, 0), dtype=int)
        return np.array(list(itertools.product(*[range(k) for k in sizes])), dtype=int)

    def _grid_matrix(self, numeric_delta: str | None = None, at_zero: bool = False) -> np.ndarray:
        """Model matrix of the reference grid, numeric covariates at their mean (at zero with
        ``at_zero``; +1 for the one named by ``numeric_delta``, for slopes by differencing)."""
        d = self.design
        codes = self._grid_codes
        means = {v: 0.0 if at_zero else float(np.mean(d.columns[v])) for v in d.numeric}
        if numeric_delta:
            means[numeric_delta] += 1.0
        if d.terms is not None:
            cols = {f: codes[:, j] for j, f in enumerate(d.factors)}
            cols.update({v: np.full(len(codes), m) for v, m in means.items()})
            return coding.model_matrix_arrays(cols, len(codes), d.terms, d.factors)[0]
        grid = pd.DataFrame(
            {f: pd.Categorical.from_codes(codes[:, j], categories=d.factors[f])
             for j, f in enumerate(d.factors)}
        )
        for v, m in means.items():
            grid[v] = m
        return d.model_matrix(grid)

    @cached_property
    def _reference_grid(self) -> tuple[np.ndarray, np.ndarray]:
        """Grid level codes and their model matrix."""
        return self._grid_codes, self._grid_matrix()

    def _lsmeans_matrix(self, factor: str, by: str | None):
        cache = self.__dict__.setdefault("_lsm_cache", {})
        if (factor, by) not in cache:
            cache[(factor, by)] = self._lsmeans_matrix_new(factor, by)
        return cache[(factor, by)]

    def _lsmeans_matrix_new(self, factor: str, by: str | None):
        d = self.design
        for f in (factor, by):
            if f is not None and f not in d.factors:
                raise DataValidationError(
                    f"{f!r} is not a factor of the model; factors are {list(d.factors)}"
                )
        codes, Xg = self._reference_grid
        names = list(d.factors)
        fj = names.index(factor)
        bj = names.index(by) if by else None
        keys, rows = [], []
        for bi, b in enumerate(d.factors[by] if by else [None]):
            for li, lv in enumerate(d.factors[factor]):
                mask = codes[:, fj] == li
                if by:
                    mask &= codes[:, bj] == bi
                rows.append(Xg[mask].mean(axis=0))
                keys.append({factor: lv, **({by: b} if by else {})})
        return np.array(rows), keys

    def _type3_matrix(self, term: str) -> np.ndarray:
        """Rows of the Type 3 hypothesis of ``term``.

        The contrasts among cell means split into components, one per subset of a term's
        factors (with its numeric variables as slopes). A term's hypothesis holds its own
        component plus every sub-component that is not a model term itself (so ``a:b`` without
        ``a`` and ``b`` tests all cell differences, as SAS does); with a hierarchical model this
        is the usual interaction contrast. Numeric covariates are held at zero, as in SAS
        (emmeans's ``joint_tests`` holds them at their mean instead).
        """
        d = self.design
        tv = _term_variables(term, d)
        tn = [v for v in d.numeric if v in tv]
        tf = [v for v in d.factors if v in tv]
        model_terms = {frozenset(_term_variables(t, d)) for t in d.term_columns}
        rows = []
        for k in range(len(tf) + 1):
            for sub in itertools.combinations(tf, k):
                comp = frozenset(tn) | frozenset(sub)
                if not comp:
                    continue  # the intercept
                if comp != frozenset(tv) and comp in model_terms:
                    continue
                rows.append(self._component_contrasts(list(sub), tn))
        return np.vstack(rows)

    def _component_contrasts(self, factors: list[str], numerics: list[str]) -> np.ndarray:
        """Difference contrasts among the (slope-)means of ``factors``' level combinations."""
        d = self.design
        names = list(d.factors)
        codes = self._grid_codes
        # SAS's Type 3 hypotheses hold covariates at zero (SAS does not centre them)
        Xg = self._grid_matrix(at_zero=True)
        for v in numerics:  # slopes: derivative of the prediction in the numeric variable
            Xg = self._grid_matrix(numeric_delta=v, at_zero=True) - Xg
        if not factors:
            return Xg.mean(axis=0)[None, :]
        means = []
        for cell in itertools.product(*[range(len(d.factors[f])) for f in factors]):
            mask = np.ones(len(codes), dtype=bool)
            for f, lv in zip(factors, cell, strict=True):
                mask &= codes[:, names.index(f)] == lv
            means.append(Xg[mask].mean(axis=0))
        C = np.ones((1, 1))
        for f in factors:
            k = len(d.factors[f])
            C = np.kron(C, np.hstack([np.eye(k - 1), -np.ones((k - 1, 1))]))
        return C @ np.array(means)

    # ------------------------------------------------------------------ output
    def to_dict(
        self,
        df_method: str = "kenward-roger",
        lsmeans: str | None = None,
        by: str | None = None,
        reference: str | None = None,
    ) -> dict:
        """Everything ``xerotrial fit --json`` prints."""
        cp = self.covariance_parameters()
        matrix = self.covariance_matrix(0)
        out = {
            "n_obs": self.n_obs,
            "n_subjects": self.n_subjects,
            "n_missing_response": self.design.n_missing_response,
            "n_missing_other": self.design.n_missing_other,
            "method": self.method,
            "df_method": df_method,
            "converged": self.converged,
            "iterations": self.opt.iterations,
            "convergence_criterion": self.opt.criterion,
            "boundary": [self.cov.param_names[i] for i in self.opt.boundary],
            "neg2_reml_loglik" if self.method == "REML" else "neg2_loglik": self.neg2_loglik,
            "information_criteria": self.information_criteria(),
            "covariance": {
                "structure": self.covariance,
                "parameters": dict(zip(cp["parameter"], cp["estimate"].astype(float), strict=True)),
                "se": {
                    k: (None if np.isnan(v) else float(v))
                    for k, v in zip(cp["parameter"], cp["se"], strict=True)
                },
                "time_levels": list(self.design.time_levels),
                "matrix": matrix.tolist(),
            },
            "fixed": _records(self.fixed_effects(df_method)),
            "type3": _records(self.type3(df_method)),
        }
        if self.design.group_levels and isinstance(self.cov, RepeatedCovariance):
            out["covariance"]["matrices_by_group"] = {
                lv: self.covariance_matrix(g).tolist()
                for g, lv in enumerate(self.design.group_levels)
            }
        if lsmeans:
            out["lsmeans"] = _records(self.lsmeans(lsmeans, by, df_method))
            out["contrasts"] = _records(
                self.contrasts_vs_reference(lsmeans, reference, by, df_method)
            )
        return out


def _check_df(df_method: str) -> None:
    if df_method not in DF_METHODS:
        raise DataValidationError(
            f"unknown df method {df_method!r}; choose one of {', '.join(DF_METHODS)}"
        )


def _records(frame: pd.DataFrame) -> list[dict]:
    out = []
    for rec in frame.to_dict(orient="records"):
        out.append({k: (v.item() if isinstance(v, np.generic) else v) for k, v in rec.items()})
    return out


def _term_variables(term: str, design: Design) -> set[str]:
    if term in ("1", "Intercept"):
        return set()
    names = set(design.factors) | set(design.numeric)
    return {p.strip() for p in term.split(":") if p.strip() in names}


def _lsmeans_term(design: Design, factor: str, by: str | None) -> str | None:
    want = {factor} | ({by} if by else set())
    for term in design.term_columns:
        if _term_variables(term, design) == want:
            return term
    for term in design.term_columns:
        if _term_variables(term, design) == {factor}:
            return term
    return None

