"""Fit a linear mixed model by REML or ML, and the result object with its inference.

``fit`` is one replicate of the engine's replicate fits (``replicates.py``); this module adds
the tables (pandas DataFrames) and the JSON view the command line prints.

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
from functools import cached_property

import numpy as np
import pandas as pd

from . import grid
from .covariance import (
    G_SIDE,
    SPATIAL,
    STRUCTURES,
    check_name,
    check_parameters,
    n_covariance_parameters,
)
from .design import Design, build_design, formula_variables, left_out_note
from .errors import ConvergenceError, ConvergenceWarning, DataValidationError, DataWarning
from .inference import Test, check_df_method
from .marginal import CombinedCovariance, MarginalCovariance, RepeatedCovariance
from .options import COVARIANCES
from .reml import RemlEngine
from .replicates import ReplicateFit, fit_design

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
    weights: str | None = None,
    vcov: str = "model",
    coordinates: list[str] | None = None,
    random: str | None = None,
) -> MixedModelResult:
    """Fit ``formula`` with the given covariance by REML (or ML).

    ``weights`` names a column of observation weights (SAS's WEIGHT, mmrm's ``weights``):
    subject i's residual covariance is W_i^-1/2 R_i W_i^-1/2. The engine fits the equivalent
    unweighted model of the rows of y and X times sqrt(w); -2 log L adds the Jacobian,
    -sum(log w). R-side structures only (SAS weights R alone, not G).

    ``covariance`` is ``random-intercept`` (G-side: a random intercept per subject, with
    optional ``random_slopes`` and an unstructured G) or an R-side structure over the levels of
    ``time`` (``un``, ``cs``, ``csh``, ``ar1``, ``arh1``, ``toep``, ``toeph``, ``adh``,
    ``diag``), optionally one per level of ``group`` (SAS's GROUP=).

    The spatial structures ``sp-exp``, ``sp-gau`` and ``sp-pow`` (SAS SP(EXP), SP(GAU),
    SP(POW)) place the observations at ``coordinates`` (numeric columns: one for a visit's
    actual day, several for Euclidean distance in more dimensions) instead of ``time``.

    ``random`` adds random effects beside an R-side structure (SAS RANDOM and REPEATED
    together): ``"~ 1"`` a random intercept per subject, ``"~ 1 + x"`` with a slope on
    ``x`` (G unstructured), so that V_i = Z_i G Z_i' + R_i. Refused beside a structure that
    already holds a covariance shared by all pairs of times (un, cs, csh, toep, toeph): the
    random intercept's variance would not be identifiable.

    ``vcov`` is the covariance of the fixed effects every test and table uses: ``model``
    ((X'V^-1X)^-1) or a sandwich estimator, ``empirical`` (SAS EMPIRICAL, mmrm's CR0),
    ``empirical-jackknife`` (CR3) or ``empirical-bias-reduced`` (CR2), see ``robust.py``;
    with these, Satterthwaite df are mmrm's for the empirical covariance and Kenward-Roger is
    refused.

    ``kr_information`` is the information matrix behind the covariance of the covariance
    parameters in the Kenward-Roger adjustment: ``observed`` (SAS PROC MIXED) or ``expected``
    (R's pbkrtest). Satterthwaite always uses the observed one (SAS, lmerTest).

    Refused (``DataValidationError``): a formula factor with one level in the rows used, a
    structure the time levels cannot identify or with more than
    ``options.MAX_COVARIANCE_PARAMETERS`` parameters, and more covariance parameters than
    residual degrees of freedom (N - rank X). Warned: rows left out (``DataWarning``, with their
    file lines), no between-subject degrees of freedom (one subject, say: ``ConvergenceWarning``).
    """
    if kr_information not in ("observed", "expected"):
        raise DataValidationError("kr_information must be 'observed' or 'expected'")
    check_name(covariance)
    if str(method).upper() not in ("REML", "ML"):
        raise DataValidationError(f"method {method!r} is not 'REML' or 'ML'")
    g_side = covariance == G_SIDE
    spatial = covariance in SPATIAL
    if spatial and not coordinates:
        raise DataValidationError(
            f"covariance {covariance!r} is spatial: it needs the coordinate column(s) that "
            "place each observation (--coordinates COL[,COL]), e.g. the actual study day"
        )
    if coordinates and not spatial:
        raise DataValidationError(
            f"--coordinates places observations for a spatial structure (sp-exp, sp-gau, "
            f"sp-pow), not for {covariance!r}"
        )
    if not g_side and not spatial and not time:
        raise DataValidationError(f"covariance {covariance!r} needs a time factor (--time)")
    if g_side and group:
        raise DataValidationError("--group applies to R-side structures, not random-intercept")
    if g_side and weights:
        raise DataValidationError(
            "--weights applies to R-side structures, not random-intercept (SAS weights the "
            "residual covariance R, not G)"
        )
    slopes = _random_terms(random, covariance) if random else None
    design = build_design(
        data,
        formula,
        subject=subject,
        time=time,
        group=group,
        time_order=time_order,
        random=(random_slopes or []) if g_side else slopes,
        source=source,
        weights=weights,
        coordinates=coordinates,
    )
    note = left_out_note(design, source)
    if note:
        warnings.warn(note, DataWarning, stacklevel=2)
    _check_identifiable(design, formula, covariance, time, source)
    root_w = np.sqrt(design.weights) if design.weights is not None else None
    fits = fit_design(
        design,  # the fixed-df methods read its (unweighted) X
        (design.y if root_w is None else design.y * root_w)[None],
        covariance,
        subject,
        time,
        group,
        method,
        X=None if root_w is None else (design.X * root_w[:, None])[None],
        kr_information=kr_information,
        exact_ranks=True,
        source=source,
        vcov=vcov,
        random=slopes is not None,
    )
    if fits.failed[0]:
        raise ConvergenceError(
            f"{source}: the starting values give a covariance matrix that is not positive "
            "definite (V or X'V^-1X); the model may be over-parameterised for these data"
        )
    result = MixedModelResult(fits)
    between = _between_subject_note(design, source)
    if between:
        warnings.warn(between, ConvergenceWarning, stacklevel=2)
    opt = fits.opt
    if not opt.converged[0]:
        warnings.warn(
            f"{source}: the {covariance} model did not converge (criterion "
            f"{opt.criterion[0]:.3g} after {opt.iterations[0]} iterations); treat the "
            "estimates with caution",
            ConvergenceWarning,
            stacklevel=2,
        )
    if opt.boundary(0):
        names = [fits.cov.param_names[i] for i in opt.boundary(0)]
        warnings.warn(
            f"{source}: covariance parameter(s) {names} estimated at the boundary (zero); "
            "G is not positive definite and inference treats them as fixed",
            ConvergenceWarning,
            stacklevel=2,
        )
    return result


#: R-side structures with a covariance parameter that every pair of times shares (or one per
#: pair): beside them a random intercept's variance is not identifiable
_ABSORBS_INTERCEPT = ("un", "cs", "csh", "toep", "toeph")


def _random_terms(random: str, covariance: str) -> list[str]:
    """The slope variables of a ``--random`` formula ("~ 1", "~ 1 + x + z"), checked."""
    if covariance == G_SIDE:
        raise DataValidationError(
            "--random adds random effects beside an R-side --covariance (SAS RANDOM with "
            "REPEATED); random-intercept is the RANDOM statement alone (slopes: random_slopes)"
        )
    if covariance in _ABSORBS_INTERCEPT:
        raise DataValidationError(
            f"a random intercept beside {covariance!r} is not identifiable: {covariance} "
            "already has a covariance that every pair of times shares, which the intercept's "
            "variance would duplicate. Use ar1, arh1, adh, diag or a spatial structure"
        )
    text = random.strip()
    if not text.startswith("~"):
        raise DataValidationError(f"--random {random!r} is not a formula like '~ 1' or '~ 1 + x'")
    terms = [t.strip() for t in text[1:].split("+")]
    if not terms or terms[0] != "1" or any(not t.isidentifier() for t in terms[1:]):
        raise DataValidationError(
            f"--random {random!r}: give '~ 1' (a random intercept) or '~ 1 + x' (and slopes "
            "on numeric columns)"
        )
    return terms[1:]


def _check_identifiable(
    design: Design, formula: str, covariance: str, time: str | None, source: str
) -> None:
    """Refuse what the data cannot estimate: a formula factor with one level in the rows used
    (no effect to estimate or test), a structure ``check_parameters`` refuses, or more
    covariance parameters than residual degrees of freedom (the N - rank(X) error contrasts
    that REML, and ML past the fixed effects, learn the covariance from)."""
    _, variables = formula_variables(formula)
    for v in variables:
        if v in design.factors and len(np.unique(design.columns[v])) < 2:
            level = design.factors[v][int(design.columns[v][0])]
            raise DataValidationError(
                f"{source}: column {v!r} has one level ({level!r}) in the rows used: a factor "
                "in the formula needs two or more levels (with one it has no effect to "
                f"estimate or test). Remove {v!r} from the formula (e.g. "
                f"'{design.response} ~ 1'), or add the data of its other levels",
                file=source,
                column=v,
                value=level,
                rule="a formula factor needs two or more levels",
            )
    n, p = design.X.shape
    times = len(design.time_levels)
    groups = len(design.group_levels) if design.group_levels else 1
    g_side = covariance == G_SIDE
    most = int(np.bincount(design.subject).max()) if g_side else times
    k = check_parameters(covariance, most, groups, len(design.random_vars), time, source)
    if k > n - p:
        fewer = [
            f"{s} ({c})"
            for c, s in sorted((n_covariance_parameters(s, times, groups), s) for s in STRUCTURES)
            if c <= n - p and times >= STRUCTURES[s].min_times and s not in SPATIAL
        ]
        instead = f"a structure with fewer parameters ({', '.join(fewer)}) or " if fewer else ""
        raise DataValidationError(
            f"{source}: the {covariance} model has {k:,} covariance parameters but the data "
            f"have {n - p} residual degrees of freedom ({n} observations - {p} fixed-effect "
            "columns) to estimate them from, so they are not identifiable. Use "
            f"{instead}the data of more subjects",
            file=source,
            rule="more covariance parameters than residual degrees of freedom",
        )


def _between_subject_note(design: Design, source: str) -> str | None:
    """A warning when no degrees of freedom are left between subjects (one subject, or as few
    subjects as between-subject fixed-effect columns): the variance between subjects is then not
    identifiable and between-subject tests have 0 df, however well the fit converged."""
    from .fixed_df import _between_columns

    n_subjects = len(design.subject_levels)
    cols = np.flatnonzero(_between_columns(design))
    if n_subjects > len(cols):
        return None
    rank = int(np.linalg.matrix_rank(design.X[:, cols])) if len(cols) else 0
    if n_subjects > rank:
        return None
    names = [design.column_names[j] for j in cols]
    return (
        f"{source}: {n_subjects} subject{'s' * (n_subjects != 1)} for {rank} between-subject "
        f"fixed-effect column{'s' * (rank != 1)} ({', '.join(names)}): no degrees of freedom are "
        "left between subjects, so the variance between subjects is not identifiable (its "
        "estimate and SE mean nothing) and tests of between-subject effects have df 0; the "
        "fit is not a valid analysis of these data"
    )


class _Optimum:
    """One fit's view of the optimiser's result (``iterations``, ``criterion``, ...)."""

    def __init__(self, fits: ReplicateFit) -> None:
        opt = fits.opt
        self.evaluation = opt.evaluation.take(0)
        self.iterations = int(opt.iterations[0])
        self.converged = bool(opt.converged[0])
        self.criterion = float(opt.criterion[0])
        self.boundary = opt.boundary(0)
        self.message = opt.message(0)


class MixedModelResult:
    """A fitted model. Tables come back as pandas DataFrames; ``to_dict`` gives plain JSON."""

    def __init__(self, fits: ReplicateFit) -> None:
        self.fits = fits
        self.design: Design = fits.design
        self.cov: MarginalCovariance = fits.cov
        self.engine: RemlEngine = fits.engine
        self.opt = _Optimum(fits)
        self.covariance = fits.covariance
        self.method = fits.method
        self.subject = fits.subject
        self.time = fits.time
        self.kr_information = fits.kr_information

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
    def vcov(self) -> str:
        """The covariance of the fixed effects the tests use (``robust.VCOV_METHODS``)."""
        return self.fits.vcov

    def fixed_effects_covariance(self) -> np.ndarray:
        """The covariance of the fixed effects the tests use: ``Phi``, or the empirical one
        (SAS's "Empirical Covariance Matrix for Fixed Effects")."""
        if self.vcov == "model":
            return self.Phi
        return self.fits.sandwiches[0].Phi

    @property
    def converged(self) -> bool:
        return self.opt.converged

    @property
    def n_obs(self) -> int:
        return int(self.fits.n_obs[0])

    @property
    def n_subjects(self) -> int:
        return int(self.fits.n_subjects[0])

    @property
    def neg2_loglik(self) -> float:
        """-2 (restricted) log-likelihood as SAS prints it (lme4's REML criterion); with
        weights, of the weighted model (the transformed one's minus sum(log w))."""
        w = self.design.weights
        shift = float(np.log(w).sum()) if w is not None else 0.0
        return float(self.opt.evaluation.objective) - shift

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
        return self.fits.free[0]

    @cached_property
    def theta_cov(self) -> np.ndarray:
        """Asymptotic covariance of the free covariance parameters: 2 H^-1, with H the observed
        Hessian of -2 log-likelihood (as SAS and lmerTest)."""
        return self.fits.theta_cov[0][np.ix_(self.free, self.free)]

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
        if isinstance(self.cov, RepeatedCovariance | CombinedCovariance):
            return self.cov.full_matrix(self.theta, group)
        t = len(self.design.time_levels) or 1
        if self.design.Z is not None and self.design.Z.shape[1] > 1:
            raise ValueError("the covariance over time depends on the slopes' values")
        return self.theta[0] * np.ones((t, t)) + self.theta[-1] * np.eye(t)

    # ------------------------------------------------------------------ tests and tables
    def test(
        self, L: np.ndarray, df_method: str = "kenward-roger", term: str | None = None
    ) -> Test:
        """Wald test of L b = 0 (t test for one row, F test for several)."""
        out = self.fits.test(L, df_method, term)
        return Test(
            out["estimate"][0],
            out["se"][0],
            int(out["num_df"]),
            float(out["den_df"][0]),
            float(out["statistic"][0]),
            float(out["p"][0]),
        )

    def _t_columns(self, L: np.ndarray, df_method: str, terms: list | None = None):
        return {k: v[0] for k, v in self.fits.t_tests(L, df_method, terms).items()}

    def t_table(
        self, L: np.ndarray, df_method: str = "kenward-roger", terms: list | None = None
    ) -> pd.DataFrame:
        """t tests of each row of L: estimate, se, df, t, p, lower, upper (95%).

        ``terms`` names, per row, the model term whose df a fixed-df method uses (default: the
        last term with a non-zero coefficient, as SAS does for ESTIMATE statements).
        """
        return pd.DataFrame(self._t_columns(L, df_method, terms), copy=False)

    def fixed_effects(self, df_method: str = "kenward-roger") -> pd.DataFrame:
        """Estimate, SE, df, t, p and 95% CI of each fixed-effect coefficient."""
        col_term = {c: t for t, cols in self.design.term_columns.items() for c in cols}
        p = len(self.beta)
        cols = {"term": self.design.column_names}
        cols.update(self._t_columns(np.eye(p), df_method, [col_term.get(j) for j in range(p)]))
        return pd.DataFrame(cols, copy=False)  # fresh arrays: no copy needed

    def lsmeans(
        self,
        factor: str,
        by: str | None = None,
        df_method: str = "kenward-roger",
        weights: str = "equal",
    ) -> pd.DataFrame:
        """LS means of ``factor`` (within each level of ``by``), SAS/emmeans conventions;
        ``weights="proportional"``: the other factors at their observed margins (SAS OM)."""
        keys, out = self.fits.lsmeans(factor, by, df_method, weights)
        cols = {k: [key[k] for key in keys] for k in keys[0]}
        cols.update({k: v[0] for k, v in out.items()})
        return pd.DataFrame(cols, copy=False)  # fresh arrays: no copy needed

    def contrasts_vs_reference(
        self,
        factor: str,
        reference: str | None = None,
        by: str | None = None,
        df_method: str = "kenward-roger",
        weights: str = "equal",
    ) -> pd.DataFrame:
        """Each level of ``factor`` minus ``reference`` (first level by default), within ``by``."""
        labels, bys, out = self.fits.contrasts_vs_reference(
            factor, reference, by, df_method, weights
        )
        return self._difference_table(labels, by, bys, out)

    def pairwise(
        self,
        factor: str,
        by: str | None = None,
        df_method: str = "kenward-roger",
        weights: str = "equal",
    ) -> pd.DataFrame:
        """All pairwise differences of the LS means of ``factor`` (SAS's PDIFF)."""
        _, keys = self.fits.lsmeans_matrix(factor, by, weights)
        pairs = []
        for b in self.design.factors[by] if by else [None]:
            sel = [(i, k) for i, k in enumerate(keys) if by is None or k[by] == b]
            for (i, ki), (j, kj) in itertools.combinations(sel, 2):
                pairs.append((f"{ki[factor]} - {kj[factor]}", b, i, j))
        out = self.fits.differences(factor, pairs, by, df_method, weights)
        return self._difference_table(
            [lv for lv, *_ in pairs], by, [b for _, b, _, _ in pairs], out
        )

    @staticmethod
    def _difference_table(labels, by, bys, out) -> pd.DataFrame:
        cols: dict = {"contrast": labels}
        if by:
            cols[by] = bys
        cols.update({k: v[0] for k, v in out.items()})
        return pd.DataFrame(cols, copy=False)  # fresh arrays: no copy needed

    def type3(self, df_method: str = "kenward-roger") -> pd.DataFrame:
        """Type III F tests per model term (joint tests of each term's contrasts)."""
        return self._term_tests(self._type3_matrix, df_method)

    def type2(self, df_method: str = "kenward-roger") -> pd.DataFrame:
        """Type II F tests per model term (SAS HTYPE=2; car and mmrm ``Anova(type = "II")``):
        each term adjusted for the terms that do not contain it (``grid.type2_matrix``)."""
        cache = self.__dict__.setdefault("_type2_cache", {})

        def matrix(term: str) -> np.ndarray:
            if term not in cache:
                cache[term] = grid.type2_matrix(self.design, term)
            return cache[term]

        return self._term_tests(matrix, df_method)

    def _term_tests(self, matrix, df_method: str) -> pd.DataFrame:
        check_df_method(df_method, self.method)
        rows = []
        for term in self.design.term_columns:
            if term in ("1", "Intercept"):
                continue
            t = self.test(matrix(term), df_method, term=term)
            F = t.statistic**2 if t.num_df == 1 else t.statistic
            rows.append(
                {"term": term, "num_df": t.num_df, "den_df": t.den_df, "F": F, "p": t.p_value}
            )
        return pd.DataFrame(rows)

    def predict(
        self,
        data: pd.DataFrame | None = None,
        df_method: str = "kenward-roger",
        level: float = 0.95,
    ) -> pd.DataFrame:
        """Marginal (SAS OUTPM=) and conditional (OUTP=, given the subject's observed values)
        predictions of each row of ``data`` with SEs and intervals (``prediction.predict``)."""
        from .prediction import predict

        return predict(self, data, df_method, level)

    def residuals(self) -> pd.DataFrame:
        """Raw, Pearson, scaled (Cholesky), studentized residuals and the scaled dependent
        variable of each fitted row (``prediction.residuals``)."""
        from .prediction import residuals

        return residuals(self)

    def simulate(
        self,
        n: int = 1,
        data: pd.DataFrame | None = None,
        method: str = "conditional",
        seed: int | None = None,
    ) -> np.ndarray:
        """``n`` response vectors simulated from the fitted model (``prediction.simulate``)."""
        from .prediction import simulate

        return simulate(self, n, data, method, seed)

    def _type3_matrix(self, term: str) -> np.ndarray:
        cache = self.__dict__.setdefault("_type3_cache", {})
        if term not in cache:
            cache[term] = grid.type3_matrix(self.design, term)
        return cache[term]

    # ------------------------------------------------------------------ output
    def to_dict(
        self,
        df_method: str = "kenward-roger",
        lsmeans: str | None = None,
        by: str | None = None,
        reference: str | None = None,
        lsmeans_weights: str = "equal",
        type2: bool = False,
    ) -> dict:
        """Everything ``xerotrial fit --json`` prints (``type2``: Type II tests too;
        ``lsmeans_weights``: the LS means' margins, see ``options.LSMEANS_WEIGHTS``)."""
        check_df_method(df_method, self.method)
        cp = self.covariance_parameters()
        matrix = self.covariance_matrix(0)
        out = {
            "n_obs": self.n_obs,
            "n_subjects": self.n_subjects,
            "n_missing_response": self.design.n_missing_response,
            "n_missing_other": self.design.n_missing_other,
            "method": self.method,
            "df_method": df_method,
            "vcov": self.vcov,
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
        if type2:
            out["type2"] = _records(self.type2(df_method))
        if lsmeans:
            out["lsmeans_weights"] = lsmeans_weights
            out["lsmeans"] = _records(self.lsmeans(lsmeans, by, df_method, lsmeans_weights))
            out["contrasts"] = _records(
                self.contrasts_vs_reference(lsmeans, reference, by, df_method, lsmeans_weights)
            )
        return out


def _records(frame: pd.DataFrame) -> list[dict]:
    out = []
    for rec in frame.to_dict(orient="records"):
        out.append({k: (v.item() if isinstance(v, np.generic) else v) for k, v in rec.items()})
    return out
