"""Reference-based multiple imputation of a longitudinal outcome, as R rbmi does it.

The data lie on a subjects x visits grid (``LongData``): an outcome that is NaN where missing,
one of two groups per subject, covariates per cell, and per subject an intercurrent event
(ICE): the first visit it affects and the strategy for the visits from there on. The
imputation model is an MMRM (``outcome ~ group + visit + covariates``, one covariance for
both groups) fitted by the engine to the observed values that the strategy keeps (a
subject's values after a non-MAR ICE are left out of the fit, as rbmi's
``get_data(mnar.rm = TRUE)`` does, but are conditioned on when imputing). Every fit of an
analysis (the jackknife's leave-one-out fits, the bootstrap's resamples) goes through the
engine's replicate axis together, in chunks.

Per subject the strategy sets the mean of the joint distribution of its visits (rbmi's
``strategy_*`` with a common covariance): MAR, the subject's own group; JR (jump to
reference), the reference group's mean from the ICE visit on; CR (copy reference), the
reference mean at every visit; CIR (copy increments in reference), the subject's mean at the
last visit before the ICE plus the reference's increments from that visit; LMCF (last mean
carried forward), the subject's mean at the last visit before the ICE. Missing values are
then imputed from their distribution given the subject's observed values: its mean
(conditional mean imputation, Wolbers et al. 2022) or a draw (multiple imputation).

``xerotrial.stats.imputation_analysis`` holds the ANCOVA per visit and the pooling rules.

Example
-------
>>> import numpy as np, pandas as pd
>>> rng = np.random.default_rng(1)
>>> rows = [dict(id=f"s{i}", visit=f"w{t}", arm="ab"[i % 2], base=float(i % 5),
...              y=i % 5 + t * (1 + i % 2) + rng.normal()) for i in range(40) for t in (1, 2)]
>>> frame = pd.DataFrame(rows)
>>> frame.loc[frame.index[-6::2], "y"] = np.nan       # three subjects miss their last visit
>>> data = long_data(frame, outcome="y", subject="id", visit="visit", group="arm",
...                  reference="a", covariates=["base*visit"])
>>> data.n_subjects, data.visits, int(np.isnan(data.y).sum())
(40, ['w1', 'w2'], 3)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .design import Design, _natural_key, build_design
from .errors import DataValidationError
from .linalg import solve
from .options import ICE_STRATEGIES

__all__ = [
    "STRATEGIES",
    "LongData",
    "Draws",
    "long_data",
    "imputation_formula",
    "fit_draws",
    "impute",
    "bootstrap_indices",
]

#: The ICE strategies, rbmi's names (defined with the engine's other choices).
STRATEGIES = ICE_STRATEGIES
#: Replicates fitted by one engine call (bounds the memory of a thousand resamples).
CHUNK = 256


@dataclass
class LongData:
    """A trial's outcome on the subjects x visits grid, with its ICEs and deltas."""

    outcome: str
    subject: str
    visit: str
    group: str
    subjects: list[str]
    visits: list[str]
    groups: tuple[str, str]  # the analysis's order: lsm_ref is the first, trt = second - first
    reference: str  # the imputation's reference group (JR, CR, CIR)
    arm: np.ndarray  # (n,) 0: the first group, 1: the second
    y: np.ndarray  # (n, T), NaN where missing
    grid: pd.DataFrame  # n * T rows, subject-major: subject, visit, group, covariates
    covariates: list[str]  # the imputation model's covariate terms
    ice: np.ndarray = field(default=None)  # (n,) index of the first visit affected; T: none
    strategy: np.ndarray = field(default=None)  # (n,) strategy names, "MAR" without an ICE
    delta: np.ndarray = field(default=None)  # (n, T), added to the imputed data's outcome

    def __post_init__(self) -> None:
        n, T = self.y.shape
        if self.ice is None:
            self.ice = np.full(n, T, dtype=np.int64)
        if self.strategy is None:
            self.strategy = np.array(["MAR"] * n, dtype=object)
        if self.delta is None:
            self.delta = np.zeros((n, T))

    @property
    def n_subjects(self) -> int:
        return len(self.subjects)

    @property
    def is_mar(self) -> np.ndarray:
        """(n, T): the visits imputed under MAR (before a non-MAR ICE, or every visit)."""
        T = len(self.visits)
        return (self.strategy == "MAR")[:, None] | (np.arange(T)[None, :] < self.ice[:, None])

    @property
    def fit_y(self) -> np.ndarray:
        """(n, T): the outcome the imputation model is fitted to (post-ICE non-MAR left out)."""
        return np.where(self.is_mar, self.y, np.nan)


