"""A definition's derivations and analysis plan: which functions make which parameters, and
which model analyses them.

::

    [derivations.UWS]
    label = "Unstimulated whole saliva flow rate (mL/min)"
    function = "flow_rate"           # xerotrial.trial.registry.DERIVATIONS
    form = "sialometry"
    inputs = {cup_before_g = "uws_before_g", cup_after_g = "uws_after_g", minutes = "uws_minutes"}
    params = {kind = "UWS"}

    [analysis]
    arms = ["atmsc", "placebo"]      # the comparison: first minus second
    [[analysis.endpoints]]
    param = "UWS"
    primary = true
    response = "CHG"                 # AVAL, CHG (change from baseline) or PCHG
    visits = ["month_1", "month_4", "month_12"]
    covariates = ["BASE"]
    covariance = "un"                # xerotrial.stats.covariance.STRUCTURES
    df = "kenward-roger"             # xerotrial.stats.options.DF_METHODS
    primary_visit = "month_4"

The model of an endpoint is ``response ~ covariates + ARM * AVISIT``, repeated over AVISIT
within subject with the given covariance; the results are the LS means of ARM within each
AVISIT and the difference of the arms at each. A single-arm plan (no ``arms``) models
``response ~ covariates + AVISIT`` and compares each visit with ``reference_visit`` (default:
the baseline visit, which is then one of the endpoint's visits and the response ``AVAL``), as
the seed trial's pre/post analyses do. :func:`build_plan` checks both sections
against the definition (forms, fields, visits, arms) and the registries, every problem
located by file, line and key.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from .model import Allocation, Form, Visit

__all__ = [
    "RESPONSES",
    "AnalysisPlan",
    "DmcPlan",
    "DerivationSpec",
    "EstimandPlan",
    "Endpoint",
    "build_plan",
]

#: The analysis variables an endpoint may model.
RESPONSES = ("AVAL", "CHG", "PCHG")
_PARAM = re.compile(r"^[A-Z][A-Z0-9]{0,7}$")
_ADAM_DATASET = re.compile(r"^AD[A-Z0-9]{1,6}$")
DERIVATION_KEYS = ("label", "function", "form", "inputs", "params", "where", "dataset")
ANALYSIS_KEYS = ("arms", "endpoints", "population", "dmc", "estimand")
ESTIMAND_KEYS = (
    "endpoint", "method", "ice_form", "event_field", "first_visit_field", "strategies",
    "samples", "seed",
)  # fmt: skip

DMC_KEYS = (
    "efficacy", "spending", "alpha", "sided", "planned_subjects", "previous_looks", "futility_z",
)  # fmt: skip
SPENDING = ("obrien-fleming", "pocock")
POPULATION_KEYS = ("form", "where")
ENDPOINT_KEYS = (
    "name",
    "param",
    "primary",
    "response",
    "visits",
    "covariates",
    "covariance",
    "df",
    "primary_visit",
    "reference_visit",
)


@dataclass(frozen=True)
class DerivationSpec:
    """``param`` (PARAMCD) is made by ``function`` from ``form``'s fields (``inputs``:
    the function's input -> the field)."""

    param: str
    label: str
    function: str
    form: str
    inputs: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    params: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    #: only the form's rows where this expression holds (e.g. ``kind == 'UWS'``)
    where: str | None = None
    #: the ADaM BDS dataset holding the parameter (``AD`` and up to 6 capitals or digits)
    dataset: str = "ADBDS"


@dataclass(frozen=True)
class Endpoint:
    """One analysed parameter and its model."""

    param: str
    response: str = "CHG"
    visits: tuple[str, ...] = ()
    covariates: tuple[str, ...] = ("BASE",)
    covariance: str = "un"
    df: str = "kenward-roger"
    primary: bool = False
    primary_visit: str | None = None
    #: a single-arm plan compares each visit with this one (default: the baseline visit)
    reference_visit: str | None = None
    #: the endpoint's name (default: ``param``; two endpoints of one parameter need names)
    name: str = ""

    @property
    def key(self) -> str:
        """The endpoint's name, or its parameter."""
        return self.name or self.param


