"""Healthy controls matched one-to-one to patients on age (+-5 years), sex, race and education.

``patients`` and ``controls`` each have the columns ``subject`` (id), ``age`` (years),
``sex``, ``race`` and ``education``. Text categories are compared after trimming and ignoring
case ("Female" = "female "); ages are compared unrounded, ``|age difference| <= tolerance``
(inclusive, with a 1e-9 allowance for decimal ages stored as binary floats).

Method (optimal, not greedy): a control can be matched to a patient when sex, race and
education are equal and the ages are within the tolerance. Among all one-to-one matchings,
:func:`match_controls` takes one with the **most pairs**, and among those the **smallest total
absolute age difference**, by solving an assignment problem
(``scipy.optimize.linear_sum_assignment``): a feasible pair costs its age difference, an
infeasible one a penalty larger than any possible sum of feasible costs, so one more pair
always beats any age saving. **Ties** between equally good matchings are broken by the solver
on patients and controls sorted by id (natural order: P2 before P10), so the result does not
depend on the order of the input rows.

Unmatched patients are reported with the reason: no control of the same sex, race and
education within the age window (with the counts that show which criterion ran out), or
all their possible controls are matched to other patients.

Example
-------
>>> import pandas as pd
>>> patients = pd.DataFrame({"subject": ["P1", "P2"], "age": [59, 70], "sex": ["M", "F"],
...                          "race": ["white"] * 2, "education": ["high"] * 2})
>>> controls = pd.DataFrame({"subject": ["C1", "C2"], "age": [63, 70], "sex": ["M", "M"],
...                          "race": ["white"] * 2, "education": ["high"] * 2})
>>> m = match_controls(patients, controls)
>>> m.pairs[["patient", "control", "age_difference"]].values.tolist()
[['P1', 'C1', 4.0]]
>>> print(m.unmatched["reason"].item())
no control of the same sex, race and education within +-5 years (same sex: 0; also same \
race: 0; also same education: 0)
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment

from ..stats.errors import DataValidationError
from ._checks import cell_error, is_blank, natural_key, number, require_all

__all__ = ["AGE_TOLERANCE", "MATCH_COLUMNS", "MatchResult", "match_controls", "pair_mismatches"]

#: Largest age difference (years, inclusive) of a patient and their matched control.
AGE_TOLERANCE = 5.0
#: Columns both tables must have.
MATCH_COLUMNS: tuple[str, ...] = ("subject", "age", "sex", "race", "education")
_CATEGORIES = ("sex", "race", "education")
_EPS = 1e-9


@dataclass(frozen=True)
class MatchResult:
    """The matching: ``pairs`` (``patient, control, patient_age, control_age,
    age_difference, sex, race, education``; absolute age difference), ``unmatched``
    (``patient, reason, n_candidates``) and the ids of ``unused_controls``."""

    pairs: pd.DataFrame
    unmatched: pd.DataFrame
    unused_controls: tuple[str, ...]
    age_tolerance: float

    def to_dict(self) -> dict:
        """Plain Python structure (lists of records) for JSON."""
        return {
            "pairs": self.pairs.to_dict("records"),
            "unmatched": self.unmatched.to_dict("records"),
            "unused_controls": list(self.unused_controls),
            "age_tolerance": self.age_tolerance,
        }


# --------------------------------------------------------------------------- cell checks


@dataclass(frozen=True)
class _People:
    ids: list[str]
    ages: np.ndarray
    keys: list[tuple[str, str, str]]  # normalised sex, race, education
    shown: list[tuple[str, str, str]]  # as given (trimmed)


def _people(frame: pd.DataFrame, source: str) -> _People:
    require_all(frame, MATCH_COLUMNS, source)
    ids, ages, keys, shown = [], [], [], []
    seen: dict[str, int] = {}
    for pos, (sid, age, *cats) in enumerate(
        frame[list(MATCH_COLUMNS)].itertuples(index=False, name=None)
    ):
        if is_blank(sid, nat=False):
            raise cell_error(source, pos, "subject", sid, "an id is required")
        key = str(sid).strip()
        if key in seen:
            raise cell_error(source, pos, "subject", sid, f"id already on row {seen[key] + 1}")
        seen[key] = pos
        x = number(age)
        if x is None or x < 0:
            raise cell_error(source, pos, "age", age, "the age is a number of years >= 0")
        for col, v in zip(_CATEGORIES, cats, strict=True):
            if is_blank(v, nat=False):
                raise cell_error(source, pos, col, v, f"{col} is required for matching")
        ids.append(key)
        ages.append(x)
        shown.append(tuple(str(v).strip() for v in cats))
        keys.append(tuple(_category(v) for v in cats))
    order = sorted(range(len(ids)), key=lambda i: natural_key(ids[i]))
    return _People(
        [ids[i] for i in order],
        np.asarray([ages[i] for i in order], dtype=float),
        [keys[i] for i in order],
        [shown[i] for i in order],
    )


# --------------------------------------------------------------------------- matching


def _category(v: object) -> str:
    return " ".join(str(v).split()).casefold()


def pair_mismatches(
    patient: dict, control: dict, age_tolerance: float = AGE_TOLERANCE
) -> list[tuple[str, str]]:
    """The criteria a recorded pair breaks, ``[(column, rule)]`` (empty: a valid match).

    ``patient`` and ``control`` map ``age, sex, race, education`` to values; a criterion with
    a value missing on either side is not checked (matching itself requires them).

    >>> for column, rule in pair_mismatches(
    ...     {"age": 60, "sex": "F", "race": "White", "education": "high"},
    ...     {"age": 66, "sex": "F", "race": "white ", "education": "low"}):
    ...     print(column, "-", rule)
    age - the ages differ by 6 years (at most 5)
    education - education differs (high vs low)
    """
    out = []
    pa, ca = number(patient.get("age")), number(control.get("age"))
    if pa is not None and ca is not None and abs(pa - ca) > age_tolerance + _EPS:
        out.append(
            ("age", f"the ages differ by {abs(pa - ca):g} years (at most {age_tolerance:g})")
        )
    for col in _CATEGORIES:
        a, b = patient.get(col), control.get(col)
        if is_blank(a, nat=False) or is_blank(b, nat=False):
            continue
        if _category(a) != _category(b):
            out.append((col, f"{col} differs ({str(a).strip()} vs {str(b).strip()})"))
    return out


def match_controls(
    patients: pd.DataFrame,
    controls: pd.DataFrame,
    age_tolerance: float = AGE_TOLERANCE,
    *,
    source: str = "data",
) -> MatchResult:
    """One-to-one optimal matching of controls to patients (see the module notes).

    ``pairs`` is sorted by patient id (natural order); ``unmatched`` lists every patient
    without a control with the reason and the number of controls that would have qualified.

    >>> import pandas as pd
    >>> p = pd.DataFrame({"subject": ["P1", "P2"], "age": [50, 54], "sex": "F",
    ...                   "race": "white", "education": "university"})
    >>> c = pd.DataFrame({"subject": ["C1", "C2"], "age": [53, 58], "sex": "F",
    ...                   "race": "white", "education": "University"})
    >>> match_controls(p, c).pairs[["patient", "control"]].values.tolist()
    [['P1', 'C1'], ['P2', 'C2']]
    """
    tol = age_tolerance
    if (
        isinstance(tol, bool)
        or not isinstance(tol, numbers.Real)
        or not math.isfinite(tol)
        or tol < 0
    ):
        raise DataValidationError(
            f"age_tolerance must be a number of years >= 0, got {age_tolerance!r}"
        )
    tol = float(tol)
    pat = _people(patients, f"{source} (patients)")
    con = _people(controls, f"{source} (controls)")
    diff = np.abs(pat.ages[:, None] - con.ages[None, :])
    same = np.array([[pk == ck for ck in con.keys] for pk in pat.keys], dtype=bool)
    same = same.reshape(len(pat.ids), len(con.ids))
    feasible = same & (diff <= tol + _EPS)

    pairs: list[tuple[int, int]] = []
    if feasible.any():
        penalty = tol * min(len(pat.ids), len(con.ids)) + 1.0
        cost = np.where(feasible, diff, penalty)
        rows, cols = linear_sum_assignment(cost)
        pairs = [(i, j) for i, j in zip(rows, cols, strict=True) if feasible[i, j]]
    pair_rows = [
        {
            "patient": pat.ids[i],
            "control": con.ids[j],
            "patient_age": pat.ages[i],
            "control_age": con.ages[j],
            "age_difference": float(diff[i, j]),
            "sex": pat.shown[i][0],
            "race": pat.shown[i][1],
            "education": pat.shown[i][2],
        }
        for i, j in sorted(pairs)
    ]
    matched_p = {i for i, _ in pairs}
    matched_c = {j for _, j in pairs}
    unmatched = []
    for i in range(len(pat.ids)):
        if i in matched_p:
            continue
        candidates = np.flatnonzero(feasible[i])
        unmatched.append(
            {
                "patient": pat.ids[i],
                "reason": _reason(i, pat, con, candidates, tol),
                "n_candidates": len(candidates),
            }
        )
    return MatchResult(
        pairs=pd.DataFrame(
            pair_rows,
            columns=[
                "patient",
                "control",
                "patient_age",
                "control_age",
                "age_difference",
                "sex",
                "race",
                "education",
            ],
        ),
        unmatched=pd.DataFrame(unmatched, columns=["patient", "reason", "n_candidates"]),
        unused_controls=tuple(con.ids[j] for j in range(len(con.ids)) if j not in matched_c),
        age_tolerance=tol,
    )


def _reason(i: int, pat: _People, con: _People, candidates: np.ndarray, tol: float) -> str:
    if len(candidates):
        taken = ", ".join(con.ids[j] for j in candidates)
        return (
            f"all {len(candidates)} control(s) of the same sex, race and education within "
            f"+-{tol:g} years ({taken}) are matched to other patients"
        )
    sex, race, edu = pat.keys[i]
    n_sex = sum(k[0] == sex for k in con.keys)
    n_race = sum(k[:2] == (sex, race) for k in con.keys)
    n_edu = sum(k == (sex, race, edu) for k in con.keys)
    return (
        f"no control of the same sex, race and education within +-{tol:g} years "
        f"(same sex: {n_sex}; also same race: {n_race}; also same education: {n_edu})"
    )