# ---------------------------------------------------------------------------- the data


def _text(value) -> str:
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)


def _number(value):
    from ..tables import parse_number

    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return parse_number(value)


def _lines(frame: pd.DataFrame) -> list[int]:
    """The file line of each row (``read_table``'s), else the data row + 1 (a header first)."""
    lines = list(frame.attrs.get("lines") or [])
    return lines if len(lines) == len(frame) else list(range(2, len(frame) + 2))


def _bad(source: str, line: int, i: int, column: str, value, rule: str) -> DataValidationError:
    return DataValidationError.at(source, i + 1, column, value, rule, line=line)


def term_variables(terms: Sequence[str]) -> list[str]:
    """The variables of model terms such as ``BASVAL*VISIT``, in order of first appearance.

    >>> term_variables(["BASVAL*VISIT", "THERAPY:VISIT", "AGE"])
    ['BASVAL', 'VISIT', 'THERAPY', 'AGE']
    """
    out: dict[str, None] = {}
    for term in terms:
        for v in term.replace(":", "*").split("*"):
            if v.strip():
                out[v.strip()] = None
    return list(out)


def imputation_formula(data: LongData) -> str:
    """The imputation model, rbmi's ``outcome ~ group + visit + covariates``."""
    return " + ".join([f"{data.outcome} ~ {data.group}", data.visit, *data.covariates])


