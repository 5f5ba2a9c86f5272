"""SDTMIG 3.4 variable labels and core designations, written once.

Labels are the implementation guide's; a domain's variable is found by its own name (``DM``'s
``ARMNRS``), else by its general-class name with the domain prefix taken off
(``LBTESTCD`` -> ``--TESTCD``). ``core`` is Req (present and never null), Exp (present) or
Perm.

Example
-------
>>> label("QS", "QSTESTCD"), core("QS", "QSTESTCD")
('Question Short Name', 'Req')
>>> label("XS", "XSORRES")
'Result or Finding in Original Units'
"""

from __future__ import annotations

__all__ = ["FINDINGS_ORDER", "core", "label"]

_COMMON = {
    "STUDYID": ("Study Identifier", "Req"),
    "DOMAIN": ("Domain Abbreviation", "Req"),
    "USUBJID": ("Unique Subject Identifier", "Req"),
    "VISITNUM": ("Visit Number", "Exp"),
    "VISIT": ("Visit Name", "Perm"),
    "VISITDY": ("Planned Study Day of Visit", "Perm"),
    "EPOCH": ("Epoch", "Perm"),
}
_GENERAL = {
    "--SEQ": ("Sequence Number", "Req"),
    "--SPID": ("Sponsor-Defined Identifier", "Perm"),
    "--TESTCD": ("Short Name of Measurement, Test or Exam", "Req"),
    "--TEST": ("Name of Measurement, Test or Examination", "Req"),
    "--CAT": ("Category", "Perm"),
    "--SCAT": ("Subcategory", "Perm"),
    "--ORRES": ("Result or Finding in Original Units", "Exp"),
    "--ORRESU": ("Original Units", "Exp"),
    "--ORNRLO": ("Normal Range Lower Limit in Orig Unit", "Exp"),
    "--ORNRHI": ("Normal Range Upper Limit in Orig Unit", "Exp"),
    "--STRESC": ("Character Result/Finding in Std Format", "Exp"),
    "--STRESN": ("Numeric Result/Finding in Standard Units", "Exp"),
    "--STRESU": ("Standard Units", "Exp"),
    "--STNRLO": ("Normal Range Lower Limit-Std Units", "Exp"),
    "--STNRHI": ("Normal Range Upper Limit-Std Units", "Exp"),
    "--NRIND": ("Reference Range Indicator", "Exp"),
    "--STAT": ("Completion Status", "Perm"),
    "--REASND": ("Reason Not Done", "Perm"),
    "--SPEC": ("Specimen Type", "Perm"),
    "--LOC": ("Location Used for the Measurement", "Perm"),
    "--LAT": ("Laterality", "Perm"),
    "--METHOD": ("Method of Test or Examination", "Perm"),
    "--LOBXFL": ("Last Observation Before Exposure Flag", "Exp"),
    "--DTC": ("Date/Time of Collection", "Exp"),
    "--DY": ("Study Day of Collection", "Perm"),
    "--STDTC": ("Start Date/Time of Observation", "Exp"),
    "--ENDTC": ("End Date/Time of Observation", "Perm"),
    "--STDY": ("Study Day of Start of Observation", "Perm"),
    "--ENDY": ("Study Day of End of Observation", "Perm"),
}
_DOMAIN = {
    "DM": {
        "SUBJID": ("Subject Identifier for the Study", "Req"),
        "RFSTDTC": ("Subject Reference Start Date/Time", "Exp"),
        "RFENDTC": ("Subject Reference End Date/Time", "Exp"),
        "RFXSTDTC": ("Date/Time of First Study Treatment", "Exp"),
        "RFXENDTC": ("Date/Time of Last Study Treatment", "Exp"),
        "SITEID": ("Study Site Identifier", "Req"),
        "AGE": ("Age", "Exp"),
        "AGEU": ("Age Units", "Exp"),
        "SEX": ("Sex", "Req"),
        "RACE": ("Race", "Exp"),
        "ETHNIC": ("Ethnicity", "Perm"),
        "ARMCD": ("Planned Arm Code", "Exp"),
        "ARM": ("Description of Planned Arm", "Exp"),
        "ACTARMCD": ("Actual Arm Code", "Exp"),
        "ACTARM": ("Description of Actual Arm", "Exp"),
        "ARMNRS": ("Reason Arm and/or Actual Arm is Null", "Exp"),
        "COUNTRY": ("Country", "Req"),
    },
    "AE": {
        "AETERM": ("Reported Term for the Adverse Event", "Req"),
        "AEDECOD": ("Dictionary-Derived Term", "Req"),
        "AEBODSYS": ("Body System or Organ Class", "Exp"),
        "AESOC": ("Primary System Organ Class", "Exp"),
        "AESEV": ("Severity/Intensity", "Perm"),
        "AEACN": ("Action Taken with Study Treatment", "Exp"),
        "AEOUT": ("Outcome of Adverse Event", "Perm"),
        "AESCAN": ("Involves Cancer", "Perm"),
        "AESCONG": ("Congenital Anomaly or Birth Defect", "Perm"),
        "AESDISAB": ("Persist or Signif Disability/Incapacity", "Perm"),
        "AESDTH": ("Results in Death", "Perm"),
        "AESHOSP": ("Requires or Prolongs Hospitalization", "Perm"),
        "AESLIFE": ("Is Life Threatening", "Perm"),
        "AESMIE": ("Other Medically Important Serious Event", "Perm"),
        "AESER": ("Serious Event", "Exp"),
        "AEREL": ("Causality", "Exp"),
        "AETOXGR": ("Standard Toxicity Grade", "Perm"),
    },
    "EX": {
        "EXTRT": ("Name of Treatment", "Req"),
        "EXDOSE": ("Dose", "Exp"),
        "EXDOSU": ("Dose Units", "Exp"),
        "EXLOC": ("Location of Dose Administration", "Perm"),
        "EXLOT": ("Lot Number", "Perm"),
        "EXSTDTC": ("Start Date/Time of Treatment", "Exp"),
        "EXENDTC": ("End Date/Time of Treatment", "Exp"),
        "EXSTDY": ("Study Day of Start of Treatment", "Perm"),
        "EXENDY": ("Study Day of End of Treatment", "Perm"),
        "EXROUTE": ("Route of Administration", "Perm"),
        "EXDOSFRM": ("Dose Form", "Perm"),
    },
    "DS": {
        "DSTERM": ("Reported Term for the Disposition Event", "Req"),
        "DSDECOD": ("Standardized Disposition Term", "Req"),
        "DSCAT": ("Category for Disposition Event", "Exp"),
        "DSSTDTC": ("Start Date/Time of Disposition Event", "Exp"),
        "DSSTDY": ("Study Day of Start of Disposition Event", "Perm"),
    },
    "SV": {
        "VISITNUM": ("Visit Number", "Req"),
        "SVSTDTC": ("Start Date/Time of Observation", "Exp"),
        "SVENDTC": ("End Date/Time of Observation", "Exp"),
        "SVSTDY": ("Study Day of Start of Observation", "Perm"),
    },
    "QS": {
        "QSTESTCD": ("Question Short Name", "Req"),
        "QSTEST": ("Question Name", "Req"),
        "QSCAT": ("Category of Question", "Req"),
        "QSORRES": ("Finding in Original Units", "Exp"),
        "QSSTRESC": ("Character Result/Finding in Std Format", "Exp"),
        "QSSTRESN": ("Numeric Finding in Standard Units", "Exp"),
    },
    "LB": {
        "LBTESTCD": ("Lab Test or Examination Short Name", "Req"),
        "LBTEST": ("Lab Test or Examination Name", "Req"),
    },
}
#: The order of a findings domain's variables after USUBJID and --SEQ (general class order).
FINDINGS_ORDER = (
    "TESTCD",
    "TEST",
    "CAT",
    "SCAT",
    "ORRES",
    "ORRESU",
    "ORNRLO",
    "ORNRHI",
    "STRESC",
    "STRESN",
    "STRESU",
    "STNRLO",
    "STNRHI",
    "NRIND",
    "STAT",
    "REASND",
    "SPEC",
    "LOC",
    "LAT",
    "METHOD",
    "LOBXFL",
)


def _entry(domain: str, name: str) -> tuple[str, str]:
    own = _DOMAIN.get(domain, {})
    if name in own:
        return own[name]
    if name in _COMMON:
        return _COMMON[name]
    if name.startswith(domain):
        general = _GENERAL.get("--" + name[len(domain) :])
        if general is not None:
            return general
    raise KeyError(f"{domain}.{name}: no SDTMIG label is known to xerotrial")


def label(domain: str, name: str) -> str:
    """The SDTMIG label of ``domain``'s variable ``name`` (KeyError if unknown)."""
    return _entry(domain, name)[0]


def core(domain: str, name: str) -> str:
    """Req, Exp or Perm."""
    return _entry(domain, name)[1]
