"""HLA antibodies after allogeneic cells: positivity, donor-specific antibodies (DSA), Table 4.

Inputs (long format, one row per item):

* ``results``: Luminex single-antigen results, columns ``subject``, ``study_day`` (day 0 =
  the injections = baseline), ``specificity`` and ``mfi``. A specificity is allele level
  (``"A*02:01"``, ``"DRB1*04"``, a DQ/DP heterodimer bead ``"DQA1*05:05/DQB1*03:01"``) or
  antigen level (``"A2"``, ``"Cw7"``, ``"DR4"``, ``"DR52"``, ``"DQ7"``).
* ``donor_typing``: columns ``donor``, ``locus`` (A, B, C, DRB1, DRB3, DRB4, DRB5, DQA1,
  DQB1, DPA1, DPB1; an ``HLA-`` prefix is accepted), ``allele`` (``"A*02:01"`` or ``"02:01"``).
  One or two rows per donor and locus; further fields are cut to two (``A*02:01:01:01`` is
  ``A*02:01``); null alleles (suffix ``N``) are not expressed and are left out.
* ``patient_donor``: columns ``subject``, ``donor``: each patient received cells of one donor.

Rules (``/work/shared/spec/domain.md`` section 6; the paper's HLA paragraph)
    * Positive iff MFI > cut-off (strict; default 1000). The MFI and the cut-off are kept.
    * A DSA is a positive antibody whose specificity is present in the donor's typing.
    * **Matching resolution (explicit, column ``match_level``):**

      - ``"allele"``: an allele-level bead and a donor allele agree in both fields
        (``A*02:01`` and ``A*02:01``);
      - ``"allele group"``: they agree in the first field only (bead ``A*02:01``, donor
        ``A*02:06``; or one of them is typed to the first field only). Counted as a match with
        ``resolution="group"`` (default, the conservative choice for safety: antibodies to an
        allele usually react with its group); with ``resolution="allele"`` it is not a match,
        and a donor typed to the first field only at the bead's locus is an error;
      - ``"antigen"``: an antigen-level specificity equals the WHO serological equivalent of a
        donor allele (:data:`SEROLOGICAL_EQUIVALENTS`), or is the broad antigen of that split
        (``DQ3`` matches ``DQ7`` = ``DQB1*03:01``, :data:`BROAD_ANTIGENS`). The table is
        short and explicit; if a donor allele at the locus has no entry the comparison
        cannot be made and is an error (use allele-level beads or extend the table).

      A DQ/DP heterodimer bead matches when each of its chains matches a donor allele at that
      chain's locus (the bead's antigen is present in the donor); its level is the coarser one.
    * **Pre-existing vs de novo** (positive antibodies only): pre-existing when the same
      specificity is positive in the subject's baseline sample (``baseline_day``, default 0);
      de novo when the baseline sample exists but the specificity is not positive in it;
      ``"no baseline"`` when the subject has no baseline sample. A sample whose screening
      (LABScreen Mixed) was negative has no single-antigen rows: list it in ``samples`` so
      that it counts as tested.

Errors are :class:`~xerotrial.stats.errors.DataValidationError` naming the source, the 1-based
row (and the file line when ``source`` is a file name), the column, the value and the rule.

Example
-------
>>> import pandas as pd
>>> results = pd.DataFrame({"subject": ["P1", "P1"], "study_day": [0, 30],
...                         "specificity": ["A*02:01", "A*02:01"], "mfi": [3500, 5200]})
>>> typing = pd.DataFrame({"donor": ["D1", "D1"], "locus": ["A", "A"],
...                        "allele": ["A*02:01", "A*24:02"]})
>>> dsa = derive_dsa(results, typing, pd.DataFrame({"subject": ["P1"], "donor": ["D1"]}))
>>> dsa[["study_day", "mfi", "dsa", "match_level", "onset"]].values.tolist()
[[0, 3500.0, True, 'allele', 'pre-existing'], [30, 5200.0, True, 'allele', 'pre-existing']]
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

import numpy as np
import pandas as pd

from ..stats.errors import DataValidationError
from ._checks import (
    cell_error,
    first_repeat,
    ids,
    is_blank,
    natural_key,
    number,
    require_all,
    whole,
)

__all__ = [
    "BROAD_ANTIGENS",
    "HLA_LOCI",
    "SEROLOGICAL_EQUIVALENTS",
    "Allele",
    "Specificity",
    "derive_dsa",
    "derive_hla_positive",
    "parse_allele",
    "parse_specificity",
    "serological_equivalent",
    "tabulate_table4",
]

#: Loci typed in the trial's donors (the paper: HLA-A, -B, -C, -DRB1, -DRB3/4/5, -DQA1,
#: -DQB1, -DPA1 and -DPB1).
HLA_LOCI: tuple[str, ...] = (
    "A",
    "B",
    "C",
    "DRB1",
    "DRB3",
    "DRB4",
    "DRB5",
    "DQA1",
    "DQB1",
    "DPA1",
    "DPB1",
)

Resolution = Literal["group", "allele"]

_ALLELE = re.compile(
    r"(?:HLA-)?(?P<locus>A|B|C|DRB1|DRB3|DRB4|DRB5|DQA1|DQB1|DPA1|DPB1)\*"
    r"(?P<f1>\d{2,3})(?::(?P<f2>\d{2,4}))?(?::\d{2,3}){0,2}(?P<suffix>[NLSCAQ])?"
)
_ANTIGEN = re.compile(r"(?:HLA-)?(?P<prefix>A|B|CW|C|DR|DQ)(?P<number>\d{1,3})")


@dataclass(frozen=True, order=True)
class Allele:
    """An HLA allele to one or two fields, e.g. ``Allele("A", ("02", "01"))``."""

    locus: str
    fields: tuple[str, ...]
    null: bool = False

    def __str__(self) -> str:
        return f"{self.locus}*{':'.join(self.fields)}"


@dataclass(frozen=True)
class Specificity:
    """A single-antigen bead specificity: allele level (``chains``) or antigen level."""

    text: str
    level: Literal["allele", "antigen"]
    locus: str
    chains: tuple[Allele, ...] = ()
    antigen: str | None = None


def parse_allele(text: str, locus: str | None = None) -> Allele:
    """Parse ``"A*02:01"`` (or ``"02:01"`` with ``locus="A"``); fields after the second are
    dropped. Raises ``ValueError`` with the reason.

    >>> str(parse_allele("HLA-DQB1*03:01:01:02")), str(parse_allele("07:02", "C"))
    ('DQB1*03:01', 'C*07:02')
    """
    s = str(text).strip().upper()
    if locus is not None and "*" not in s:
        s = f"{locus}*{s}"
    m = _ALLELE.fullmatch(s)
    if m is None:
        raise ValueError(
            f"{text!r} is not an HLA allele like 'A*02:01' at a locus in {', '.join(HLA_LOCI)}"
        )
    fields = (m["f1"],) if m["f2"] is None else (m["f1"], m["f2"])
    return Allele(m["locus"], fields, null=m["suffix"] == "N")


def _antigen_locus(antigen: str) -> str:
    if antigen.startswith("Cw"):
        return "C"
    if antigen.startswith("DQ"):
        return "DQB1"
    if antigen.startswith("DR"):
        return {"DR51": "DRB5", "DR52": "DRB3", "DR53": "DRB4"}.get(antigen, "DRB1")
    return antigen[0]


def parse_specificity(text: str) -> Specificity:
    """Parse a bead specificity; raises ``ValueError`` with the reason.

    >>> parse_specificity("dqa1*05:05/dqb1*03:01").locus
    'DQB1'
    >>> s = parse_specificity("C7")
    >>> s.level, s.antigen, s.locus
    ('antigen', 'Cw7', 'C')
    """
    s = str(text).strip().upper().replace(" ", "")
    if "*" in s:
        chains = tuple(parse_allele(part) for part in s.split("/"))
        loci = [c.locus for c in chains]
        if len(set(loci)) != len(loci) or len(chains) > 2:
            raise ValueError(
                f"{text!r}: a bead has one allele, or two chains of one "
                "heterodimer such as 'DQA1*05:05/DQB1*03:01'"
            )
        chains = tuple(sorted(chains))
        canonical = "/".join(str(c) for c in chains)
        return Specificity(canonical, "allele", chains[-1].locus, chains=chains)
    m = _ANTIGEN.fullmatch(s)
    if m is None:
        raise ValueError(
            f"{text!r} is not an HLA specificity: give an allele ('A*02:01', "
            "'DQA1*05:05/DQB1*03:01') or an antigen ('A2', 'Cw7', 'DR4', 'DQ7')"
        )
    prefix = "Cw" if m["prefix"] in ("C", "CW") else m["prefix"]
    antigen = f"{prefix}{int(m['number'])}"
    return Specificity(antigen, "antigen", _antigen_locus(antigen), antigen=antigen)


# --------------------------------------------------------------------------- serology

_SAME_NUMBER = {
    "A": "01 02 03 11 23 24 25 26 29 30 31 32 33 34 36 43 66 68 69 74 80",
    "B": "07 08 13 18 27 35 37 38 39 41 42 44 45 46 47 48 49 50 51 52 53 54 55 56 57 58 59 "
    "67 73 78 81 82",
    "C": "01 02 04 05 06 07 08",
    "DRB1": "01 04 07 08 09 10 11 12 13 14 15 16",
    "DQB1": "02 04 05 06",
}
_PREFIX = {"A": "A", "B": "B", "C": "Cw", "DRB1": "DR", "DQB1": "DQ"}
_SPLIT_ALLELES = {
    "B*14:01": "B64",
    "B*14:02": "B65",
    "B*15:01": "B62",
    "B*15:02": "B75",
    "B*15:03": "B72",
    "B*15:10": "B71",
    "B*15:12": "B76",
    "B*15:13": "B77",
    "B*15:16": "B63",
    "B*15:17": "B63",
    "B*40:01": "B60",
    "B*40:02": "B61",
    "C*03:02": "Cw10",
    "C*03:03": "Cw9",
    "C*03:04": "Cw10",
    "DRB1*03:01": "DR17",
    "DRB1*03:02": "DR18",
    "DQB1*03:01": "DQ7",
    "DQB1*03:02": "DQ8",
    "DQB1*03:03": "DQ9",
}

#: WHO serological equivalents used for antigen-level matching: an allele (``"B*15:01"``) or
#: a whole allele group (``"A*02"``) -> antigen. DRB3, DRB4 and DRB5 alleles are DR52, DR53
#: and DR51. Groups that split into several antigens (B*14, B*15, B*40, C*03, DRB1*03,
#: DQB1*03) are listed allele by allele. Deliberately not exhaustive.
SEROLOGICAL_EQUIVALENTS: Mapping[str, str] = MappingProxyType(
    {
        **{
            f"{locus}*{g}": f"{_PREFIX[locus]}{int(g)}"
            for locus, groups in _SAME_NUMBER.items()
            for g in groups.split()
        },
        **_SPLIT_ALLELES,
    }
)

#: Broad antigen -> its splits: an antibody reported as the broad antigen matches a donor
#: antigen that is one of its splits.
BROAD_ANTIGENS: Mapping[str, frozenset[str]] = MappingProxyType(
    {
        broad: frozenset(splits.split())
        for broad, splits in {
            "A9": "A23 A24",
            "A10": "A25 A26 A34 A66",
            "A19": "A29 A30 A31 A32 A33 A74",
            "A28": "A68 A69",
            "B5": "B51 B52",
            "B12": "B44 B45",
            "B14": "B64 B65",
            "B15": "B62 B63 B75 B76 B77",
            "B16": "B38 B39",
            "B17": "B57 B58",
            "B21": "B49 B50",
            "B22": "B54 B55 B56",
            "B40": "B60 B61",
            "B70": "B71 B72",
            "Cw3": "Cw9 Cw10",
            "DR2": "DR15 DR16",
            "DR3": "DR17 DR18",
            "DR5": "DR11 DR12",
            "DR6": "DR13 DR14",
            "DQ1": "DQ5 DQ6",
            "DQ3": "DQ7 DQ8 DQ9",
        }.items()
    }
)


def serological_equivalent(allele: Allele | str) -> str | None:
    """The antigen of an allele per :data:`SEROLOGICAL_EQUIVALENTS`, or None if not listed.

    >>> serological_equivalent("DQB1*03:01"), serological_equivalent("DRB4*01:03")
    ('DQ7', 'DR53')
    >>> serological_equivalent("B*15:05") is None
    True
    """
    a = parse_allele(allele) if isinstance(allele, str) else allele
    if a.locus in ("DRB3", "DRB4", "DRB5"):
        return {"DRB3": "DR52", "DRB4": "DR53", "DRB5": "DR51"}[a.locus]
    if len(a.fields) == 2 and str(a) in SEROLOGICAL_EQUIVALENTS:
        return SEROLOGICAL_EQUIVALENTS[str(a)]
    return SEROLOGICAL_EQUIVALENTS.get(f"{a.locus}*{a.fields[0]}")


# --------------------------------------------------------------------------- cell checks


def _days(frame: pd.DataFrame, source: str) -> list[int]:
    out = []
    for pos, v in enumerate(frame["study_day"].tolist()):
        day = whole(v)
        if day is None:
            raise cell_error(
                source,
                pos,
                "study_day",
                v,
                "the study day is a whole number (day 0 = the injections)",
            )
        out.append(day)
    return out


# --------------------------------------------------------------------------- positivity


def derive_hla_positive(
    results: pd.DataFrame, cutoff: float = 1000, source: str = "data"
) -> pd.DataFrame:
    """Validate single-antigen results and flag positive beads (MFI > ``cutoff``, strict).

    Returns a copy with ``subject`` and ``specificity`` in canonical text, ``study_day`` as
    ``int``, ``mfi`` as float, and new columns ``locus`` (the bead's locus; the beta chain of
    a heterodimer), ``level`` ("allele" / "antigen"), ``cutoff`` and ``positive``. A bead may
    appear once per sample (subject and day).

    >>> import pandas as pd
    >>> r = pd.DataFrame({"subject": ["P2"] * 2, "study_day": [30, 30],
    ...                   "specificity": ["b*13:02", "DR7"], "mfi": [1000, 1150]})
    >>> derive_hla_positive(r)[["specificity", "locus", "mfi", "positive"]].values.tolist()
    [['B*13:02', 'B', 1000.0, False], ['DR7', 'DRB1', 1150.0, True]]
    """
    require_all(results, ("subject", "study_day", "specificity", "mfi"), source)
    cut = number(cutoff)
    if cut is None:
        raise DataValidationError(
            f"{source}: the MFI cut-off must be a finite number, got {cutoff!r}"
        )
    subjects = ids(results, "subject", source)
    days = _days(results, source)
    specs, mfis = [], []
    for pos, (text, mfi) in enumerate(
        results[["specificity", "mfi"]].itertuples(index=False, name=None)
    ):
        try:
            specs.append(parse_specificity(text))
        except ValueError as exc:
            raise cell_error(source, pos, "specificity", text, str(exc)) from None
        x = number(mfi)
        if x is None:
            raise cell_error(source, pos, "mfi", mfi, "the MFI is a finite number")
        mfis.append(x)
    keys = list(zip(subjects, days, (s.text for s in specs), strict=True))
    repeat = first_repeat(keys)
    if repeat is not None:
        first, pos = repeat
        subject, day, text = keys[pos]
        raise cell_error(
            source,
            pos,
            "specificity",
            text,
            f"bead already given on row {first + 1} for subject {subject} on "
            f"day {day} (one MFI per bead and sample)",
        )
    out = results.copy()
    out["subject"] = pd.Series(subjects, index=results.index, dtype=object)
    out["study_day"] = np.asarray(days, dtype=np.int64)
    out["specificity"] = pd.Series([s.text for s in specs], index=results.index, dtype=object)
    out["mfi"] = np.asarray(mfis, dtype=float)
    out["locus"] = pd.Series([s.locus for s in specs], index=results.index, dtype=object)
    out["level"] = pd.Series([s.level for s in specs], index=results.index, dtype=object)
    out["cutoff"] = cut
    out["positive"] = out["mfi"].to_numpy() > cut
    return out


# --------------------------------------------------------------------------- donors


def _donor_alleles(typing: pd.DataFrame, source: str) -> dict[str, dict[str, list[Allele]]]:
    """donor -> locus -> expressed alleles (null alleles dropped)."""
    require_all(typing, ("donor", "locus", "allele"), source)
    donors = ids(typing, "donor", source)
    out: dict[str, dict[str, list[Allele]]] = {}
    for pos, (donor, locus, allele) in enumerate(
        zip(donors, typing["locus"].tolist(), typing["allele"].tolist(), strict=True)
    ):
        loc = "" if is_blank(locus, nat=False) else str(locus).strip().upper().removeprefix("HLA-")
        if loc not in HLA_LOCI:
            raise cell_error(
                source, pos, "locus", locus, "the locus is one of " + ", ".join(HLA_LOCI)
            )
        if is_blank(allele, nat=False):
            raise cell_error(source, pos, "allele", allele, "give the allele typed")
        try:
            a = parse_allele(str(allele), loc)
        except ValueError as exc:
            raise cell_error(source, pos, "allele", allele, str(exc)) from None
        if a.locus != loc:
            raise cell_error(source, pos, "allele", allele, f"the allele is not at locus {loc}")
        alleles = out.setdefault(donor, {}).setdefault(loc, [])
        alleles.append(a)
        if len(alleles) > 2:
            raise cell_error(
                source, pos, "allele", allele, f"donor {donor} has more than two alleles at {loc}"
            )
    return {
        d: {loc: [a for a in al if not a.null] for loc, al in loci.items()}
        for d, loci in out.items()
    }


def _patient_donors(
    patient_donor: pd.DataFrame, known: Iterable[str], source: str
) -> dict[str, str]:
    require_all(patient_donor, ("subject", "donor"), source)
    subjects = ids(patient_donor, "subject", source)
    donors = ids(patient_donor, "donor", source)
    known = set(known)
    out: dict[str, str] = {}
    for pos, (subject, donor) in enumerate(zip(subjects, donors, strict=True)):
        if donor not in known:
            raise cell_error(source, pos, "donor", donor, "no HLA typing for this donor")
        if out.get(subject, donor) != donor:
            raise cell_error(
                source,
                pos,
                "donor",
                donor,
                f"subject {subject} already has donor {out[subject]}: a patient "
                "receives cells from one donor",
            )
        out[subject] = donor
    return out


def _allele_match(
    chain: Allele, donor: Mapping[str, list[Allele]], resolution: Resolution, donor_id: str
) -> tuple[str, Allele] | None:
    """The best match of an allele-level chain among the donor's alleles at its locus."""
    if resolution == "allele" and len(chain.fields) < 2:
        raise DataValidationError(
            f"the bead {chain} is given to the first field only: it "
            "cannot be compared at allele resolution; use "
            "resolution='group'"
        )
    best = None
    for a in donor.get(chain.locus, []):
        if resolution == "allele" and len(a.fields) < 2:
            raise DataValidationError(
                f"donor {donor_id} is typed {a} (first field only): it cannot be compared at "
                "allele resolution; type to two fields or use resolution='group'"
            )
        if a.fields[0] != chain.fields[0]:
            continue
        if len(a.fields) == 2 and a.fields == chain.fields:
            return "allele", a
        if resolution == "group":
            best = ("allele group", a)
    return best


