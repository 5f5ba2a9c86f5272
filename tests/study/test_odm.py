"""``study export --format odm``: CDISC ODM 1.3.2 metadata and clinical data.

The references are independent of the module: the ODM 1.3.2 XML schema as odmlib ships it
(validated with xmlschema: element order, required attributes, data types, unique OIDs),
odmlib's own OID checker for the references the schema does not check (it has no keyref), a
small resolver of our own, and the expression language for the meaning of the branching
condition.
"""

from __future__ import annotations

import dataclasses
import re
import xml.etree.ElementTree as ET
from importlib.resources import files
from pathlib import Path

import pytest
import xmlschema
from odmlib import loader as odm_load
from odmlib import odm_loader
from odmlib.exceptions import OdmlibOIDError
from odmlib.oid_generator import create_oid_checker
from typer.testing import CliRunner

from xerotrial.cli import app
from xerotrial.study import SEED_STUDY, load_study
from xerotrial.study.expressions import parse_expression
from xerotrial.study.model import Field, Visit
from xerotrial.study.odm import (
    NS,
    clinical_data_xml,
    metadata_xml,
    read_clinical_data,
    untranslated,
)

from .definitions import GOOD, load_text

WHEN = "2026-01-01T00:00:00"
N = {"o": NS}


@pytest.fixture(scope="module")
def schema() -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(str(files("odmlib") / "schemas/odm/1.3.2/ODM1-3-2.xsd"))


@pytest.fixture
def good(tmp_path: Path):
    return load_text(tmp_path, GOOD)


@pytest.fixture(scope="module")
def seed():
    return load_study(SEED_STUDY)


def _valid(schema: xmlschema.XMLSchema, xml: bytes) -> None:
    errors = [f"{e.path}: {e.reason}" for e in schema.iter_errors(xml.decode())]
    assert errors == []


def _verify_oids(xml: bytes) -> None:
    """odmlib's check that every OID reference names a definition of the right kind."""
    ld = odm_load.ODMLoader(odm_loader.XMLODMLoader())
    ld.load_odm_string(xml.decode())
    ld.root().verify_oids(create_oid_checker("odm_1_3_2"))


def _unresolved(root: ET.Element) -> list[str]:
    """Our own resolver: every ``...OID`` attribute but the definitions' own names an OID."""
    defined = {e.get("OID") for e in root.iter() if e.get("OID")}
    return [
        f"{e.tag.split('}')[1]} {k}={v}"
        for e in root.iter()
        for k, v in e.attrib.items()
        if k.endswith("OID") and k not in ("OID", "FileOID") and v not in defined
    ]


def _combined(meta: bytes, clinical: bytes) -> bytes:
    """The metadata document with the clinical data appended (ODM: Study, AdminData, ...,
    ClinicalData), so that the data's references resolve in one document."""
    root = ET.fromstring(meta)
    root.extend(ET.fromstring(clinical).findall("o:ClinicalData", N))
    ET.register_namespace("", NS)
    return ET.tostring(root, encoding="UTF-8")


def _def(root: ET.Element, tag: str, oid: str) -> ET.Element:
    found = root.findall(f".//o:{tag}[@OID='{oid}']", N)
    assert len(found) == 1, (tag, oid)
    return found[0]


def _ref(root: ET.Element, item_oid: str) -> ET.Element:
    (ref,) = root.findall(f".//o:ItemRef[@ItemOID='{item_oid}']", N)
    return ref


def _text(e: ET.Element, path: str) -> str:
    return e.find(path, N).text  # type: ignore[union-attr]


def _checks(item: ET.Element) -> list[tuple[str, str, str]]:
    return [
        (rc.get("Comparator"), rc.get("SoftHard"), _text(rc, "o:CheckValue"))
        for rc in item.findall("o:RangeCheck", N)
    ]


# ---------------------------------------------------------------------------- metadata


@pytest.mark.parametrize("which", ["seed", "good"])
def test_metadata_is_valid_odm_132_and_every_reference_resolves(
    which: str, schema, seed, good
) -> None:
    xml = metadata_xml(seed if which == "seed" else good, created=WHEN)
    _valid(schema, xml)
    _verify_oids(xml)
    root = ET.fromstring(xml)
    assert _unresolved(root) == []
    assert root.tag == f"{{{NS}}}ODM"
    assert (root.get("ODMVersion"), root.get("FileType"), root.get("CreationDateTime")) == (
        "1.3.2",
        "Snapshot",
        WHEN,
    )