@dataclass(frozen=True)
class AnalysisPlan:
    """The arms compared (first minus second), the endpoints, and the population: the
    subjects whose row of ``population[0]`` satisfies the expression ``population[1]``
    (None: every subject)."""

    arms: tuple[str, ...] = ()
    endpoints: tuple[Endpoint, ...] = ()
    population: tuple[str, str] | None = None
    dmc: DmcPlan | None = None
    estimand: EstimandPlan | None = None


@dataclass(frozen=True)
class EstimandPlan:
    """``[analysis.estimand]``: the sensitivity analysis of one endpoint (default: the
    primary) for its intercurrent events, by reference-based imputation (``method``, one of
    ``stats.options.IMPUTATION_METHODS``). The events are the rows of the (repeating) form
    ``ice_form``: the kind of event in ``event_field`` (a choice), the first visit it affects
    in ``first_visit_field`` (a choice whose codes are visit names); ``strategies`` maps each
    kind's code to its strategy (``stats.options.ICE_STRATEGIES``). A subject's earliest
    event counts.

    ::

        [analysis.estimand]
        method = "condmean-jackknife"
        ice_form = "intercurrent_events"
        event_field = "event"
        first_visit_field = "first_visit"
        strategies = { discontinuation = "JR", rescue = "CR" }
    """

    endpoint: str
    method: str
    ice_form: str
    event_field: str
    first_visit_field: str
    strategies: Mapping[str, str]
    samples: int | None = None
    seed: int = 1


@dataclass(frozen=True)
class DmcPlan:
    """What the data monitoring committee's closed report shows (``[analysis.dmc]``):
    efficacy by arm or not, and the interim look's Lan-DeMets spending (``spending``, total
    ``alpha``, ``sided``) at the information fraction of the primary endpoint (subjects with
    it at its primary visit out of ``planned_subjects``), after the looks already taken at
    ``previous_looks``; ``futility_z``: a non-binding futility threshold (stop for futility
    when z falls below it; it leaves the efficacy boundaries as they are)."""

    efficacy: bool = False
    spending: str | None = None
    alpha: float = 0.025
    sided: int = 1
    planned_subjects: int | None = None
    previous_looks: tuple[float, ...] = ()
    futility_z: float | None = None


def build_plan(
    c: Any,
    derivations_raw: Any,
    analysis_raw: Any,
    forms: Mapping[str, Form],
    allocation: Allocation,
    visits: Sequence[Visit],
) -> tuple[tuple[DerivationSpec, ...], AnalysisPlan | None]:
    """The checked derivations and plan; problems go to the checker ``c``
    (:class:`xerotrial.study.check._Checker`)."""
    derivations = []
    dt = c.table(derivations_raw, ("derivations",), None)
    if dt:  # the registry imports the trial's functions (pandas): only when needed
        from xerotrial.trial.registry import DERIVATIONS
    for param, raw in dt.items():
        here = ("derivations", param)
        if not isinstance(param, str) or not _PARAM.match(param):
            c.problem(here, f"PARAMCD {param!r} must be 1-8 upper-case letters and digits", param)
        d = c.table(raw, here, DERIVATION_KEYS)
        fn = c.get(d, "function", here, "str", None, required=True)
        form = c.get(d, "form", here, "str", None, required=True)
        if fn is not None and fn not in DERIVATIONS:
            c.problem(
                (*here, "function"), f"unknown function {fn!r}; one of {', '.join(DERIVATIONS)}", fn
            )
            fn = None
        if form is not None and form not in forms:
            c.problem((*here, "form"), f"form {form!r} is not defined", form)
            form = None
        inputs = c.table(d.get("inputs"), (*here, "inputs"), None)
        params = c.table(d.get("params"), (*here, "params"), None)
        if fn is not None:
            spec = DERIVATIONS[fn]
            for name in spec.inputs:
                if name not in inputs and name not in spec.optional:
                    c.problem((*here, "inputs"), f"{fn} needs the input {name!r}")
            for name in inputs:
                if name not in spec.inputs:
                    c.problem(
                        (*here, "inputs", name),
                        f"{fn} has no input {name!r}; its inputs: {', '.join(spec.inputs)}",
                        name,
                    )
            for name, allowed in spec.params.items():
                if name not in params:
                    c.problem(
                        (*here, "params"),
                        f"{fn} needs the param {name!r} ({' or '.join(map(str, allowed))})",
                    )
                elif params[name] not in allowed:
                    c.problem(
                        (*here, "params", name),
                        f"{name} must be one of {', '.join(map(str, allowed))}",
                        params[name],
                    )
            for name in params:
                if name not in spec.params:
                    c.problem((*here, "params", name), f"{fn} takes no param {name!r}", name)
        where = c.get(d, "where", here, "str")
        if form is not None and where is not None:
            typed = {f.name: f for f in forms[form].fields}
            c.expression(where, (*here, "where"), list(typed), "where", typed)
        if form is not None:
            columns = set(forms[form].columns)
            for name, fld in inputs.items():
                if fld not in columns:
                    c.problem(
                        (*here, "inputs", name), f"{fld!r} is not a field of form {form}", fld
                    )
        dataset = c.get(d, "dataset", here, "str", "ADBDS")
        if not _ADAM_DATASET.match(dataset):
            c.problem((*here, "dataset"), "an ADaM dataset name is AD and 1-6 capitals or digits")
        derivations.append(
            DerivationSpec(
                str(param),
                c.get(d, "label", here, "str", ""),
                fn or "",
                form or "",
                MappingProxyType({str(k): str(v) for k, v in inputs.items()}),
                MappingProxyType(dict(params)),
                where,
                dataset,
            )
        )
    if analysis_raw is None:
        return tuple(derivations), None
    return tuple(derivations), _analysis(c, analysis_raw, derivations, allocation, visits, forms)


