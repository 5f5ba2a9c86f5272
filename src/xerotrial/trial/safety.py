"""Adverse events: validation against CTCAE v5.0 and ICH E2A, and the paper's Table 2.

Input: one row per adverse event (AE) with the columns

================ ================================================================================
``subject``      participant id (text; numbers are read as text)
``term``         CTCAE v5.0 term (:mod:`xerotrial.trial.ctcae`; case, spaces, hyphens ignored)
``grade``        CTCAE grade, a whole number the term allows (syncope: 3 only)
``serious``      ICH E2A seriousness: yes/no, true/false, 1/0
``sae_criteria`` the E2A criteria met, separated by ``;`` or ``,`` (empty when not serious):
                 death, life-threatening, hospitalisation, disability, congenital anomaly,
                 important medical event
``related``      relatedness to the study treatment (see below)
``onset_day``    study day of onset, day 0 = the day of the injections
================ ================================================================================

Rules (``/work/shared/spec/domain.md`` sections 3 and 4)
    * Grade and seriousness are separate fields (spec 3.3): a grade 3 vasovagal syncope may be
      non-serious, a grade 2 event with a hospital stay is serious. A serious event names at
      least one criterion, a non-serious event names none.
    * **Decision:** grade 5 (death) and the criterion "death" go together: a grade 5 event is
      serious with "death" among its criteria, and "death" is only given for a grade 5 event
      (CTCAE: report a death as grade 5 of the AE that caused it).
    * **Relatedness:** the paper reports two categories. Accepted values are ``related`` and
      ``not related`` (also ``unrelated``, true/false, yes/no) and the five-point scale
      ``definite``, ``probable``, ``possible`` (read as related, "a reasonable possibility",
      ICH E2A) and ``unlikely`` (read as not related). The column becomes a boolean.
    * ``onset_day`` must be a whole number >= ``min_onset_day`` (0: treatment-emergent only).

Table 2 (:func:`tabulate_table2`) follows the paper's layout and the AET04 rule of spec 4:
within a term, a subject is counted once, at the worst grade. Its blocks partition the events:
serious events (with the related / not related split and their terms), a "Death" row, then the
non-serious related and non-serious unrelated events with their terms. See the function for
which grade rows are shown and for the paper's "Pain at injection site" row.

Errors are :class:`~xerotrial.stats.errors.DataValidationError` naming the source, the 1-based
data row (and the file line when ``source`` is a file name), the column, the value and the rule.

Example
-------
>>> import pandas as pd
>>> ae = pd.DataFrame({"subject": ["P1"], "term": ["Syncope"], "grade": [2],
...                    "serious": ["no"], "sae_criteria": [""], "related": ["related"],
...                    "onset_day": [0]})
>>> validate_adverse_events(ae)
Traceback (most recent call last):
...
xerotrial.stats.errors.DataValidationError: data: row 1, column 'grade', value 2: CTCAE v5.0 \
'Syncope' has no grade 2 (allowed grades: 3)
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping

import numpy as np
import pandas as pd

from ..stats.errors import DataValidationError
from ._checks import cell_error, is_blank, number, require_all, whole, yes_no
from .ctcae import CTCAE_VERSION, lookup_term

__all__ = [
    "AE_COLUMNS",
    "PAPER_TABLE2_LABELS",
    "RELATEDNESS",
    "SAE_CRITERIA",
    "derive_dry_mouth_grade",
    "dry_mouth_grade_from_uws",
    "tabulate_table2",
    "validate_adverse_events",
]

#: Columns an AE data set must have.
AE_COLUMNS: tuple[str, ...] = (
    "subject",
    "term",
    "grade",
    "serious",
    "sae_criteria",
    "related",
    "onset_day",
)

#: ICH E2A seriousness criteria, in the order of E2A (output order of ``sae_criteria``).
SAE_CRITERIA: tuple[str, ...] = (
    "death",
    "life-threatening",
    "hospitalisation",
    "disability",
    "congenital anomaly",
    "important medical event",
)
_CRITERION_ALIASES: dict[str, str] = {
    **{c.replace("-", " "): c for c in SAE_CRITERIA},
    "hospitalization": "hospitalisation",
    "prolonged hospitalisation": "hospitalisation",
    "prolonged hospitalization": "hospitalisation",
    "incapacity": "disability",
    "persistent or significant disability": "disability",
    "birth defect": "congenital anomaly",
    "congenital anomaly/birth defect": "congenital anomaly",
    "medically important": "important medical event",
}

#: Accepted relatedness values (lower case) -> related to the study treatment.
RELATEDNESS: Mapping[str, bool] = {
    "related": True,
    "not related": False,
    "unrelated": False,
    "definite": True,
    "definitely related": True,
    "probable": True,
    "probably related": True,
    "possible": True,
    "possibly related": True,
    "unlikely": False,
    "unlikely related": False,
    "yes": True,
    "no": False,
    "true": True,
    "false": False,
}

#: The paper's Table 2 labels for the CTCAE terms its events are coded to. Pain at the
#: injection site is coded to the CTCAE term "Pain" (G1 mild pain, spec 3.2), since the paper
#: grades it 1 with pain-term grades 1-3.
PAPER_TABLE2_LABELS: Mapping[str, str] = {
    "Stroke": "Stroke",
    "Pain": "Pain at injection site",
    "Vasovagal reaction": "Syncope, vasovagal",
    "Flu like symptoms": "Flu-like symptoms",
}

_TABLE_COLUMNS = ["block", "label", "level", "N", "Sum", "Proportion"]


# --------------------------------------------------------------------------- cell checks


def _criteria(value: object) -> tuple[str, ...] | None:
    """Canonical E2A criteria in a cell, in E2A order; None when one is not recognised."""
    if is_blank(value):
        return ()
    if not isinstance(value, str):
        return None
    found = set()
    for part in value.replace(",", ";").split(";"):
        key = " ".join(part.replace("_", " ").replace("-", " ").split()).casefold()
        if not key:
            continue
        if key not in _CRITERION_ALIASES:
            return None
        found.add(_CRITERION_ALIASES[key])
    return tuple(c for c in SAE_CRITERIA if c in found)


# --------------------------------------------------------------------------- validation


def validate_adverse_events(
    ae: pd.DataFrame, source: str = "data", *, min_onset_day: int = 0
) -> pd.DataFrame:
    """Check every AE and return a normalised copy.

    The copy has the canonical CTCAE ``term`` plus ``soc`` and ``meddra_code`` (nullable
    integer), ``grade`` and ``onset_day`` as ``int``, ``serious`` and ``related`` as ``bool``
    and ``sae_criteria`` as a tuple of :data:`SAE_CRITERIA` names. Other columns and the index
    are kept. Raises :class:`DataValidationError` at the first bad cell (rows, then columns).

    >>> import pandas as pd
    >>> ae = pd.DataFrame({"subject": ["P4"], "term": ["stroke"], "grade": [3],
    ...                    "serious": ["yes"], "sae_criteria": ["Hospitalization"],
    ...                    "related": ["not related"], "onset_day": [82]})
    >>> out = validate_adverse_events(ae)
    >>> print(out.loc[0, ["term", "grade", "serious", "sae_criteria", "related"]].to_string())
    term                        Stroke
    grade                            3
    serious                       True
    sae_criteria    (hospitalisation,)
    related                      False
    """
    require_all(ae, AE_COLUMNS, source)
    rows: dict[str, list] = {c: [] for c in (*AE_COLUMNS, "soc", "meddra_code")}
    for pos, rec in enumerate(ae[list(AE_COLUMNS)].itertuples(index=False, name=None)):
        subject, term, grade, serious, criteria, related, onset = rec

        def bad(column: str, value: object, rule: str, _pos: int = pos) -> DataValidationError:
            return cell_error(source, _pos, column, value, rule)

        if is_blank(subject):
            raise bad("subject", subject, "every AE needs a subject id")
        if is_blank(term) or not isinstance(term, str):
            raise bad("term", term, f"give a CTCAE v{CTCAE_VERSION} term")
        try:
            t = lookup_term(term)
        except KeyError as exc:
            raise bad("term", term, exc.args[0]) from None
        g = whole(grade)
        if g is None:
            raise bad("grade", grade, "the CTCAE grade is a whole number 1-5")
        if not t.allows(g):
            raise bad(
                "grade",
                grade,
                f"CTCAE v{CTCAE_VERSION} {t.term!r} has no grade {g} "
                f"(allowed grades: {t.grades_text()})",
            )
        s = yes_no(serious)
        if s is None:
            raise bad("serious", serious, "seriousness is yes/no (true/false, 1/0)")
        crit = _criteria(criteria)
        if crit is None:
            raise bad(
                "sae_criteria",
                criteria,
                "criteria are ICH E2A names separated by ';': " + ", ".join(SAE_CRITERIA),
            )
        if s and not crit:
            raise bad(
                "sae_criteria",
                criteria,
                "a serious event names at least one ICH E2A criterion: " + ", ".join(SAE_CRITERIA),
            )
        if not s and crit:
            raise bad(
                "sae_criteria",
                criteria,
                "a non-serious event names no seriousness "
                "criterion (set serious to yes, or clear this)",
            )
        if g == 5 and "death" not in crit:
            raise bad(
                "sae_criteria",
                criteria,
                "a grade 5 event (death) is serious with the criterion 'death'",
            )
        if "death" in crit and g != 5:
            raise bad("grade", grade, "an event with the criterion 'death' is grade 5")
        r = (
            bool(related)
            if isinstance(related, bool | np.bool_)
            else RELATEDNESS.get(related.strip().casefold())
            if isinstance(related, str)
            else None
        )
        if r is None:
            raise bad(
                "related", related, "relatedness is one of: " + ", ".join(sorted(RELATEDNESS))
            )
        day = whole(onset)
        if day is None:
            raise bad(
                "onset_day",
                onset,
                "the onset study day is a whole number (day 0 = the day of the injections)",
            )
        if day < min_onset_day:
            raise bad(
                "onset_day",
                onset,
                f"the onset study day is >= {min_onset_day} (treatment-emergent events only)",
            )
        for col, value in zip(
            (*AE_COLUMNS, "soc", "meddra_code"),
            (str(subject).strip(), t.term, g, s, crit, r, day, t.soc, t.meddra_code),
            strict=True,
        ):
            rows[col].append(value)
    out = ae.copy()
    for col, values in rows.items():
        if col == "meddra_code":
            out[col] = pd.array(values, dtype="Int64")
        elif col in ("grade", "onset_day"):
            out[col] = np.asarray(values, dtype=np.int64)
        elif col in ("serious", "related"):
            out[col] = np.asarray(values, dtype=bool)
        else:
            out[col] = pd.Series(values, index=ae.index, dtype=object)
    return out


# --------------------------------------------------------------------------- Table 2


def _count_row(block: str, label: str, level: int, n: int, subjects: pd.Series) -> dict:
    k = int(subjects.nunique())
    return {"block": block, "label": label, "level": level, "N": n, "Sum": k, "Proportion": k / n}


def _term_rows(
    block: str, events: pd.DataFrame, n: int, labels: Mapping[str, str], max_display_grade: int
) -> list[dict]:
    """Per term (most subjects first, then label): the term row and its grade rows, each
    subject counted once at the worst grade within the term."""
    if events.empty:
        return []
    worst = events.groupby(["term", "subject"], sort=False)["grade"].max().reset_index()
    terms = sorted(
        worst["term"].unique(),
        key=lambda t: (-int((worst["term"] == t).sum()), labels.get(t, t).casefold()),
    )
    rows = []
    for term in terms:
        w = worst[worst["term"] == term]
        allowed = lookup_term(term).grades
        shown = {g for g in allowed if g <= max_display_grade} | set(w["grade"].tolist())
        rows.append(_count_row(block, labels.get(term, term), 0, n, w["subject"]))
        for g in sorted(shown):
            rows.append(_count_row(block, f"Grade {g}", 1, n, w.loc[w["grade"] == g, "subject"]))
    return rows


def tabulate_table2(
    ae: pd.DataFrame,
    n_subjects: int,
    *,
    labels: Mapping[str, str] | None = None,
    max_display_grade: int = 3,
    source: str = "data",
) -> pd.DataFrame:
    """The paper's Table 2, "Safety profile with adverse events", from an AE data set.

    Columns: ``block`` (serious / death / related / not related), ``label``, ``level``
    (0 = heading, 1 = indented), ``N`` (= ``n_subjects``, the safety population, so subjects
    without AEs count), ``Sum`` (subjects with at least one qualifying event) and
    ``Proportion`` = Sum / N, unrounded (the paper prints one decimal).

    Rows, in order (zero rows kept):

    1. "Serious adverse events", then "SAEs, study related" and "SAEs, not related";
    2. for each term with a serious event: a term row and grade rows (AET04: each subject once,
       at the worst grade of the term's serious events);
    3. "Death": subjects with a grade 5 event;
    4. "Adverse events, study related": subjects with a non-serious related AE, then its terms;
    5. "Adverse events, not study related": the same for non-serious unrelated AEs.

    Terms are ordered by subjects (most first), then label; ``labels`` maps a CTCAE term to
    the label printed (default: the term itself; :data:`PAPER_TABLE2_LABELS` gives the
    paper's). Grade rows shown: every grade the term allows up to ``max_display_grade``, plus
    any higher grade that occurred. This gives the paper's rows: grades 1-3 of stroke, pain and
    flu-like symptoms, only grade 3 of vasovagal reaction (CTCAE has no grade 1 or 2 for it).

    Each event falls in exactly one of the serious / related / not related blocks, so the
    stroke (serious, unrelated) is not counted again under "not study related".

    **The paper's "Pain at injection site 10 1 0.1" row.** A term row counts the subjects with
    the term, which equals the sum of its grade rows. The paper prints 1 (0.1) there, but 10
    (1.0) on its own grade 1 row, and its text says all patients had the pain. We print
    10 / 1.0 and read the paper's 1 as a typesetting error; the paper also prints no numbers on
    the other term rows and on "Adverse events, study related", which we fill in.

    >>> import pandas as pd
    >>> ae = pd.DataFrame({"subject": ["P1", "P1"], "term": ["Fatigue"] * 2,
    ...                    "grade": [1, 2], "serious": [False] * 2, "sae_criteria": [""] * 2,
    ...                    "related": ["not related"] * 2, "onset_day": [3, 9]})
    >>> t = tabulate_table2(ae, 4)
    >>> t.loc[t["block"] == "not related", ["label", "Sum"]].values.tolist()
    [['Adverse events, not study related', 1], ['Fatigue', 1], ['Grade 1', 0], \
['Grade 2', 1], ['Grade 3', 0]]
    """
    n = whole(n_subjects)
    if n is None or n < 1:
        raise DataValidationError(
            f"{source}: n_subjects must be a whole number >= 1 "
            f"(the safety population), got {n_subjects!r}"
        )
    ev = validate_adverse_events(ae, source)
    k = ev["subject"].nunique()
    if k > n:
        raise DataValidationError(
            f"{source}: {k} subjects have AEs but the safety population is n_subjects={n}; "
            "N counts every treated subject"
        )
    labels = dict(labels or {})
    serious = ev[ev["serious"]]
    rows = [
        _count_row("serious", "Serious adverse events", 0, n, serious["subject"]),
        _count_row(
            "serious", "SAEs, study related", 1, n, serious.loc[serious["related"], "subject"]
        ),
        _count_row(
            "serious", "SAEs, not related", 1, n, serious.loc[~serious["related"], "subject"]
        ),
        *_term_rows("serious", serious, n, labels, max_display_grade),
        _count_row("death", "Death", 0, n, ev.loc[ev["grade"] == 5, "subject"]),
    ]
    for block, label, related in (
        ("related", "Adverse events, study related", True),
        ("not related", "Adverse events, not study related", False),
    ):
        part = ev[~ev["serious"] & (ev["related"] == related)]
        rows.append(_count_row(block, label, 0, n, part["subject"]))
        rows.extend(_term_rows(block, part, n, labels, max_display_grade))
    return pd.DataFrame(rows, columns=_TABLE_COLUMNS)


# --------------------------------------------------------------------------- dry mouth


def dry_mouth_grade_from_uws(
    uws_ml_min: float, *, g1_above: float = 0.2, g3_below: float = 0.1
) -> int:
    """CTCAE v5.0 dry mouth grade met by the unstimulated whole saliva flow criterion.

    Spec 3.2 boundaries: grade 1 when UWS > 0.2 mL/min, grade 2 when 0.1 <= UWS <= 0.2,
    grade 3 when UWS < 0.1. The value is compared unrounded. This is the flow criterion only:
    CTCAE joins it to the symptom criteria with "or", see :func:`derive_dry_mouth_grade`.

    >>> [dry_mouth_grade_from_uws(x) for x in (0.45, 0.2, 0.1, 0.0999)]
    [1, 2, 2, 3]
    """
    if isinstance(uws_ml_min, bool) or not isinstance(uws_ml_min, numbers.Real):
        raise DataValidationError(f"UWS flow {uws_ml_min!r} is not a number (mL/min)")
    x = float(uws_ml_min)
    if not math.isfinite(x) or x < 0:
        raise DataValidationError(f"UWS flow {uws_ml_min!r} is not a flow rate >= 0 mL/min")
    if not 0 < g3_below <= g1_above:
        raise DataValidationError(
            f"thresholds need 0 < g3_below <= g1_above, got "
            f"g3_below={g3_below!r}, g1_above={g1_above!r}"
        )
    if x > g1_above:
        return 1
    return 2 if x >= g3_below else 3


def derive_dry_mouth_grade(
    data: pd.DataFrame,
    *,
    uws: str = "uws_ml_min",
    symptom_grade: str | None = None,
    out: str = "dry_mouth_grade",
    g1_above: float = 0.2,
    g3_below: float = 0.1,
    source: str = "data",
) -> pd.DataFrame:
    """Add the CTCAE dry mouth grade (nullable integer column ``out``) to a copy of ``data``.

    The grade is the flow grade of :func:`dry_mouth_grade_from_uws`. When ``symptom_grade``
    names a column of investigator-graded symptom grades (0 = no symptoms, 1-3, empty =
    not assessed), the **pre-specified rule "highest applicable grade"** is used: the larger of
    the two, or the one that is present. Rows with neither get a missing grade.

    >>> import pandas as pd
    >>> d = pd.DataFrame({"uws_ml_min": [0.25, 0.15, None], "symptoms": [3, 0, 2]})
    >>> derive_dry_mouth_grade(d, symptom_grade="symptoms")["dry_mouth_grade"].tolist()
    [3, 2, 2]
    """
    cols = (uws,) if symptom_grade is None else (uws, symptom_grade)
    require_all(data, cols, source)
    grades: list[object] = []
    for pos, (flow, *sym) in enumerate(data[list(cols)].itertuples(index=False, name=None)):
        g: int | None = None
        if not is_blank(flow):
            x = number(flow)
            if x is None:
                raise cell_error(source, pos, uws, flow, "the UWS flow is a number (mL/min)")
            try:
                g = dry_mouth_grade_from_uws(x, g1_above=g1_above, g3_below=g3_below)
            except DataValidationError as exc:
                raise cell_error(source, pos, uws, flow, str(exc)) from None
        if sym and not is_blank(sym[0]):
            s = whole(sym[0])
            if s is None or not 0 <= s <= 3:
                raise cell_error(
                    source,
                    pos,
                    symptom_grade or "",
                    sym[0],
                    "the symptom grade is 0 (none) or a dry mouth grade 1-3",
                )
            g = s if g is None else max(g, s)
        grades.append(pd.NA if g is None else g)
    result = data.copy()
    result[out] = pd.array(grades, dtype="Int64")
    return result