def long_data(
    frame: pd.DataFrame,
    *,
    outcome: str,
    subject: str,
    visit: str,
    group: str,
    reference: str,
    covariates: Sequence[str] = (),
    analysis_covariates: Sequence[str] = (),
    visit_order: Sequence[str] | None = None,
    group_order: Sequence[str] | None = None,
    ice: pd.DataFrame | None = None,
    delta: pd.DataFrame | None = None,
    source: str = "data",
) -> LongData:
    """The grid of ``frame`` (one row per subject and visit; a missing visit absent or with
    an empty outcome). A covariate's value in a cell is its row's; a visit without a row takes
    the subject's value, which must then be the same in all the subject's rows. ``ice`` has
    columns ``subject, visit, strategy`` (the first visit affected), ``delta`` has
    ``subject, visit, delta``. The groups' order (``group_order``, by default sorted as the
    engine sorts factor levels, R's order for plain names) is the analysis's, as rbmi's
    factor levels are: ``lsm_ref`` is the first group's LS mean and ``trt`` the second minus
    the first, whichever group is the imputation's ``reference``. Every refusal names the
    file, line, column and rule."""
    covariates = [c.strip() for c in covariates if c.strip()]
    lines = _lines(frame)
    frame = frame.copy(deep=False)
    frame.attrs = {}  # pandas copies attrs on every column access: keep the lines apart
    needed = [outcome, subject, visit, group]
    extra = [v for v in term_variables([*covariates, *analysis_covariates]) if v not in needed]
    _require(frame, list(dict.fromkeys(needed + extra)), source)
    ids = [_text(v).strip() for v in frame[subject]]
    vis = [_text(v).strip() for v in frame[visit]]
    grp = [_text(v).strip() for v in frame[group]]
    for column, values in ((subject, ids), (visit, vis), (group, grp)):
        for i, v in enumerate(values):
            if not v:
                raise _bad(source, lines[i], i, column, "", "empty (every row needs one)")
    y_row = np.empty(len(frame))
    for i, v in enumerate(frame[outcome]):
        text = _text(v).strip()
        number = _number(v) if text else math.nan
        if number is None:
            raise _bad(source, lines[i], i, outcome, v, "not a number")
        y_row[i] = number
    if visit_order:
        visits = [str(v).strip() for v in visit_order]
        if len(set(visits)) != len(visits):
            raise DataValidationError(f"--visit-order {list(visit_order)} repeats a visit")
        unknown = sorted(set(vis) - set(visits), key=_natural_key)
        if unknown:
            i = vis.index(unknown[0])
            raise _bad(source, lines[i], i, visit, unknown[0], "a visit not in --visit-order")
    else:
        visits = list(dict.fromkeys(vis))
    subjects = list(dict.fromkeys(ids))
    s_index = {s: k for k, s in enumerate(subjects)}
    t_index = {t: k for k, t in enumerate(visits)}
    n, T = len(subjects), len(visits)
    cell = np.full((n, T), -1, dtype=np.int64)
    for i, (s, t) in enumerate(zip(ids, vis, strict=True)):
        k, j = s_index[s], t_index[t]
        if cell[k, j] >= 0:
            first = int(cell[k, j])
            raise DataValidationError(
                f"{source}: lines {lines[first]} and {lines[i]}: subject {s!r} has two rows at "
                f"{visit} = {t!r}; keep one row per subject and visit",
                file=source,
                row=i + 1,
                line=lines[i],
                column=visit,
                value=t,
                rule="one row per subject and visit",
            )
        cell[k, j] = i
    y = np.where(cell >= 0, y_row[np.maximum(cell, 0)], np.nan)

    arm_of: dict[str, str] = {}
    for i, (s, g) in enumerate(zip(ids, grp, strict=True)):
        if arm_of.setdefault(s, g) != g:
            raise _bad(
                source, lines[i], i, group, g, f"subject {s!r} is in group {arm_of[s]!r} elsewhere"
            )
    levels = sorted(set(arm_of.values()), key=_natural_key)
    if len(levels) != 2:
        raise DataValidationError(
            f"{source}: column {group!r} has {len(levels)} group(s) {levels}; the analysis "
            "compares exactly two",
            file=source,
            column=group,
            rule="two groups",
        )
    if reference not in levels:
        raise DataValidationError(
            f"--reference {reference!r} is not a level of {group!r} {levels}",
            column=group,
            value=reference,
            rule="reference group not in the data",
        )
    if group_order:
        order = [str(g).strip() for g in group_order]
        if sorted(order) != sorted(levels):
            raise DataValidationError(
                f"--group-order {list(group_order)} does not list the groups {levels} once each",
                column=group,
                rule="group order",
            )
        levels = order
    arm = np.array([levels.index(arm_of[s]) for s in subjects], dtype=np.int64)

    grid = pd.DataFrame(
        {
            subject: np.repeat(subjects, T),
            visit: pd.Categorical(visits * n, categories=visits),
            group: np.repeat([arm_of[s] for s in subjects], T),
        }
    )
    for v in extra:
        if v in (subject, visit, group, outcome):
            continue
        grid[v] = _covariate_grid(frame, v, cell, ids, lines, subjects, source)
    data = LongData(
        outcome,
        subject,
        visit,
        group,
        subjects,
        visits,
        (levels[0], levels[1]),
        reference,
        arm,
        y,
        grid,
        covariates,
    )
    if ice is not None:
        _apply_ice(
            data,
            ice,
            s_index,
            t_index,
            ice.attrs.get("file") or "ICE file",
        )
    if delta is not None:
        _apply_delta(data, delta, s_index, t_index, delta.attrs.get("file") or "delta file")
    check_visits_observed(data, source)
    return data


