"""The trial design domains (SDTMIG 3.4 chapter 7) from the definition: TS, TA, TE, TV, TI.

* **TE**: the elements SCRN (screening, up to the first treatment), one treatment element per
  arm (its code, e.g. ``ATMSC``), FU (follow-up).
* **TA**: each arm's path through them: SCREENING, TREATMENT, FOLLOW-UP epochs.
* **TV**: each planned visit: VISITNUM (its position), VISIT (its label), VISITDY (its target
  day in SDTM's numbering), ARMCD where a visit is only some arms'.
* **TI**: the eligibility rules of the allocation (``[allocation] eligibility``), and a seed
  store's protocol's inclusion and exclusion criteria.
* **TS**: title, sponsor, registry numbers, phase, indication, treatment, blinding,
  randomization, number of arms, study type, from ``[study]`` and ``[submission]``.

Example
-------
>>> from xerotrial.submission.trial_design import TS_PARAMETERS
>>> TS_PARAMETERS["TPHASE"]
'Trial Phase Classification'
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from .datasets import Dataset, Variable

if TYPE_CHECKING:
    from .context import StudyContext

__all__ = ["TS_PARAMETERS", "trial_design"]

#: TSPARMCD -> TSPARM (CDISC codelists C66738 and C67152).
TS_PARAMETERS = {
    "TITLE": "Trial Title",
    "SPONSOR": "Clinical Study Sponsor",
    "REGID": "Registry Identifier",
    "TPHASE": "Trial Phase Classification",
    "INDIC": "Trial Disease/Condition Indication",
    "TRT": "Investigational Therapy or Treatment",
    "TBLIND": "Trial Blinding Schema",
    "RANDOM": "Trial is Randomized",
    "NARMS": "Planned Number of Arms",
    "STYPE": "Study Type",
}
SDTMIG = "SDTMIG 3.4"
_TD = "TRIAL DESIGN"


def _vars(spec: list[tuple[str, str, str, str]]) -> tuple[Variable, ...]:
    return tuple(Variable(n, lab, t, "Assigned" if n in ("STUDYID", "DOMAIN") else "Protocol",
                          core=c) for n, lab, t, c in spec)  # fmt: skip


def _dataset(name: str, label: str, structure: str, keys: tuple, spec: list, rows: list[dict]):
    variables = _vars(spec)
    frame = pd.DataFrame(rows, columns=[v.name for v in variables])
    for v in variables:
        if v.type == "integer":
            frame[v.name] = pd.to_numeric(frame[v.name])
    return Dataset(name, label, _TD, structure, keys, variables, frame, SDTMIG)


def _arms(ctx: StudyContext) -> list[tuple[str, str]]:
    if ctx.study.allocation.arms:
        return [(a.name.upper(), a.label or a.name) for a in ctx.study.allocation.arms]
    return [ctx.plan.arm] if ctx.plan.arm is not None else []


def _te(ctx: StudyContext) -> Dataset:
    rows = [{"ETCD": "SCRN", "ELEMENT": "Screening", "TESTRL": "Informed consent",
             "TEENRL": "First treatment"}]  # fmt: skip
    for code, label in _arms(ctx):
        rows.append({"ETCD": code[:8], "ELEMENT": label, "TESTRL": "First treatment",
                     "TEENRL": "Day after the treatment"})  # fmt: skip
    rows.append({"ETCD": "FU", "ELEMENT": "Follow-up", "TESTRL": "Day after the treatment",
                 "TEENRL": "Last visit"})  # fmt: skip
    for r in rows:
        r.update(STUDYID=ctx.studyid, DOMAIN="TE")
    spec = [
        ("STUDYID", "Study Identifier", "text", "Req"),
        ("DOMAIN", "Domain Abbreviation", "text", "Req"),
        ("ETCD", "Element Code", "text", "Req"),
        ("ELEMENT", "Description of Element", "text", "Req"),
        ("TESTRL", "Rule for Start of Element", "text", "Req"),
        ("TEENRL", "Rule for End of Element", "text", "Perm"),
    ]
    return _dataset("TE", "Trial Elements", "One record per planned Element", ("STUDYID", "ETCD"),
                    spec, rows)  # fmt: skip


def _ta(ctx: StudyContext) -> Dataset:
    rows = []
    for code, label in _arms(ctx):
        for order, (etcd, element, epoch) in enumerate(
            (
                ("SCRN", "Screening", "SCREENING"),
                (code[:8], label, "TREATMENT"),
                ("FU", "Follow-up", "FOLLOW-UP"),
            ),  # fmt: skip
            start=1,
        ):
            rows.append(
                {"STUDYID": ctx.studyid, "DOMAIN": "TA", "ARMCD": code, "ARM": label,
                 "TAETORD": order, "ETCD": etcd, "ELEMENT": element, "EPOCH": epoch}
            )  # fmt: skip
    spec = [
        ("STUDYID", "Study Identifier", "text", "Req"),
        ("DOMAIN", "Domain Abbreviation", "text", "Req"),
        ("ARMCD", "Planned Arm Code", "text", "Req"),
        ("ARM", "Description of Planned Arm", "text", "Req"),
        ("TAETORD", "Planned Order of Element within Arm", "integer", "Req"),
        ("ETCD", "Element Code", "text", "Req"),
        ("ELEMENT", "Description of Element", "text", "Perm"),
        ("EPOCH", "Epoch", "text", "Req"),
    ]
    return _dataset("TA", "Trial Arms", "One record per planned Element per Arm",
                    ("STUDYID", "ARMCD", "TAETORD"), spec, rows)  # fmt: skip


def _tv(ctx: StudyContext) -> Dataset:
    rows = []
    arm_codes = {a.name: a.name.upper() for a in ctx.study.allocation.arms}
    for i, v in enumerate(ctx.study.visits, start=1):
        for arm in v.arms or (None,):
            rows.append(
                {
                    "STUDYID": ctx.studyid,
                    "DOMAIN": "TV",
                    "VISITNUM": i,
                    "VISIT": v.label or v.name,
                    "VISITDY": ctx.sdtm_day(v.day),
                    "ARMCD": arm_codes.get(arm, arm) if arm else None,
                    "TVSTRL": f"Study day {v.day} (window {v.window[0]} to {v.window[1]})"
                    if v.day is not None and v.window
                    else (f"Study day {v.day}" if v.day is not None else v.label or v.name),
                }
            )
    spec = [
        ("STUDYID", "Study Identifier", "text", "Req"),
        ("DOMAIN", "Domain Abbreviation", "text", "Req"),
        ("VISITNUM", "Visit Number", "integer", "Req"),
        ("VISIT", "Visit Name", "text", "Perm"),
        ("VISITDY", "Planned Study Day of Visit", "integer", "Perm"),
        ("ARMCD", "Planned Arm Code", "text", "Exp"),
        ("TVSTRL", "Visit Start Rule", "text", "Req"),
    ]
    return _dataset("TV", "Trial Visits", "One record per planned Visit per Arm",
                    ("STUDYID", "ARMCD", "VISITNUM"), spec, rows)  # fmt: skip


def _criteria(ctx: StudyContext) -> list[tuple[str, str, str]]:
    """(IETESTCD, IETEST, IECAT) of every eligibility rule the store knows."""
    out = []
    design = ctx.study.allocation.design
    for i, rule in enumerate(getattr(design, "eligibility", ()) or (), start=1):
        out.append((f"INCL{i:02d}", f"{rule.expr} ({rule.message})"[:200], "INCLUSION"))
    if not ctx.study_store:
        from xerotrial.store.migrate import stored_protocol

        protocol = stored_protocol(ctx.conn)
        for cat, rules in (("INCLUSION", protocol.inclusion), ("EXCLUSION", protocol.exclusion)):
            for i, rule in enumerate(rules, start=1):
                text = rule.description or str(rule)
                out.append((f"{cat[:4]}{i:02d}", text[:200], cat))
    return out


def _ti(ctx: StudyContext) -> Dataset:
    rows = [
        {
            "STUDYID": ctx.studyid,
            "DOMAIN": "TI",
            "IETESTCD": code,
            "IETEST": test,
            "IECAT": cat,
            "TIVERS": ctx.study.version,
        }  # fmt: skip
        for code, test, cat in _criteria(ctx)
    ]
    spec = [
        ("STUDYID", "Study Identifier", "text", "Req"),
        ("DOMAIN", "Domain Abbreviation", "text", "Req"),
        ("IETESTCD", "Incl/Excl Criterion Short Name", "text", "Req"),
        ("IETEST", "Inclusion/Exclusion Criterion", "text", "Req"),
        ("IECAT", "Inclusion/Exclusion Category", "text", "Req"),
        ("TIVERS", "Protocol Criteria Versions", "text", "Perm"),
    ]
    return _dataset("TI", "Trial Inclusion/Exclusion Criteria", "One record per I/E criterion",
                    ("STUDYID", "IETESTCD"), spec, rows)  # fmt: skip


def _ts(ctx: StudyContext) -> Dataset:
    s, p = ctx.study.study, ctx.plan
    randomized = ctx.study.allocation.method != "none" or ctx.study.allocation.design is not None
    values = [
        ("TITLE", s.title),
        ("SPONSOR", s.sponsor),
        ("REGID", s.nct),
        ("REGID", s.eudract),
        ("TPHASE", p.phase),
        ("INDIC", p.indication),
        ("TRT", p.treatment),
        ("TBLIND", p.blinding),
        ("RANDOM", "Y" if randomized else "N"),
        ("NARMS", str(len(_arms(ctx)))),
        ("STYPE", "INTERVENTIONAL"),
    ]
    rows, seq = [], {}
    for code, value in values:
        if not value:
            continue
        if len(value) > 200:
            from xerotrial.errors import DataValidationError

            raise DataValidationError(
                f"TS {code}: {len(value)} characters; SDTM's TSVAL holds 200 (shorten it in "
                "the definition)"
            )
        seq[code] = seq.get(code, 0) + 1
        rows.append(
            {"STUDYID": ctx.studyid, "DOMAIN": "TS", "TSSEQ": seq[code], "TSPARMCD": code,
             "TSPARM": TS_PARAMETERS[code], "TSVAL": value}
        )  # fmt: skip
    spec = [
        ("STUDYID", "Study Identifier", "text", "Req"),
        ("DOMAIN", "Domain Abbreviation", "text", "Req"),
        ("TSSEQ", "Sequence Number", "integer", "Req"),
        ("TSPARMCD", "Trial Summary Parameter Short Name", "text", "Req"),
        ("TSPARM", "Trial Summary Parameter", "text", "Req"),
        ("TSVAL", "Parameter Value", "text", "Exp"),
    ]
    return _dataset("TS", "Trial Summary", "One record per trial summary parameter value",
                    ("STUDYID", "TSPARMCD", "TSSEQ"), spec, rows)  # fmt: skip


def trial_design(ctx: StudyContext) -> list[Dataset]:
    """TS, TA, TE, TV and TI (TA and TE only where the study has arms)."""
    out = [_ts(ctx)]
    if _arms(ctx):
        out += [_ta(ctx), _te(ctx)]
    out += [_tv(ctx), _ti(ctx)]
    return out
