"""Eligibility of screened persons and the screening counts of a CONSORT diagram.

``screening``: one row per screened person with the columns

=================================== ============================================================
``subject``                         screening id
``age``                             age in completed years (whole number)
``uicc8_stage``                     OPSCC stage, UICC 8th edition: I, II, III, IV (IVA/IVB/IVC)
                                    or 1-4
``years_since_radiotherapy``        years from the end of radiotherapy to screening (>= 0)
``relapse_since_radiotherapy``      any relapse since radiotherapy (yes/no)
``objective_salivary_damage``       objective signs of radiation-induced salivary gland damage
``subjective_salivary_damage``      symptoms of it (xerostomia)
``other_cancer_years_ago``          years since the most recent other cancer (empty = none)
``other_cancer_type``               its type (empty = none)
``xerogenic_medication``            ``penicillin_streptomycin_allergy``,
                                    ``other_salivary_gland_disease``,
                                    ``previous_stem_cell_therapy``,
                                    ``previous_salivary_gland_surgery``, ``alcohol_abuse``,
                                    ``smoking``, ``pregnancy``: yes/no
=================================== ============================================================

Criteria (the paper's "main" criteria; the full list is in its supplement, eMethods 1)
    Inclusion: age 18-75 (inclusive); previous OPSCC stage I-II (UICC 8); at least 2 years
    without relapse after radiotherapy (no relapse and >= 2 years since its end); objective and
    subjective radiation-induced salivary gland damage. Whether damage is "objective" (e.g.
    a UWS window) is decided upstream and recorded here as yes/no.

    Exclusion: cancer in the previous 4 years other than OPSCC and basal cell carcinoma
    (**decision:** a cancer exactly 4 years ago is within the window, ``<=``); xerogenic
    medication; penicillin or streptomycin allergy; other salivary gland disease; previous
    stem cell therapy; previous salivary gland surgery; alcohol abuse; smoking; pregnancy.

Thresholds are arguments with the paper's values as defaults. A person gets every reason that
applies (codes of :data:`REASONS`), not only the first. Yes/no cells accept yes/no, y/n,
true/false, 1/0. An empty or unreadable cell is an input error
(:class:`~xerotrial.stats.errors.DataValidationError`, naming source, row, column, value and
rule), not a reason: eligibility cannot be decided on missing data.

Example
-------
>>> import pandas as pd
>>> person = {"subject": "S01", "age": 77, "uicc8_stage": "II",
...           "years_since_radiotherapy": 3.5, "relapse_since_radiotherapy": "no",
...           "objective_salivary_damage": "yes", "subjective_salivary_damage": "yes",
...           "other_cancer_years_ago": None, "other_cancer_type": None,
...           "xerogenic_medication": "no", "penicillin_streptomycin_allergy": "no",
...           "other_salivary_gland_disease": "no", "previous_stem_cell_therapy": "no",
...           "previous_salivary_gland_surgery": "no", "alcohol_abuse": "no",
...           "smoking": "yes", "pregnancy": "no"}
>>> r = evaluate_eligibility(pd.DataFrame([person]))
>>> r["eligible"].item(), r["reasons"].item()
(False, ('age', 'smoking'))
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np
import pandas as pd

from ..stats.errors import DataValidationError
from ._checks import cell_error, first_repeat, is_blank, number, require_all, whole, yes_no

__all__ = [
    "EXCLUSION_FLAGS",
    "REASONS",
    "SCREENING_COLUMNS",
    "ScreeningLog",
    "evaluate_eligibility",
    "screening_log",
]

#: Yes/no exclusion criteria: a "yes" is the reason of the same name.
EXCLUSION_FLAGS: tuple[str, ...] = (
    "xerogenic_medication",
    "penicillin_streptomycin_allergy",
    "other_salivary_gland_disease",
    "previous_stem_cell_therapy",
    "previous_salivary_gland_surgery",
    "alcohol_abuse",
    "smoking",
    "pregnancy",
)

#: Columns the screening table must have.
SCREENING_COLUMNS: tuple[str, ...] = (
    "subject",
    "age",
    "uicc8_stage",
    "years_since_radiotherapy",
    "relapse_since_radiotherapy",
    "objective_salivary_damage",
    "subjective_salivary_damage",
    "other_cancer_years_ago",
    "other_cancer_type",
    *EXCLUSION_FLAGS,
)

#: Reason code -> description, in the order reasons are listed (inclusion, then exclusion).
REASONS: Mapping[str, str] = MappingProxyType(
    {
        "age": "age outside 18-75 years",
        "stage": "OPSCC not stage I-II (UICC 8)",
        "relapse_free": "less than 2 years without relapse after radiotherapy",
        "objective_damage": "no objective radiation-induced salivary gland damage",
        "subjective_damage": "no subjective radiation-induced salivary gland damage",
        "other_cancer": "cancer in the previous 4 years (other than OPSCC or basal cell carcinoma)",
        "xerogenic_medication": "xerogenic medication",
        "penicillin_streptomycin_allergy": "penicillin or streptomycin allergy",
        "other_salivary_gland_disease": "other salivary gland disease",
        "previous_stem_cell_therapy": "previous stem cell therapy",
        "previous_salivary_gland_surgery": "previous salivary gland surgery",
        "alcohol_abuse": "alcohol abuse",
        "smoking": "smoking",
        "pregnancy": "pregnancy",
    }
)

_ROMAN = {
    "1": "I",
    "2": "II",
    "3": "III",
    "4": "IV",
    "I": "I",
    "II": "II",
    "III": "III",
    "IV": "IV",
    "IVA": "IV",
    "IVB": "IV",
    "IVC": "IV",
}
_EXEMPT_CANCERS = ("oropharyngeal squamous cell carcinoma", "opscc", "basal cell carcinoma", "bcc")


# --------------------------------------------------------------------------- cell checks


def _stage(value: object) -> str | None:
    if isinstance(value, bool | np.bool_):
        return None
    if isinstance(value, numbers.Integral):
        value = str(int(value))
    if not isinstance(value, str):
        return None
    key = value.strip().upper().removeprefix("STAGE").strip()
    return _ROMAN.get(key)


# --------------------------------------------------------------------------- eligibility


def evaluate_eligibility(
    screening: pd.DataFrame,
    *,
    min_age: int = 18,
    max_age: int = 75,
    allowed_stages: Iterable[str] = ("I", "II"),
    min_relapse_free_years: float = 2.0,
    other_cancer_window_years: float = 4.0,
    source: str = "data",
) -> pd.DataFrame:
    """Decide eligibility per screened person.

    Returns ``subject``, ``eligible`` (bool) and ``reasons`` (tuple of :data:`REASONS`
    codes, in that order; empty iff eligible), one row per input row. Screening ids must be
    unique.

    >>> import pandas as pd
    >>> base = {c: "no" for c in SCREENING_COLUMNS}
    >>> base.update(subject="S02", age=18, uicc8_stage=1, years_since_radiotherapy=2,
    ...             objective_salivary_damage="yes", subjective_salivary_damage="yes",
    ...             other_cancer_years_ago=4, other_cancer_type="Prostate cancer")
    >>> evaluate_eligibility(pd.DataFrame([base]))["reasons"].item()
    ('other_cancer',)
    """
    require_all(screening, SCREENING_COLUMNS, source)
    stages = {_stage(s) for s in allowed_stages}
    if None in stages:
        raise DataValidationError(
            f"allowed_stages must be UICC stages I-IV, got {list(allowed_stages)!r}"
        )
    rows = []
    seen: dict[str, int] = {}
    frame = screening[list(SCREENING_COLUMNS)]
    for pos, rec in enumerate(frame.itertuples(index=False, name=None)):
        v = dict(zip(SCREENING_COLUMNS, rec, strict=True))

        def bad(column: str, rule: str, _pos: int = pos, _v: dict = v) -> DataValidationError:
            return cell_error(source, _pos, column, _v[column], rule)

        if is_blank(v["subject"], nat=False):
            raise bad("subject", "a screening id is required")
        subject = str(v["subject"]).strip()
        if subject in seen:
            raise bad("subject", f"screening id already on row {seen[subject] + 1}")
        seen[subject] = pos
        reasons: set[str] = set()

        age = whole(v["age"])
        if age is None or age < 0:
            raise bad("age", "the age is a whole number of completed years")
        if not min_age <= age <= max_age:
            reasons.add("age")
        stage = _stage(v["uicc8_stage"])
        if stage is None:
            raise bad("uicc8_stage", "the UICC 8 stage is I, II, III, IV (IVA-IVC) or 1-4")
        if stage not in stages:
            reasons.add("stage")
        years = number(v["years_since_radiotherapy"])
        if years is None or years < 0:
            raise bad("years_since_radiotherapy", "a number of years >= 0")
        flags = {}
        for col in (
            "relapse_since_radiotherapy",
            "objective_salivary_damage",
            "subjective_salivary_damage",
            *EXCLUSION_FLAGS,
        ):
            f = yes_no(v[col])
            if f is None:
                raise bad(col, "yes/no (y/n, true/false, 1/0) is required")
            flags[col] = f
        if flags["relapse_since_radiotherapy"] or years < min_relapse_free_years:
            reasons.add("relapse_free")
        if not flags["objective_salivary_damage"]:
            reasons.add("objective_damage")
        if not flags["subjective_salivary_damage"]:
            reasons.add("subjective_damage")
        if _other_cancer(v, bad, other_cancer_window_years):
            reasons.add("other_cancer")
        reasons |= {col for col in EXCLUSION_FLAGS if flags[col]}
        rows.append(
            {
                "subject": subject,
                "eligible": not reasons,
                "reasons": tuple(r for r in REASONS if r in reasons),
            }
        )
    return pd.DataFrame(rows, columns=["subject", "eligible", "reasons"])


def _other_cancer(v: dict, bad, window: float) -> bool:
    ago, kind = v["other_cancer_years_ago"], v["other_cancer_type"]
    if is_blank(ago, nat=False) and is_blank(kind, nat=False):
        return False
    if is_blank(kind, nat=False) or not isinstance(kind, str):
        raise bad(
            "other_cancer_type",
            "give the type of the other cancer (or leave both other-cancer cells empty)",
        )
    years = number(ago)
    if years is None or years < 0:
        raise bad(
            "other_cancer_years_ago",
            "years since the other cancer, a number >= 0 "
            "(leave both other-cancer cells empty for none)",
        )
    exempt = " ".join(kind.split()).casefold() in _EXEMPT_CANCERS
    return not exempt and years <= window


# --------------------------------------------------------------------------- CONSORT


@dataclass(frozen=True)
class ScreeningLog:
    """Counts for the screening part of a CONSORT flow diagram.

    ``excluded_by_reason`` counts each not-eligible person once per reason that applies (every
    :data:`REASONS` code, zeros kept), so its total can exceed ``not_eligible``, which counts
    each person once. ``eligible_not_enrolled`` are eligible persons who were not enrolled
    (e.g. declined)."""

    screened: int
    not_eligible: int
    excluded_by_reason: Mapping[str, int] = field(default_factory=dict)
    eligible: int = 0
    enrolled: int = 0
    eligible_not_enrolled: int = 0

    def to_frame(self) -> pd.DataFrame:
        """One row per box of the diagram: ``item``, ``description``, ``n``."""
        rows = [
            ("screened", "Screened", self.screened),
            ("not_eligible", "Not eligible (persons)", self.not_eligible),
        ]
        rows += [(f"reason:{k}", REASONS[k], n) for k, n in self.excluded_by_reason.items()]
        rows += [
            ("eligible", "Eligible", self.eligible),
            ("eligible_not_enrolled", "Eligible, not enrolled", self.eligible_not_enrolled),
            ("enrolled", "Enrolled", self.enrolled),
        ]
        return pd.DataFrame(rows, columns=["item", "description", "n"])


def screening_log(
    results: pd.DataFrame, enrolled_ids: Iterable[object], source: str = "data"
) -> ScreeningLog:
    """CONSORT screening counts from :func:`evaluate_eligibility`'s result.

    Every enrolled id must be a screened, eligible person (enrolling a non-eligible person is
    a protocol violation and raises :class:`DataValidationError`).

    >>> import pandas as pd
    >>> r = pd.DataFrame({"subject": ["S1", "S2", "S3"], "eligible": [True, False, True],
    ...                   "reasons": [(), ("age", "smoking"), ()]})
    >>> log = screening_log(r, ["S1"])
    >>> log.screened, log.not_eligible, log.excluded_by_reason["smoking"], log.enrolled
    (3, 1, 1, 1)
    """
    require_all(results, ("subject", "eligible", "reasons"), source)
    subjects = [str(s).strip() for s in results["subject"]]
    repeat = first_repeat(subjects)
    if repeat is not None:
        pos = repeat[1]
        raise cell_error(source, pos, "subject", subjects[pos], "screening id given twice")
    eligible = dict(zip(subjects, (bool(e) for e in results["eligible"]), strict=True))
    counts = dict.fromkeys(REASONS, 0)
    for pos, (reasons, ok) in enumerate(zip(results["reasons"], results["eligible"], strict=True)):
        codes = tuple(reasons) if isinstance(reasons, tuple | list) else None
        if codes is None or any(c not in REASONS for c in codes) or bool(ok) == bool(codes):
            raise cell_error(
                source,
                pos,
                "reasons",
                reasons,
                "reasons are REASONS codes, empty exactly when eligible",
            )
        for c in set(codes):
            counts[c] += 1
    enrolled = []
    for e in enrolled_ids:
        key = str(e).strip()
        if key not in eligible:
            raise DataValidationError(f"{source}: enrolled id {key!r} was not screened")
        if not eligible[key]:
            raise DataValidationError(f"{source}: enrolled id {key!r} is not eligible")
        if key in enrolled:
            raise DataValidationError(f"{source}: enrolled id {key!r} is given twice")
        enrolled.append(key)
    n_eligible = sum(eligible.values())
    return ScreeningLog(
        screened=len(subjects),
        not_eligible=len(subjects) - n_eligible,
        excluded_by_reason=MappingProxyType(counts),
        eligible=n_eligible,
        enrolled=len(enrolled),
        eligible_not_enrolled=n_eligible - len(enrolled),
    )