def _covariate_grid(frame, v, cell, ids, lines, subjects, source) -> np.ndarray:
    raw = [_text(x).strip() for x in frame[v]]
    numbers = [_number(x) if x else None for x in raw]
    numeric = all(x is not None for x, r in zip(numbers, raw, strict=True) if r)
    values = np.array(numbers if numeric else raw, dtype=float if numeric else object)
    filled = np.array([bool(r) for r in raw])
    per_subject: dict[str, set] = {}
    for i, s in enumerate(ids):
        if filled[i]:
            per_subject.setdefault(s, set()).add(values[i])
    n, T = cell.shape
    out = np.empty((n, T), dtype=float if numeric else object)
    for k, s in enumerate(subjects):
        own = per_subject.get(s, set())
        for j in range(T):
            c = cell[k, j]
            if c >= 0 and filled[c]:
                out[k, j] = values[c]
                continue
            if len(own) != 1:
                where = lines[c] if c >= 0 else None
                rule = (
                    f"subject {s!r} has no value of {v!r}"
                    if not own
                    else f"subject {s!r} has {len(own)} different values of {v!r}, so a visit "
                    "without one cannot take the subject's"
                )
                raise DataValidationError(
                    f"{source}: " + (f"line {where}: " if where else "") + rule,
                    file=source,
                    line=where,
                    column=v,
                    rule=rule,
                )
            out[k, j] = next(iter(own))
    return out.ravel()


def _apply_ice(data: LongData, ice: pd.DataFrame, s_index, t_index, source: str) -> None:
    _require(ice, ("subject", "visit", "strategy"), source)
    lines = _lines(ice)
    seen: dict[int, int] = {}
    for i in range(len(ice)):
        s, t = _text(ice["subject"].iloc[i]).strip(), _text(ice["visit"].iloc[i]).strip()
        strategy = _text(ice["strategy"].iloc[i]).strip().upper()
        if s not in s_index:
            raise _bad(source, lines[i], i, "subject", s, "not a subject of the data")
        if t not in t_index:
            raise _bad(source, lines[i], i, "visit", t, f"not a visit of the data {data.visits}")
        if strategy not in STRATEGIES:
            raise _bad(
                source,
                lines[i],
                i,
                "strategy",
                ice["strategy"].iloc[i],
                f"not a strategy ({', '.join(STRATEGIES)})",
            )
        k, j = s_index[s], t_index[t]
        if k in seen:
            raise _bad(
                source,
                lines[i],
                i,
                "subject",
                s,
                f"a second ICE for the subject (the first is on line {seen[k]}); rbmi takes one",
            )
        seen[k] = lines[i]
        if strategy == "LMCF" and j == 0:
            raise _bad(
                source,
                lines[i],
                i,
                "visit",
                t,
                "LMCF needs a visit before the ICE (its mean is carried forward)",
            )
        data.ice[k], data.strategy[k] = j, strategy


def _apply_delta(data: LongData, delta: pd.DataFrame, s_index, t_index, source: str) -> None:
    _require(delta, ("subject", "visit", "delta"), source)
    lines = _lines(delta)
    seen = np.zeros(data.delta.shape, dtype=bool)
    for i in range(len(delta)):
        s, t = _text(delta["subject"].iloc[i]).strip(), _text(delta["visit"].iloc[i]).strip()
        raw = delta["delta"].iloc[i]
        value = _number(raw) if _text(raw).strip() else None
        if s not in s_index:
            raise _bad(source, lines[i], i, "subject", s, "not a subject of the data")
        if t not in t_index:
            raise _bad(source, lines[i], i, "visit", t, f"not a visit of the data {data.visits}")
        if value is None or not math.isfinite(value):
            raise _bad(source, lines[i], i, "delta", raw, "not a finite number")
        k, j = s_index[s], t_index[t]
        if seen[k, j]:
            raise _bad(source, lines[i], i, "visit", t, "a second delta for the subject and visit")
        seen[k, j] = True
        data.delta[k, j] = value