def test_the_oid_checks_catch_a_broken_reference(good) -> None:
    xml = metadata_xml(good, created=WHEN).replace(b'MethodOID="MT.', b'MethodOID="XX.')
    assert _unresolved(ET.fromstring(xml)) == ["ItemRef MethodOID=XX.sialometry.flow_ml_min"]
    with pytest.raises(OdmlibOIDError):
        _verify_oids(xml)


def test_byte_stable_given_created(seed) -> None:
    a = metadata_xml(seed, created=WHEN)
    assert a == metadata_xml(seed, created=WHEN)
    assert a.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<ODM xmlns="' + NS.encode())
    other = metadata_xml(seed, created="2027-02-02T10:00:00")
    assert a.replace(WHEN.encode(), b"X").replace(b"2026-01-01", b"D") == other.replace(
        b"2027-02-02T10:00:00", b"X"
    ).replace(b"2027-02-02", b"D")


def test_global_variables_units_and_sites(good) -> None:
    root = ET.fromstring(metadata_xml(good, created=WHEN))
    st = root.find("o:Study", N)
    assert st.get("OID") == "ST.P2"
    gv = [(e.tag.split("}")[1], e.text) for e in st.find("o:GlobalVariables", N)]
    assert gv == [
        ("StudyName", "P2"),
        ("StudyDescription", "Randomized phase II"),
        ("ProtocolName", "NCT00000000"),
    ]
    units = {
        mu.get("Name"): mu.get("OID")
        for mu in st.findall("o:BasicDefinitions/o:MeasurementUnit", N)
    }
    assert units == {"g": "MU.g", "min": "MU.min"}
    minutes = _def(root, "ItemDef", "I.sialometry.minutes")
    assert minutes.find("o:MeasurementUnitRef", N).get("MeasurementUnitOID") == "MU.min"
    locations = [
        (loc.get("OID"), loc.get("Name"), loc.get("LocationType"))
        for loc in root.findall("o:AdminData/o:Location", N)
    ]
    assert locations == [
        ("SITE.cph", "Copenhagen", "Site"),
        ("SPONSOR", "A university hospital", "Sponsor"),
    ]


def test_seed_units_are_the_distinct_units_of_its_fields(seed) -> None:
    root = ET.fromstring(metadata_xml(seed, created=WHEN))
    names = [mu.get("Name") for mu in root.findall(".//o:MeasurementUnit", N)]
    used = {f.unit for form in seed.forms for f in form.fields if f.unit}
    assert sorted(names) == sorted(used) and len(names) == len(set(names))
    oids = [mu.get("OID") for mu in root.findall(".//o:MeasurementUnit", N)]
    assert len(set(oids)) == len(oids) and "MU.mmol_per_L" in oids and "MU.pct" in oids


def test_protocol_events_and_form_refs_follow_visits_and_schedule(good, seed) -> None:
    root = ET.fromstring(metadata_xml(good, created=WHEN))
    refs = [
        (r.get("StudyEventOID"), r.get("OrderNumber"), r.get("Mandatory"))
        for r in root.findall(".//o:Protocol/o:StudyEventRef", N)
    ]
    assert refs == [
        ("SE.baseline", "1", "Yes"),
        ("SE.month1", "2", "Yes"),
        ("SE.common", "3", "No"),
        ("SE.unscheduled", "4", "No"),
    ]

    def forms_of(r: ET.Element, oid: str) -> list[str]:
        return [f.get("FormOID") for f in _def(r, "StudyEventDef", oid).findall("o:FormRef", N)]

    assert forms_of(root, "SE.baseline") == ["F.sialometry"]
    assert forms_of(root, "SE.common") == ["F.participants", "F.adverse_events"]
    assert forms_of(root, "SE.unscheduled") == ["F.sialometry"]
    assert _def(root, "StudyEventDef", "SE.common").get("Type") == "Common"
    uns = _def(root, "StudyEventDef", "SE.unscheduled")
    assert (uns.get("Type"), uns.get("Repeating")) == ("Unscheduled", "Yes")
    month1 = _def(root, "StudyEventDef", "SE.month1")
    assert "window days 20 to 40" in _text(month1, "o:Description/o:TranslatedText")
    assert _def(root, "FormDef", "F.adverse_events").get("Repeating") == "Yes"
    assert _def(root, "FormDef", "F.sialometry").get("Repeating") == "No"
    # the seed: every visit's forms are those due there (in form order); year2 has none
    sroot = ET.fromstring(metadata_xml(seed, created=WHEN))
    for v in seed.visits:
        due = [f"F.{f.name}" for f in seed.forms if v.name in seed.schedule.due.get(f.name, ())]
        assert forms_of(sroot, f"SE.{v.name}") == due
    assert forms_of(sroot, "SE.year2") == []
    assert sroot.findall(".//o:StudyEventDef[@OID='SE.unscheduled']", N) == []