def _antigen_match(spec: Specificity, donor: Mapping[str, list[Allele]], donor_id: str):
    antigen = spec.antigen or ""
    for a in donor.get(spec.locus, []):
        eq = serological_equivalent(a)
        if eq is None:
            raise DataValidationError(
                f"donor {donor_id}'s {a} has no serological equivalent in "
                f"SEROLOGICAL_EQUIVALENTS, so the antigen-level bead {antigen} cannot be "
                "compared with it: use allele-level beads or extend the table"
            )
        if eq == antigen or eq in BROAD_ANTIGENS.get(antigen, ()):
            return "antigen", a
    return None


def _match(
    spec: Specificity, donor: Mapping[str, list[Allele]], resolution: Resolution, donor_id: str
) -> tuple[str, str]:
    """(match level, matched donor allele(s)), or ("", "") when the bead is not a donor
    antigen."""
    if spec.level == "antigen":
        m = _antigen_match(spec, donor, donor_id)
        return (m[0], str(m[1])) if m else ("", "")
    found = []
    for chain in spec.chains:
        m = _allele_match(chain, donor, resolution, donor_id)
        if m is None:
            return "", ""
        found.append(m)
    level = "allele group" if any(lv == "allele group" for lv, _ in found) else "allele"
    return level, "/".join(str(a) for _, a in found)