def _analysis(
    c: Any,
    raw: Any,
    derivations: Sequence[DerivationSpec],
    allocation: Allocation,
    visits: Sequence[Visit],
    forms: Mapping[str, Form],
) -> AnalysisPlan:
    from xerotrial.stats.covariance import NAMES as STRUCTURES
    from xerotrial.stats.covariance import SPATIAL
    from xerotrial.stats.options import DF_METHODS

    path = ("analysis",)
    a = c.table(raw, path, ANALYSIS_KEYS)
    arms = c.get(a, "arms", path, "strs", ())
    known_arms = [x.name for x in allocation.arms]
    for i, arm in enumerate(arms):
        if arm not in known_arms:
            c.problem((*path, "arms", i), f"arm {arm!r} is not an arm of the allocation", arm)
    if arms and len(arms) != 2:
        c.problem((*path, "arms"), "the comparison takes two arms (first minus second)")
    params = {d.param for d in derivations}
    names = [v.name for v in visits]
    baseline = [v.name for v in visits if v.baseline]
    endpoints = []
    raw_eps = a.get("endpoints", [])
    if not isinstance(raw_eps, list):
        c.problem((*path, "endpoints"), "must be a list of endpoints ([[analysis.endpoints]])")
        raw_eps = []
    for i, r in enumerate(raw_eps):
        here = (*path, "endpoints", i)
        e = c.table(r, here, ENDPOINT_KEYS)
        param = c.get(e, "param", here, "str", "", required=True)
        if param and param not in params:
            c.problem((*here, "param"), f"parameter {param!r} has no derivation", param)
        response = c.get(e, "response", here, "str", "CHG")
        if response not in RESPONSES:
            c.problem(
                (*here, "response"), f"response must be one of {', '.join(RESPONSES)}", response
            )
        if response != "AVAL" and not baseline:
            c.problem(
                (*here, "response"),
                f"{response} needs a baseline visit (visits.NAME.baseline = true)",
                response,
            )
        evisits = c.get(e, "visits", here, "strs", ())
        for j, v in enumerate(evisits):
            if v not in names:
                c.problem((*here, "visits", j), f"visit {v!r} does not exist", v)
            elif v in baseline and response != "AVAL" and arms:
                c.problem((*here, "visits", j), f"the baseline visit {v!r} has no change", v)
        if not evisits:
            c.problem((*here, "visits"), "an endpoint needs its visits")
        covariates = c.get(e, "covariates", here, "strs", ("BASE",) if arms else ())
        for j, cov in enumerate(covariates):
            if cov != "BASE":
                c.problem((*here, "covariates", j), "the covariates are BASE for now", cov)
        covariance = c.get(e, "covariance", here, "str", "un")
        if covariance not in STRUCTURES or covariance in SPATIAL:
            c.problem(
                (*here, "covariance"),
                f"unknown covariance {covariance!r}; one of "
                f"{', '.join(s for s in STRUCTURES if s not in SPATIAL)}",
                covariance,
            )
        df = c.get(e, "df", here, "str", "kenward-roger")
        if df not in DF_METHODS:
            c.problem(
                (*here, "df"), f"unknown df method {df!r}; one of {', '.join(DF_METHODS)}", df
            )
        reference = c.get(e, "reference_visit", here, "str")
        if arms and reference is not None:
            c.problem(
                (*here, "reference_visit"),
                "a plan comparing arms has no reference visit (it compares the arms at each visit)",
                reference,
            )
        if not arms:
            want = reference or (baseline[0] if baseline else None)
            if want is None or want not in evisits:
                c.problem(
                    (*here, "reference_visit" if reference else "visits"),
                    "a single-arm endpoint compares each visit with a reference visit: "
                    "give reference_visit, one of its visits (default: the baseline)",
                    reference,
                )
            reference = want
        primary_visit = c.get(e, "primary_visit", here, "str")
        if primary_visit is not None and primary_visit not in evisits:
            c.problem(
                (*here, "primary_visit"),
                f"{primary_visit!r} is not one of the endpoint's visits",
                primary_visit,
            )
        endpoints.append(
            Endpoint(
                param,
                response,
                evisits,
                covariates,
                covariance,
                df,
                c.get(e, "primary", here, "bool", False),
                primary_visit,
                reference,
                c.get(e, "name", here, "str", ""),
            )
        )
    keys = [e.key for e in endpoints]
    for i, k in enumerate(keys):
        if k in keys[:i]:
            c.problem(
                (*path, "endpoints", i), f"two endpoints are called {k!r}: give each a name", k
            )
    if sum(e.primary for e in endpoints) > 1:
        c.problem((*path, "endpoints"), "more than one endpoint is primary")
    population = None
    if "population" in a:
        here = (*path, "population")
        pt = c.table(a["population"], here, POPULATION_KEYS)
        pform = c.get(pt, "form", here, "str", None, required=True)
        pwhere = c.get(pt, "where", here, "str", None, required=True)
        if pform is not None and pform not in forms:
            c.problem((*here, "form"), f"form {pform!r} is not defined", pform)
        elif pform is not None and pwhere is not None:
            typed = {f.name: f for f in forms[pform].fields}
            c.expression(pwhere, (*here, "where"), list(typed), "population", typed)
            population = (pform, pwhere)
    estimand = _estimand(c, a.get("estimand"), path, arms, endpoints, forms, names)
    return AnalysisPlan(
        arms, tuple(endpoints), population, _dmc(c, a.get("dmc"), path, arms), estimand
    )