def test_items_types_keys_and_mandatory(good, seed) -> None:
    root = ET.fromstring(metadata_xml(good, created=WHEN))
    types = {
        i.get("OID"): (i.get("DataType"), i.get("SignificantDigits"))
        for i in root.findall(".//o:ItemDef", N)
    }
    assert types["I.sialometry.cup_before_g"] == ("float", "2")
    assert types["I.sialometry.minutes"] == ("float", None)
    assert types["I.adverse_events.ae_id"] == ("integer", None)
    assert types["I.adverse_events.onset"] == ("date", None)
    assert types["I.adverse_events.serious"] == ("boolean", None)
    assert types["I.sialometry.note"] == ("text", None)
    assert types["I.participants.sex"] == ("text", None)
    ae = _def(root, "ItemGroupDef", "IG.adverse_events")
    keys = [(r.get("ItemOID"), r.get("KeySequence"), r.get("Mandatory")) for r in ae]
    assert keys[:3] == [
        ("I.adverse_events.subject", "1", "Yes"),
        ("I.adverse_events.ae_id", "2", "Yes"),
        ("I.adverse_events.onset", None, "No"),
    ]
    assert [r.get("OrderNumber") for r in ae] == [str(n) for n in range(1, len(ae) + 1)]
    question = _def(root, "ItemDef", "I.participants.subject").find(
        "o:Question/o:TranslatedText", N
    )
    assert (question.text, question.get("{http://www.w3.org/XML/1998/namespace}lang")) == (
        "subject",
        "en",
    )
    sroot = ET.fromstring(metadata_xml(seed, created=WHEN))
    age = _def(sroot, "ItemDef", "I.participants.age_years")
    assert age.find("o:Question/o:TranslatedText", N).text == "age_years"
    assert _def(sroot, "FormDef", "F.xq").find("o:Description/o:TranslatedText", N).text == (
        seed.form("xq").title
    )
    n_items = len(sroot.findall(".//o:ItemDef", N))
    assert n_items == sum(len(f.fields) for f in seed.forms)  # the seed has no checkbox


def test_limits_are_hard_and_soft_range_checks(good) -> None:
    root = ET.fromstring(metadata_xml(good, created=WHEN))
    assert _checks(_def(root, "ItemDef", "I.sialometry.minutes")) == [
        ("GE", "Hard", "0.1"),
        ("LE", "Hard", "60"),
        ("GE", "Soft", "4"),
        ("LE", "Soft", "11"),
    ]
    assert _checks(_def(root, "ItemDef", "I.sialometry.cup_before_g")) == [
        ("GE", "Hard", "0"),
        ("LE", "Soft", "50"),
    ]
    msg = _def(root, "ItemDef", "I.sialometry.minutes").find(
        "o:RangeCheck/o:ErrorMessage/o:TranslatedText", N
    )
    assert msg.text == "minutes must be at least 0.1"