def _require(frame: pd.DataFrame, columns, source: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataValidationError(
            f"{source}: no column(s) {missing}; it needs {list(columns)} and has "
            f"{list(frame.columns)}",
            file=source,
            column=missing[0],
            rule="column not found",
        )


def check_visits_observed(data: LongData, source: str = "data") -> None:
    """Every visit needs an observed value that the imputation model may use (rbmi's
    ``check_has_data_at_each_visit``)."""
    empty = [
        v for v, ok in zip(data.visits, np.isfinite(data.fit_y).any(axis=0), strict=True) if not ok
    ]
    if empty:
        raise DataValidationError(
            f"{source}: visit(s) {empty} have no observed value before an ICE with a non-MAR "
            "strategy, so the imputation model cannot be fitted; drop them or change the "
            "strategy",
            file=source,
            column=data.visit,
            rule="a visit without data for the imputation model",
        )


# ---------------------------------------------------------------------------- the fits


@dataclass
class Draws:
    """Imputation-model parameters per sample: ``beta`` (R, p), ``sigma`` (R, T, T), the
    subjects of each sample ``index`` (R, m) into ``LongData.subjects``."""

    beta: np.ndarray
    sigma: np.ndarray
    index: np.ndarray
    n_failed: int = 0


@dataclass
class ModelMatrices:
    """The imputation model's design over the grid: X of the subject's own group and of the
    reference group, (n, T, p) each."""

    design: Design
    own: np.ndarray
    ref: np.ndarray


def model_matrices(data: LongData, source: str = "data") -> ModelMatrices:
    """The design of ``imputation_formula(data)`` on the full grid (full rank required)."""
    frame = data.grid.assign(**{data.outcome: 0.0})
    design = build_design(
        frame,
        imputation_formula(data),
        subject=data.subject,
        time=data.visit,
        time_order=data.visits,
        source=source,
    )
    ref = frame.copy()
    ref[data.group] = data.reference
    n, T = data.y.shape
    X_ref = design.model_matrix(ref)
    return ModelMatrices(design, design.X.reshape(n, T, -1), X_ref.reshape(n, T, -1))


def _fit_chunk(mm: ModelMatrices, y, X, covariance: str, data, start):
    from .replicates import fit_design

    fits = fit_design(
        mm.design,
        y,
        covariance,
        data.subject,
        data.visit,
        X=X,
        source="imputation model",
        start=start,
    )
    sigma = fits.cov.prepare(fits.theta, order=0)[0][:, 0]
    ok = ~fits.failed & fits.converged & np.isfinite(fits.beta).all(axis=1)
    return fits.beta, sigma, ok, fits.theta


def fit_draws(
    data: LongData,
    mm: ModelMatrices,
    index: np.ndarray | None,
    covariance: str = "un",
    drop: np.ndarray | None = None,
    start: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """REML fits of the imputation model, one per replicate, through the engine's replicate
    axis: ``index`` (R, n) resamples subjects (a bootstrap), or ``drop`` (R,) leaves one
    subject out per replicate (-1: none; the jackknife). ``start``: the covariance parameters
    to start from (the full data's optimum, which is near every sample's). Returns beta
    (R, p), sigma (R, T, T) and whether each fit converged (R,)."""
    n, T = data.y.shape
    fy = data.fit_y
    R = len(index) if index is not None else len(drop)
    betas, sigmas, oks = [], [], []
    for lo in range(0, R, CHUNK):
        hi = min(R, lo + CHUNK)
        if index is not None:
            idx = index[lo:hi]
            y = fy[idx].reshape(hi - lo, n * T)
            X = mm.own[idx].reshape(hi - lo, n * T, -1)
        else:
            y = np.broadcast_to(fy.reshape(1, n * T), (hi - lo, n * T)).copy()
            for r, d in enumerate(drop[lo:hi]):
                if d >= 0:
                    y[r, d * T : (d + 1) * T] = np.nan
            X = None
        b, s, ok, _ = _fit_chunk(mm, y, X, covariance, data, start)
        betas.append(b)
        sigmas.append(s)
        oks.append(ok)
    return np.concatenate(betas), np.concatenate(sigmas), np.concatenate(oks)


def full_fit(data: LongData, mm: ModelMatrices, covariance: str = "un"):
    """The imputation model on the full data: beta (1, p), sigma (1, T, T), theta (1, K);
    refused (``ConvergenceError``) when it does not converge."""
    from .errors import ConvergenceError

    n, T = data.y.shape
    b, s, ok, theta = _fit_chunk(mm, data.fit_y.reshape(1, n * T), None, covariance, data, None)
    if not ok.all():
        raise ConvergenceError("the imputation model did not converge on the full data")
    return b, s, theta


def bootstrap_indices(data: LongData, size: int, rng: np.random.Generator) -> np.ndarray:
    """(size, n) resamples of the subjects with replacement within each group (rbmi
    stratifies by group), the reference group's first."""
    parts = []
    for g in (0, 1):
        members = np.flatnonzero(data.arm == g)
        parts.append(members[rng.integers(0, len(members), size=(size, len(members)))])
    return np.concatenate(parts, axis=1)


# ---------------------------------------------------------------------------- imputation


def strategy_means(
    data: LongData, mm: ModelMatrices, beta: np.ndarray, index: np.ndarray
) -> np.ndarray:
    """(R, m, T): each sampled subject's mean under its strategy (rbmi's ``strategy_*``
    with one covariance for both groups)."""
    own = np.einsum("ntp,rp->rnt", mm.own, beta)
    ref = np.einsum("ntp,rp->rnt", mm.ref, beta)
    rows = np.arange(len(beta))[:, None]
    own, ref = own[rows, index], ref[rows, index]
    T = own.shape[-1]
    ice = data.ice[index][..., None]  # (R, m, 1)
    strat = data.strategy[index][..., None]
    post = np.arange(T)[None, None, :] >= ice
    last = np.maximum(ice - 1, 0)
    own_last = np.take_along_axis(own, last, axis=-1)
    ref_last = np.take_along_axis(ref, last, axis=-1)
    mu = own.copy()
    mu = np.where((strat == "JR") & post, ref, mu)
    mu = np.where(strat == "CR", ref, mu)
    cir = np.where(ice == 0, ref, own_last + ref - ref_last)
    mu = np.where((strat == "CIR") & post, cir, mu)
    mu = np.where((strat == "LMCF") & post, own_last, mu)
    return mu


def impute(
    data: LongData,
    mm: ModelMatrices,
    draws: Draws,
    rng: np.random.Generator | None = None,
    n_draws: int = 1,
) -> np.ndarray:
    """The imputed outcome of each sample's subjects, with the deltas added: (R, m, T) by
    conditional mean (``rng`` None), else (R, n_draws, m, T) drawn from the conditional
    normal distributions (in a fixed order, so a seed gives the same numbers everywhere)."""
    index, sigma = draws.index, draws.sigma
    R, m = index.shape
    T = len(data.visits)
    mu = strategy_means(data, mm, draws.beta, index)
    y = data.y[index]  # (R, m, T)
    obs = np.isfinite(y)
    shape = (R, m, T) if rng is None else (R, n_draws, m, T)
    out = np.broadcast_to(y[:, None] if rng is not None else y, shape).copy()
    key = (obs * (1 << np.arange(T))).sum(axis=-1)  # (R, m)
    for k in np.unique(key):
        o = np.array([(k >> t) & 1 for t in range(T)], dtype=bool)
        if o.all():
            continue
        r_sel, s_sel = np.nonzero(key == k)
        mis = ~o
        mu_m = mu[r_sel, s_sel][:, mis]
        S_mm = sigma[:, mis][:, :, mis]
        if o.any():
            S_oo = sigma[:, o][:, :, o]
            S_om = sigma[:, o][:, :, mis]
            K = np.swapaxes(solve(S_oo, S_om), -1, -2)  # (R, nm, no) = S_mo S_oo^-1
            resid = y[r_sel, s_sel][:, o] - mu[r_sel, s_sel][:, o]
            cm = mu_m + np.einsum("sij,sj->si", K[r_sel], resid)
            C = S_mm - K @ S_om
        else:
            cm, C = mu_m, S_mm
        cols = np.flatnonzero(mis)
        if rng is None:
            out[r_sel[:, None], s_sel[:, None], cols[None, :]] = cm
            continue
        L = np.linalg.cholesky(0.5 * (C + np.swapaxes(C, -1, -2)))
        z = rng.standard_normal((len(r_sel), n_draws, len(cols)))
        values = cm[:, None, :] + np.einsum("sij,sdj->sdi", L[r_sel], z)
        out[
            r_sel[:, None, None],
            np.arange(n_draws)[None, :, None],
            s_sel[:, None, None],
            cols[None, None, :],
        ] = values
    delta = data.delta[index]
    return out + (delta if rng is None else delta[:, None])