# --------------------------------------------------------------------------- DSA


def derive_dsa(
    results: pd.DataFrame,
    donor_typing: pd.DataFrame,
    patient_donor: pd.DataFrame,
    *,
    cutoff: float = 1000,
    baseline_day: int = 0,
    resolution: Resolution = "group",
    samples: pd.DataFrame | None = None,
    source: str = "data",
) -> pd.DataFrame:
    """Flag donor-specific antibodies and classify positives as pre-existing or de novo.

    Returns :func:`derive_hla_positive`'s frame plus ``donor``, ``donor_antigen`` (the bead's
    specificity is in the donor's typing, whatever the MFI), ``match_level`` ("allele",
    "allele group", "antigen" or ""), ``donor_match`` (the donor allele(s) matched),
    ``dsa`` (positive and donor antigen), ``baseline_mfi`` (the bead's MFI in the baseline
    sample, NaN if not measured) and ``onset`` ("pre-existing", "de novo", "no baseline";
    "" for negative beads). ``samples`` (columns ``subject``, ``study_day``) lists tested
    samples without single-antigen rows (negative screening). See the module notes for the
    matching rules.

    >>> import pandas as pd
    >>> r = pd.DataFrame({"subject": ["P5", "P5"], "study_day": [0, 30],
    ...                   "specificity": ["DR17", "DR17"], "mfi": [400, 6000]})
    >>> t = pd.DataFrame({"donor": "D2", "locus": "DRB1", "allele": ["03:01", "01:01"]})
    >>> out = derive_dsa(r, t, pd.DataFrame({"subject": ["P5"], "donor": ["D2"]}))
    >>> out[["study_day", "positive", "dsa", "donor_match", "onset"]].values.tolist()
    [[0, False, False, 'DRB1*03:01', ''], [30, True, True, 'DRB1*03:01', 'de novo']]
    """
    if resolution not in ("group", "allele"):
        raise DataValidationError(f"resolution must be 'group' or 'allele', got {resolution!r}")
    out = derive_hla_positive(results, cutoff, source)
    typing = _donor_alleles(donor_typing, f"{source} (donor typing)")
    donors = _patient_donors(patient_donor, typing, f"{source} (patient-donor)")
    tested = _tested_samples(out, samples, source)
    for pos, (subject, day) in enumerate(zip(out["subject"], out["study_day"], strict=True)):
        if subject not in donors:
            raise cell_error(
                source, pos, "subject", subject, "no donor given for this subject in patient_donor"
            )
        if day < baseline_day:
            raise cell_error(
                source,
                pos,
                "study_day",
                day,
                f"samples before the baseline (day {baseline_day}) are not expected",
            )
    levels, matched = [], []
    for pos, (subject, text) in enumerate(zip(out["subject"], out["specificity"], strict=True)):
        donor = donors[subject]
        try:
            lv, al = _match(parse_specificity(text), typing[donor], resolution, donor)
        except DataValidationError as exc:
            raise cell_error(source, pos, "specificity", text, str(exc)) from None
        levels.append(lv)
        matched.append(al)
    out["donor"] = out["subject"].map(donors)
    out["donor_antigen"] = np.asarray([bool(lv) for lv in levels], dtype=bool)
    out["match_level"] = pd.Series(levels, index=out.index, dtype=object)
    out["donor_match"] = pd.Series(matched, index=out.index, dtype=object)
    out["dsa"] = out["positive"].to_numpy() & out["donor_antigen"].to_numpy()
    base = out[out["study_day"] == baseline_day]
    base_mfi = dict(
        zip(zip(base["subject"], base["specificity"], strict=True), base["mfi"], strict=True)
    )
    base_pos = {k for k, p in zip(base_mfi, base["positive"], strict=True) if p}
    keys = list(zip(out["subject"], out["specificity"], strict=True))
    out["baseline_mfi"] = np.asarray([base_mfi.get(k, np.nan) for k in keys], dtype=float)
    onset = []
    for key, positive in zip(keys, out["positive"], strict=True):
        if not positive:
            onset.append("")
        elif (key[0], baseline_day) not in tested:
            onset.append("no baseline")
        else:
            onset.append("pre-existing" if key in base_pos else "de novo")
    out["onset"] = pd.Series(onset, index=out.index, dtype=object)
    return out