def test_code_lists_and_sdtm_aliases(good, tmp_path: Path, seed) -> None:
    root = ET.fromstring(metadata_xml(good, created=WHEN))
    sex = _def(root, "ItemDef", "I.participants.sex")
    assert sex.find("o:CodeListRef", N).get("CodeListOID") == "CL.participants.sex"
    cl = _def(root, "CodeList", "CL.participants.sex")
    items = [
        (i.get("CodedValue"), _text(i, "o:Decode/o:TranslatedText"))
        for i in cl.findall("o:CodeListItem", N)
    ]
    assert (cl.get("DataType"), items) == ("text", [("F", "female"), ("M", "male")])
    status = _def(root, "CodeList", "CL.status")
    assert [i.get("CodedValue") for i in status] == ["0", "1", "2"]
    alias = _def(root, "ItemDef", "I.participants.subject").find("o:Alias", N)
    assert (alias.get("Context"), alias.get("Name")) == ("SDTM", "DM.SUBJID")
    sroot = ET.fromstring(metadata_xml(seed, created=WHEN))
    age = _def(sroot, "ItemDef", "I.participants.age_years")
    assert [(a.get("Context"), a.get("Name")) for a in age.findall("o:Alias", N)] == [
        ("SDTM", "DM.AGE")
    ]
    # numeric codes make an integer code list and item
    numeric = load_text(
        tmp_path,
        GOOD.replace('choices = {F = "female", M = "male"}', 'choices = {1 = "f", 2 = "m"}'),
    )
    nroot = ET.fromstring(metadata_xml(numeric, created=WHEN))
    assert _def(nroot, "CodeList", "CL.participants.sex").get("DataType") == "integer"
    assert _def(nroot, "ItemDef", "I.participants.sex").get("DataType") == "integer"


def test_checkbox_is_one_boolean_item_per_code_and_branching_is_negated(good) -> None:
    root = ET.fromstring(metadata_xml(good, created=WHEN))
    oids = [r.get("ItemOID") for r in _def(root, "ItemGroupDef", "IG.adverse_events")]
    assert oids[-2:] == ["I.adverse_events.criteria___1", "I.adverse_events.criteria___2"]
    assert root.findall(".//o:ItemDef[@OID='I.adverse_events.criteria']", N) == []
    one = _def(root, "ItemDef", "I.adverse_events.criteria___1")
    assert (one.get("Name"), one.get("DataType")) == ("criteria___1", "boolean")
    assert _text(one, "o:Question/o:TranslatedText") == "criteria: death"
    for oid in oids[-2:]:
        ref = _ref(root, oid)
        assert ref.get("CollectionExceptionConditionOID") == "CD.adverse_events.criteria"
    cond = _def(root, "ConditionDef", "CD.adverse_events.criteria")
    expr = cond.find("o:FormalExpression", N)
    assert (expr.get("Context"), expr.text) == ("xerotrial", "not (serious)")
    # ODM's condition says when the item is NOT collected: the negation of show_if
    show_if = parse_expression(good.form("adverse_events").field("criteria").show_if)
    not_collected = parse_expression(expr.text)
    for serious in (True, False):
        assert not_collected.evaluate({"serious": serious}) is (
            not show_if.evaluate({"serious": serious})
        )
    note = _def(root, "ConditionDef", "CD.sialometry.note")
    assert _text(note, "o:FormalExpression") == "not (minutes > 11)"
    for minutes in (5.0, 11.0, 12.0):
        row = {"minutes": minutes}
        assert parse_expression("not (minutes > 11)").evaluate(row) is not parse_expression(
            "minutes > 11"
        ).evaluate(row)


def test_calculated_field_has_a_computation_method(good) -> None:
    root = ET.fromstring(metadata_xml(good, created=WHEN))
    ref = _ref(root, "I.sialometry.flow_ml_min")
    assert ref.get("MethodOID") == "MT.sialometry.flow_ml_min"
    method = _def(root, "MethodDef", "MT.sialometry.flow_ml_min")
    expr = method.find("o:FormalExpression", N)
    assert (method.get("Type"), expr.get("Context"), expr.text) == (
        "Computation",
        "xerotrial",
        "(cup_after_g - cup_before_g) / minutes",
    )
    assert _def(root, "ItemDef", "I.sialometry.flow_ml_min").get("DataType") == "float"


def test_untranslated_lists_what_odm_132_cannot_hold(good, seed) -> None:
    left = untranslated(good)
    assert any(line.startswith("allocation block to arms active (2), placebo (1)") for line in left)
    assert any(line.startswith("visit month1: 1 month, study day 30") for line in left)
    assert any("check 'cup_after_g >= cup_before_g'" in line for line in left)
    assert any("grade < 3 or not blank(serious)" in line for line in left)
    assert "site cph: country DK (an ODM Location has no country)" in left
    seed_left = untranslated(seed)
    assert not any(line.startswith("allocation") for line in seed_left)
    assert any(line.startswith("EudraCT number 2018-003856-19") for line in seed_left)
    n_checks = sum(len(f.checks) for f in seed.forms)
    assert sum("cross-field" in line for line in seed_left) == n_checks