def _estimand(
    c: Any, raw: Any, path: tuple, arms: Sequence[str], endpoints: Sequence[Endpoint],
    forms: Mapping[str, Form], visits: Sequence[str],
) -> EstimandPlan | None:  # fmt: skip
    from xerotrial.stats.options import ICE_STRATEGIES, IMPUTATION_METHODS

    if raw is None:
        return None
    here = (*path, "estimand")
    t = c.table(raw, here, ESTIMAND_KEYS)
    if not arms:
        c.problem(here, "an estimand's reference-based imputation needs [analysis] arms")
    primary = next((e.key for e in endpoints if e.primary), None)
    endpoint = c.get(t, "endpoint", here, "str", primary)
    if endpoint is None or endpoint not in {e.key for e in endpoints}:
        c.problem((*here, "endpoint"), "name one of the plan's endpoints (default: the primary)",
                  endpoint)  # fmt: skip
    method = c.get(t, "method", here, "str", "condmean-jackknife")
    if method not in IMPUTATION_METHODS:
        c.problem((*here, "method"), f"must be one of {', '.join(IMPUTATION_METHODS)}", method)
    ice_form = c.get(t, "ice_form", here, "str", None, required=True)
    event = c.get(t, "event_field", here, "str", None, required=True)
    first = c.get(t, "first_visit_field", here, "str", None, required=True)
    strategies = c.table(t.get("strategies"), (*here, "strategies"), None)
    codes: Sequence[str] = ()
    if ice_form is not None and ice_form not in forms:
        c.problem((*here, "ice_form"), f"form {ice_form!r} is not defined", ice_form)
    elif ice_form is not None:
        fields = {f.name: f for f in forms[ice_form].fields}
        for key, name in (("event_field", event), ("first_visit_field", first)):
            if name is not None and (name not in fields or not fields[name].choices):
                c.problem((*here, key), f"{name!r} is not a choice field of form {ice_form}",
                          name)  # fmt: skip
        if event in fields and fields[event].choices:
            codes = list(fields[event].choices)
        if first in fields and fields[first].choices:
            for code in fields[first].choices:
                if code not in visits:
                    c.problem((*here, "first_visit_field"),
                              f"the code {code!r} of {first!r} is not a visit", code)  # fmt: skip
    if not strategies:
        c.problem((*here, "strategies"), "map each kind of event to its strategy")
    for code, strategy in strategies.items():
        if codes and code not in codes:
            c.problem((*here, "strategies", code), f"{code!r} is not a code of {event!r}", code)
        if strategy not in ICE_STRATEGIES:
            c.problem((*here, "strategies", code),
                      f"must be one of {', '.join(ICE_STRATEGIES)}", strategy)  # fmt: skip
    for code in codes:
        if code not in strategies:
            c.problem((*here, "strategies"), f"the event {code!r} has no strategy", code)
    samples = c.get(t, "samples", here, "int", None)
    return EstimandPlan(
        endpoint or "", method, ice_form or "", event or "", first or "",
        MappingProxyType({str(k): str(v) for k, v in strategies.items()}), samples,
        c.get(t, "seed", here, "int", 1),
    )  # fmt: skip


