"""CTCAE v5.0 terms the trial may need: SOC, MedDRA code and the grades each term allows.

Data only (no pandas): :data:`CTCAE_V5` maps the CTCAE term text to a :class:`CtcaeTerm`,
:func:`lookup_term` finds a term case- and space-insensitively.

Sources (``/work/shared/spec/domain.md`` section 3.2, confidence H)
    * Terms, SOCs and allowed grades ("-" in CTCAE = grade not available) are those of the
      v5.0 term table as transcribed in ``oncohub/CTCAE5`` (``ctcaev5.js``).
    * MedDRA codes given in the spec: dry mouth, injection site reaction, syncope, vasovagal
      reaction, presyncope, stroke, flu like symptoms. Codes of chills, death NOS, edema face,
      facial pain, fatigue, fever, localized edema, pain and salivary duct inflammation were
      read from the same file. Codes not checked against a source are ``None`` rather than
      recalled from memory.

The list is deliberately short (the terms of spec 3.2 and its "other nearby terms" table, plus
the pain terms it names); add a :class:`CtcaeTerm` to :data:`CTCAE_V5` for a term the trial
needs later.

Example
-------
>>> t = lookup_term("syncope")
>>> t.term, t.meddra_code, sorted(t.grades)
('Syncope', 10042772, [3])
>>> lookup_term("vasovagal reaction").soc
'Nervous system disorders'
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

__all__ = ["CTCAE_VERSION", "CTCAE_V5", "CtcaeTerm", "PAIN_TERMS", "lookup_term"]

CTCAE_VERSION = "5.0"

_GI = "Gastrointestinal disorders"
_GENERAL = "General disorders and administration site conditions"
_NERVOUS = "Nervous system disorders"


@dataclass(frozen=True)
class CtcaeTerm:
    """One CTCAE v5.0 term: its text, SOC, MedDRA code (``None`` = not verified) and the
    grades CTCAE defines for it."""

    term: str
    soc: str
    meddra_code: int | None
    grades: frozenset[int]

    def allows(self, grade: int) -> bool:
        """True when CTCAE defines ``grade`` for this term (a "-" cell is not defined)."""
        return grade in self.grades

    def grades_text(self) -> str:
        """The allowed grades for a message, e.g. ``'3, 4, 5'``."""
        return ", ".join(str(g) for g in sorted(self.grades))


def _t(term: str, soc: str, meddra: int | None, grades: set[int] | range) -> CtcaeTerm:
    return CtcaeTerm(term, soc, meddra, frozenset(grades))


_ALL = range(1, 6)
_G123 = range(1, 4)

#: Pain terms named in spec 3.2: all are graded G1 mild, G2 moderate, G3 severe (no G4/G5).
PAIN_TERMS: tuple[str, ...] = ("Pain", "Oral pain", "Neck pain", "Facial pain", "Headache")

_TERMS: tuple[CtcaeTerm, ...] = (
    # spec 3.2, trial-relevant terms
    _t("Dry mouth", _GI, 10013781, _G123),
    _t("Injection site reaction", _GENERAL, 10022095, _ALL),
    _t("Syncope", _NERVOUS, 10042772, {3}),
    _t("Vasovagal reaction", _NERVOUS, 10047166, {3, 4, 5}),
    _t("Presyncope", _NERVOUS, 10036653, {2}),
    _t("Stroke", _NERVOUS, 10042244, _ALL),
    _t("Transient ischemic attacks", _NERVOUS, None, {1, 2}),
    _t("Flu like symptoms", _GENERAL, 10016791, _G123),
    # pain terms (spec 3.2: same grades G1-G3)
    _t("Pain", _GENERAL, 10033371, _G123),
    _t("Oral pain", _GI, None, _G123),
    _t("Neck pain", "Musculoskeletal and connective tissue disorders", None, _G123),
    _t("Facial pain", _GENERAL, 10016059, _G123),
    _t("Headache", _NERVOUS, None, _G123),
    # spec 3.2, "other nearby terms"
    _t("Localized edema", _GENERAL, 10062466, _G123),
    _t("Edema face", _GENERAL, 10014222, _G123),
    _t("Hematoma", "Vascular disorders", None, _ALL),
    _t("Bruising", "Injury, poisoning and procedural complications", None, {1, 2}),
    _t("Salivary duct inflammation", _GI, 10056681, _ALL),
    _t("Salivary gland infection", "Infections and infestations", None, {2, 3, 4, 5}),
    _t("Fever", _GENERAL, 10016558, _ALL),
    _t("Fatigue", _GENERAL, 10016256, _G123),
    _t("Chills", _GENERAL, 10008531, _G123),
    # a death that cannot be attributed to a term with a grade 5
    _t("Death NOS", _GENERAL, 10011914, {5}),
)


def _key(term: str) -> str:
    return " ".join(term.replace("-", " ").split()).casefold()


#: CTCAE term text -> :class:`CtcaeTerm` (read-only).
CTCAE_V5: MappingProxyType[str, CtcaeTerm] = MappingProxyType({t.term: t for t in _TERMS})
_BY_KEY: dict[str, CtcaeTerm] = {_key(t.term): t for t in _TERMS}


def lookup_term(term: str) -> CtcaeTerm:
    """The :class:`CtcaeTerm` for ``term``, ignoring case, repeated spaces and hyphens
    ("Flu-like symptoms" finds "Flu like symptoms").

    Raises ``KeyError`` naming the known terms when ``term`` is not in :data:`CTCAE_V5`.

    >>> lookup_term("Flu-like  symptoms").term
    'Flu like symptoms'
    """
    try:
        return _BY_KEY[_key(str(term))]
    except KeyError:
        known = ", ".join(sorted(CTCAE_V5))
        raise KeyError(
            f"{term!r} is not a CTCAE v{CTCAE_VERSION} term in the table (known terms: {known})"
        ) from None