def test_descriptive_fields_and_visits_without_timing(good, schema) -> None:
    """The model may gain descriptive fields and visits without a day or window."""
    intro = Field("intro", "descriptive", label="Read this first")
    forms = tuple(
        dataclasses.replace(f, fields=(intro, *f.fields)) if f.name == "participants" else f
        for f in good.forms
    )
    visit = Visit("call", "Phone call", None, None)  # type: ignore[arg-type]
    study = dataclasses.replace(good, forms=forms, visits=(*good.visits, visit))
    xml = metadata_xml(study, created=WHEN)
    _valid(schema, xml)
    root = ET.fromstring(xml)
    assert b"intro" not in xml
    assert _text(_def(root, "StudyEventDef", "SE.call"), "o:Description/o:TranslatedText") == (
        "Phone call"
    )
    left = untranslated(study)
    assert "form participants: descriptive field intro (no data: not an item)" in left
    assert not any(line.startswith("visit call") for line in left)
    with pytest.raises(ValueError, match="no field"):
        clinical_data_xml(study, [_rec("participants", "", {"intro": "x"})])


def test_max_length_is_the_length_of_a_text_item(good) -> None:
    forms = tuple(
        dataclasses.replace(
            f,
            fields=tuple(
                dataclasses.replace(x, max_length=200) if x.name == "note" else x for x in f.fields
            ),
        )
        for f in good.forms
    )
    root = ET.fromstring(metadata_xml(dataclasses.replace(good, forms=forms), created=WHEN))
    assert _def(root, "ItemDef", "I.sialometry.note").get("Length") == "200"
    assert _def(root, "ItemDef", "I.sialometry.minutes").get("Length") is None


def test_required_checkbox_is_listed(good) -> None:
    forms = tuple(
        dataclasses.replace(
            f,
            fields=tuple(
                dataclasses.replace(x, required=True) if x.name == "criteria" else x
                for x in f.fields
            ),
        )
        for f in good.forms
    )
    left = untranslated(dataclasses.replace(good, forms=forms))
    assert any("checkbox criteria is required" in line for line in left)


# ---------------------------------------------------------------------------- clinical data


def _rec(form: str, visit: str, values: dict, **kw) -> dict:
    return {
        "subject": kw.get("subject", "S1"),
        "site": kw.get("site", "cph"),
        "visit": visit,
        "instance": kw.get("instance", 1),
        "form": form,
        "status": kw.get("status"),
        "values": values,
    }


RECORDS = [
    _rec("participants", "", {"subject": "S1", "sex": "F"}, status=2),
    _rec("adverse_events", "", {"ae_id": "1", "onset": "2026-02-03", "grade": "2"}, status=1),
    _rec("adverse_events", "", {"ae_id": "2", "serious": "1", "criteria": ["1", "2"]}, instance=2),
    _rec("sialometry", "baseline", {"cup_before_g": "10.25", "minutes": "5", "note": "é <&>"}),
    _rec("sialometry", "extra_1", {"flow_ml_min": "0.4"}, status=0),
    _rec("sialometry", "month1", {"minutes": "12"}, subject="S2", site=None),
]


def test_clinical_data_round_trips_and_is_valid(good, schema) -> None:
    meta = metadata_xml(good, created=WHEN)
    xml = clinical_data_xml(good, RECORDS, created=WHEN)
    assert xml == clinical_data_xml(good, RECORDS, created=WHEN)
    _valid(schema, xml)
    combined = _combined(meta, xml)
    _valid(schema, combined)
    _verify_oids(combined)
    assert _unresolved(ET.fromstring(combined)) == []
    assert read_clinical_data(xml) == RECORDS


def test_clinical_data_structure(good) -> None:
    root = ET.fromstring(clinical_data_xml(good, RECORDS, created=WHEN))
    cd = root.find("o:ClinicalData", N)
    assert (cd.get("StudyOID"), cd.get("MetaDataVersionOID")) == ("ST.P2", "MDV.1")
    s1, s2 = cd.findall("o:SubjectData", N)
    assert s1.find("o:SiteRef", N).get("LocationOID") == "SITE.cph"
    assert s2.find("o:SiteRef", N) is None
    events = [(e.get("StudyEventOID"), e.get("StudyEventRepeatKey")) for e in s1]
    assert events[1:] == [("SE.common", None), ("SE.baseline", None), ("SE.unscheduled", "extra_1")]
    forms = [(f.get("FormOID"), f.get("FormRepeatKey")) for f in s1[1]]
    assert forms == [("F.participants", None), ("F.adverse_events", "1"), ("F.adverse_events", "2")]
    flag = s1[1][0].find("o:Annotation/o:Flag/o:FlagValue", N)
    assert (flag.get("CodeListOID"), flag.text) == ("CL.status", "2")
    ae2 = [(i.get("ItemOID"), i.get("Value")) for i in s1[1][2].iter(f"{{{NS}}}ItemData")]
    assert ae2 == [
        ("I.adverse_events.ae_id", "2"),
        ("I.adverse_events.serious", "1"),
        ("I.adverse_events.criteria___1", "1"),
        ("I.adverse_events.criteria___2", "1"),
    ]