def _tested_samples(
    positive: pd.DataFrame, samples: pd.DataFrame | None, source: str
) -> set[tuple[str, int]]:
    tested = set(zip(positive["subject"], positive["study_day"], strict=True))
    if samples is not None:
        src = f"{source} (samples)"
        require_all(samples, ("subject", "study_day"), src)
        tested |= set(zip(ids(samples, "subject", src), _days(samples, src), strict=True))
    return tested


# --------------------------------------------------------------------------- Table 4

_LONG = ["subject", "study_day", "specificity", "mfi", "dsa", "onset"]


def tabulate_table4(
    dsa: pd.DataFrame,
    *,
    samples: pd.DataFrame | None = None,
    layout: Literal["long", "wide"] = "long",
    source: str = "data",
) -> pd.DataFrame:
    """Table 4 of the paper: HLA antibody specificities with MFI, DSA flag and onset.

    ``dsa`` is :func:`derive_dsa`'s output. Patients are in natural order (P2 before P10).

    * ``layout="long"``: one row per positive antibody per patient and time point, columns
      ``subject, study_day, specificity, mfi, dsa, onset``; DSAs first, then by falling MFI.
      A tested sample without positive antibodies (in ``dsa`` or ``samples``) gets one row
      with ``specificity`` None, ``mfi`` NaN, ``dsa`` False and ``onset`` "".
    * ``layout="wide"``: one row per patient and specificity positive at some time point,
      columns ``subject, specificity, dsa, onset, first_positive_day`` and ``mfi_day_<d>``
      for each study day (the MFI whenever the bead was measured, also below the cut-off, so
      rises and falls show; NaN if not measured). ``dsa`` is True if the antibody was a DSA at
      any time; ``onset`` is that of its first positive sample.

    >>> import pandas as pd
    >>> r = pd.DataFrame({"subject": "P1", "study_day": [0, 30, 120],
    ...                   "specificity": "A*02:01", "mfi": [3500, 5200, 2100]})
    >>> t = pd.DataFrame({"donor": ["D1"], "locus": ["A"], "allele": ["A*02:01"]})
    >>> d = derive_dsa(r, t, pd.DataFrame({"subject": ["P1"], "donor": ["D1"]}))
    >>> print(tabulate_table4(d, layout="wide").to_string(index=False))
    subject specificity  dsa        onset  first_positive_day  mfi_day_0  mfi_day_30  mfi_day_120
         P1     A*02:01 True pre-existing                   0     3500.0      5200.0       2100.0
    """
    need = ("subject", "study_day", "specificity", "mfi", "positive", "dsa", "onset")
    require_all(dsa, need, source)
    if layout not in ("long", "wide"):
        raise DataValidationError(f"layout must be 'long' or 'wide', got {layout!r}")
    pos = dsa[dsa["positive"].astype(bool)]
    if layout == "wide":
        return _wide(dsa, pos)
    tested = _tested_samples(dsa, samples, source)
    with_ab = set(zip(pos["subject"], pos["study_day"], strict=True))
    empty = [
        {
            "subject": s,
            "study_day": d,
            "specificity": None,
            "mfi": np.nan,
            "dsa": False,
            "onset": "",
        }
        for s, d in sorted(tested - with_ab)
    ]
    table = pos[_LONG].astype({"dsa": bool}).reset_index(drop=True)
    if empty:
        table = pd.concat([table, pd.DataFrame(empty, columns=_LONG)], ignore_index=True)
    order = sorted(
        range(len(table)),
        key=lambda i: (
            natural_key(str(table["subject"].iat[i])),
            int(table["study_day"].iat[i]),
            not table["dsa"].iat[i],
            -np.nan_to_num(table["mfi"].iat[i], nan=-np.inf),
            str(table["specificity"].iat[i]),
        ),
    )
    return table.iloc[order].reset_index(drop=True)