def _dmc(c: Any, raw: Any, path: tuple, arms: Sequence[str]) -> DmcPlan | None:
    if raw is None:
        return None
    here = (*path, "dmc")
    t = c.table(raw, here, DMC_KEYS)
    spending = c.get(t, "spending", here, "str", None)
    if spending is not None and spending not in SPENDING:
        c.problem((*here, "spending"), f"must be one of {', '.join(SPENDING)}", spending)
    alpha = float(c.get(t, "alpha", here, "number", 0.025))
    if not 0 < alpha < 0.5:
        c.problem((*here, "alpha"), "must be above 0 and below 0.5", alpha)
    sided = c.get(t, "sided", here, "int", 1)
    if sided not in (1, 2):
        c.problem((*here, "sided"), "must be 1 or 2", sided)
    planned = c.get(t, "planned_subjects", here, "int", None)
    if spending is not None and (planned is None or planned < 2):
        c.problem((*here, "planned_subjects"), "an interim look needs planned_subjects (>= 2)")
    if (spending is not None or t.get("efficacy")) and not arms:
        c.problem(here, "efficacy by arm and interim looks need [analysis] arms")
    previous = t.get("previous_looks", [])
    ok = isinstance(previous, list) and all(
        isinstance(x, int | float) and not isinstance(x, bool) and 0 < x < 1 for x in previous
    )
    if not ok or any(b <= a for a, b in zip(previous, previous[1:], strict=False)):
        c.problem(
            (*here, "previous_looks"),
            "must be the information fractions of the looks taken, increasing, each in (0, 1)",
            previous,
        )
        previous = []
    futility = t.get("futility_z")
    if futility is not None and (
        isinstance(futility, bool) or not isinstance(futility, int | float)
    ):
        c.problem((*here, "futility_z"), "must be a number (a z value)", futility)
        futility = None
    return DmcPlan(
        c.get(t, "efficacy", here, "bool", False), spending, alpha, sided, planned,
        tuple(float(x) for x in previous), None if futility is None else float(futility),
    )  # fmt: skip