def test_blank_values_are_left_out(good) -> None:
    rec = _rec("adverse_events", "", {"ae_id": "3", "onset": "", "grade": None, "criteria": []})
    xml = clinical_data_xml(good, [rec], created=WHEN)
    assert b"onset" not in xml and b"grade" not in xml and b"criteria" not in xml
    (back,) = read_clinical_data(xml)
    assert back["values"] == {"ae_id": "3"}
    one = _rec("adverse_events", "", {"criteria": ["2"]})
    (back,) = read_clinical_data(clinical_data_xml(good, [one], created=WHEN))
    assert back["values"] == {"criteria": ["2"]}


def test_seed_clinical_data_round_trips(seed, schema) -> None:
    records = [
        _rec(
            "xq",
            "day30",
            {"subject": "P01", "visit": "day30", "xq1": "3"},
            site="RH",
            subject="P01",
            status=2,
        ),
        _rec(
            "adverse_events",
            "",
            {"ae_id": "1", "term": "Dry mouth", "serious": "0"},
            site="RH",
            subject="P01",
            instance=1,
        ),
        _rec(
            "adverse_events",
            "",
            {"ae_id": "2", "term": "Pain", "serious": "0"},
            site="RH",
            subject="P01",
            instance=2,
        ),
    ]
    xml = clinical_data_xml(seed, records, created=WHEN)
    combined = _combined(metadata_xml(seed, created=WHEN), xml)
    _valid(schema, combined)
    _verify_oids(combined)
    assert read_clinical_data(xml) == records


@pytest.mark.parametrize(
    ("record", "message"),
    [
        (_rec("nope", "", {}), "no form 'nope'"),
        (_rec("participants", "", {"age": "3"}), "no field"),
        (_rec("adverse_events", "", {"criteria": ["9"]}), "not codes of criteria"),
        (_rec("adverse_events", "", {"criteria": "1"}), "list of codes"),
        (_rec("participants", "", {}, instance=2), "not repeating"),
        (_rec("participants", "baseline", {}), "not in the study event"),
        (_rec("sialometry", "", {}), "not in the study event"),
        (_rec("participants", "", {"sex": True}), "not text"),
    ],
)
def test_what_cannot_be_placed_is_refused(good, record: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        clinical_data_xml(good, [record])


def test_refused_without_unscheduled_visits_and_on_conflicts(seed, good) -> None:
    with pytest.raises(ValueError, match="unscheduled visits are off"):
        clinical_data_xml(seed, [_rec("xq", "day3", {})])
    with pytest.raises(ValueError, match="sites"):
        clinical_data_xml(good, [RECORDS[0], {**RECORDS[1], "site": "other"}])
    with pytest.raises(ValueError, match="twice"):
        clinical_data_xml(good, [RECORDS[0], RECORDS[0]])


# ---------------------------------------------------------------------------- command line


def test_cli_export_odm_writes_metadata_and_lists_the_rest(tmp_path: Path, seed, schema) -> None:
    out = tmp_path / "seed.xml"
    res = CliRunner().invoke(
        app, ["study", "export", str(SEED_STUDY), "--format", "odm", "-o", str(out)]
    )
    assert res.exit_code == 0, res.output
    assert f"{out}: ODM 1.3.2 metadata, 146 fields of 15 forms" in res.output
    assert "not in ODM 1.3.2" in res.output
    written = out.read_bytes()
    _valid(schema, written)
    stamp = re.search(rb'CreationDateTime="([^"]+)"', written).group(1).decode()
    date = re.search(rb'EffectiveDate="([^"]+)"', written).group(1).decode()
    assert written == metadata_xml(seed, created=stamp)
    assert date == stamp[:10]