def _wide(dsa: pd.DataFrame, pos: pd.DataFrame) -> pd.DataFrame:
    days = sorted({int(d) for d in dsa["study_day"]})
    rows = []
    for (subject, spec), g in pos.groupby(["subject", "specificity"], sort=False):
        g = g.sort_values("study_day")
        all_mfi = dsa[(dsa["subject"] == subject) & (dsa["specificity"] == spec)]
        mfi = dict(zip(all_mfi["study_day"].astype(int), all_mfi["mfi"], strict=True))
        rows.append(
            {
                "subject": subject,
                "specificity": spec,
                "dsa": bool(g["dsa"].any()),
                "onset": g["onset"].iat[0],
                "first_positive_day": int(g["study_day"].iat[0]),
                **{f"mfi_day_{d}": mfi.get(d, np.nan) for d in days},
            }
        )
    columns = [
        "subject",
        "specificity",
        "dsa",
        "onset",
        "first_positive_day",
        *(f"mfi_day_{d}" for d in days),
    ]
    table = pd.DataFrame(rows, columns=columns)
    order = sorted(
        range(len(table)),
        key=lambda i: (
            natural_key(str(table["subject"].iat[i])),
            not table["dsa"].iat[i],
            table["first_positive_day"].iat[i],
            str(table["specificity"].iat[i]),
        ),
    )
    return table.iloc[order].reset_index(drop=True)
