"""A study definition and its clinical data as CDISC ODM 1.3.2 XML, and the data back.

:func:`metadata_xml` writes the definition: ``Study`` > ``GlobalVariables``,
``BasicDefinitions`` (one ``MeasurementUnit`` per distinct unit) and one ``MetaDataVersion``
with the ``Protocol`` (the visits in order), a ``StudyEventDef`` per visit with ``FormRef`` to
the forms due there, and ``FormDef``, ``ItemGroupDef`` (one per form), ``ItemDef``,
``CodeList``, ``ConditionDef`` and ``MethodDef``; the sites (and the sponsor) are
``AdminData`` locations. Where the definition goes:

* forms due at no visit are in a ``Type="Common"`` event ``SE.common``; with
  ``schedule.unscheduled`` the forms due at visits are also in a repeating
  ``Type="Unscheduled"`` event ``SE.unscheduled``;
* a form's key is the ``KeySequence`` of its ``ItemRef``, ``required`` is ``Mandatory``;
* types: integer ``integer``, decimal and calculated ``float`` (``SignificantDigits`` the
  precision), text ``text`` (``Length`` its max_length), date ``date``, datetime
  ``datetime``, yesno ``boolean``, choice a ``CodeList`` (``integer`` if every code is one,
  else ``text``); a checkbox is one ``boolean`` item per code named ``field___code``, as
  REDCap's ODM export writes it;
* limits are ``RangeCheck`` ``GE``/``LE``, ``SoftHard="Hard"`` for lo/hi and ``"Soft"`` for
  soft_lo/soft_hi; the SDTM annotation is an ``Alias Context="SDTM"``;
* ``show_if`` is the item's ``CollectionExceptionConditionOID``: ODM's condition says when
  the item is *not* collected, so its ``FormalExpression`` (``Context="xerotrial"``) is
  ``not (show_if)``; ``calc`` is a ``MethodDef Type="Computation"`` of the item's
  ``MethodOID``;
* a form's status (REDCap's 0 Incomplete, 1 Unverified, 2 Complete) is a ``Flag`` of the
  ``FormData``'s ``Annotation``, its value from the code list ``CL.status``.

What ODM 1.3.2 cannot hold is listed by :func:`untranslated`. OIDs are readable and stable:
``SE.day30``, ``F.xq``, ``IG.xq``, ``I.xq.xq1``, ``CL.xq.kind``, ``CD.xq.note`` (condition),
``MT.xq.flow`` (method), ``MU.g`` (unit), ``SITE.RH``.

>>> from xerotrial.study import SEED_STUDY, load_study
>>> d = load_study(SEED_STUDY)
>>> xml = metadata_xml(d, created="2026-01-01T00:00:00")
>>> b'<ItemDef OID="I.xq.xq1" Name="xq1" DataType="integer">' in xml
True
>>> records = [{"subject": "P01", "site": "RH", "visit": "day30", "instance": 1,
...             "form": "xq", "status": 2, "values": {"xq1": "3"}}]
>>> read_clinical_data(clinical_data_xml(d, records, created="2026-01-01T00:00:00")) == records
True
"""

from __future__ import annotations

import datetime as dt
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .model import Field, Form, StudyDefinition

__all__ = [
    "NS",
    "clinical_data_xml",
    "metadata_xml",
    "read_clinical_data",
    "untranslated",
]

#: The ODM 1.3 namespace.
NS = "http://www.cdisc.org/ns/odm/v1.3"
_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
_STATUS = {"0": "Incomplete", "1": "Unverified", "2": "Complete"}
_STATUS_OID = "CL.status"
_COMMON = "SE.common"
_UNSCHEDULED = "SE.unscheduled"


def _q(tag: str) -> str:
    return f"{{{NS}}}{tag}"


def _el(parent: ET.Element | None, tag: str, text: str | None = None, **attrs: Any) -> ET.Element:
    """An element (attributes in the order given, None ones left out); its namespace is the
    default one that the root declares."""
    a = {k: str(v) for k, v in attrs.items() if v is not None}
    e = ET.Element(tag, a) if parent is None else ET.SubElement(parent, tag, a)
    if text is not None:
        e.text = text
    return e


def _translated(parent: ET.Element, tag: str, text: str) -> ET.Element:
    e = _el(parent, tag)
    t = _el(e, "TranslatedText", text)
    t.set(_XML_LANG, "en")
    return e


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(float(x))


def _yes(b: bool) -> str:
    return "Yes" if b else "No"


def _fields(form: Form) -> list[Field]:
    return [f for f in form.fields if f.holds_data]


def _unit_oid(unit: str) -> str:
    text = unit.replace("%", "pct").replace("/", "_per_").replace("^", "e")
    return "MU." + (re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_") or "unit")


def _units(study: StudyDefinition) -> dict[str, str]:
    """unit -> OID, in order of first use (an OID made unique with a number if needed)."""
    out: dict[str, str] = {}
    for form in study.forms:
        for f in _fields(form):
            if f.unit and f.unit not in out:
                oid, n = _unit_oid(f.unit), 2
                while oid in out.values():
                    oid, n = f"{_unit_oid(f.unit)}{n}", n + 1
                out[f.unit] = oid
    return out


@dataclass(frozen=True)
class _Event:
    oid: str
    name: str
    type: str
    repeating: bool
    mandatory: bool
    forms: tuple[str, ...]
    description: str


def _timing(v: Any) -> str:
    parts = [v.label or v.name]
    if v.day is not None:
        parts.append(f"study day {v.day}")
    if v.window is not None:
        parts.append(f"window days {v.window[0]} to {v.window[1]}")
    if v.on_time is not None:
        parts.append(f"on time days {v.on_time[0]} to {v.on_time[1]}")
    if v.baseline:
        parts.append("baseline")
    if v.note:
        parts.append(v.note)
    return ", ".join(parts)


def _events(study: StudyDefinition) -> list[_Event]:
    """The study events: the visits in order, then the common and unscheduled events."""
    due = study.schedule.due
    out = [
        _Event(
            f"SE.{v.name}",
            v.name,
            "Scheduled",
            False,
            True,
            tuple(f.name for f in study.forms if v.name in due.get(f.name, ())),
            _timing(v),
        )
        for v in study.visits
    ]
    common = tuple(f.name for f in study.forms if not due.get(f.name))
    if common:
        out.append(
            _Event(_COMMON, "common", "Common", False, False, common, "forms due at no visit")
        )
    if study.schedule.unscheduled:
        scheduled = tuple(f.name for f in study.forms if due.get(f.name))
        text = "unscheduled visits (the StudyEventRepeatKey is the visit's name)"
        out.append(_Event(_UNSCHEDULED, "unscheduled", "Unscheduled", True, False, scheduled, text))
    return out


def _codes_type(choices: Mapping[str, str]) -> str:
    return "integer" if all(re.fullmatch(r"-?\d+", c) for c in choices) else "text"


def _root(kind: str, study: StudyDefinition, created: str | None) -> ET.Element:
    when = created or dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    return _el(
        None,
        "ODM",
        xmlns=NS,
        FileType="Snapshot",
        Granularity="Metadata" if kind == "metadata" else "AllClinicalData",
        FileOID=f"xerotrial.{study.study.id}.v{study.version}.{kind}",
        CreationDateTime=when,
        ODMVersion="1.3.2",
        SourceSystem="xerotrial",
    )


def _study_oid(study: StudyDefinition) -> str:
    return f"ST.{study.study.id}"


def _mdv_oid(study: StudyDefinition) -> str:
    return f"MDV.{study.version}"


def _admin(
    root: ET.Element, study: StudyDefinition, sites: Iterable[str], created: str, sponsor: bool
) -> None:
    """``AdminData``: a ``Location`` per site (and the sponsor), none if there are none."""
    names = {s.code: s.name for s in study.study.sites}
    locations = [(f"SITE.{code}", names.get(code) or code, "Site") for code in sites]
    if sponsor and study.study.sponsor:
        locations.append(("SPONSOR", study.study.sponsor, "Sponsor"))
    if not locations:
        return
    admin = _el(root, "AdminData", StudyOID=_study_oid(study))
    for oid, name, kind in locations:
        loc = _el(admin, "Location", OID=oid, Name=name, LocationType=kind)
        _el(
            loc,
            "MetaDataVersionRef",
            StudyOID=_study_oid(study),
            MetaDataVersionOID=_mdv_oid(study),
            EffectiveDate=created[:10],
        )


def _to_bytes(root: ET.Element) -> bytes:
    ET.indent(root)
    text = ET.tostring(root, encoding="unicode")
    return f'<?xml version="1.0" encoding="UTF-8"?>\n{text}\n'.encode()


def _range_checks(item: ET.Element, f: Field) -> None:
    for value, comp, hard in (
        (f.lo, "GE", "Hard"),
        (f.hi, "LE", "Hard"),
        (f.soft_lo, "GE", "Soft"),
        (f.soft_hi, "LE", "Soft"),
    ):
        if value is None:
            continue
        rc = _el(item, "RangeCheck", Comparator=comp, SoftHard=hard)
        _el(rc, "CheckValue", _num(value))
        bound = "at least" if comp == "GE" else "at most"
        kind = "" if hard == "Hard" else " (soft limit: a warning)"
        _translated(rc, "ErrorMessage", f"{f.name} must be {bound} {_num(value)}{kind}")


def _item_def(
    form: Form, f: Field, units: Mapping[str, str], oid: str, name: str, question: str
) -> ET.Element:
    if f.type == "checkbox":
        dtype = "boolean"
    elif f.type == "choice":
        dtype = _codes_type(f.choices)
    else:
        dtype = {
            "integer": "integer",
            "decimal": "float",
            "calculated": "float",
            "date": "date",
            "datetime": "datetime",
            "yesno": "boolean",
        }.get(f.type, "text")
    item = _el(
        None,
        "ItemDef",
        OID=oid,
        Name=name,
        DataType=dtype,
        Length=f.max_length if dtype == "text" and f.max_length else None,
        SignificantDigits=f.precision if dtype == "float" else None,
    )
    _translated(item, "Question", question)
    if f.unit:
        _el(item, "MeasurementUnitRef", MeasurementUnitOID=units[f.unit])
    _range_checks(item, f)
    if f.type == "choice":
        _el(item, "CodeListRef", CodeListOID=f"CL.{form.name}.{f.name}")
    if f.sdtm:
        _el(item, "Alias", Context="SDTM", Name=f.sdtm)
    return item


def _code_list(oid: str, name: str, dtype: str, choices: Mapping[str, str]) -> ET.Element:
    cl = _el(None, "CodeList", OID=oid, Name=name, DataType=dtype)
    for n, (code, label) in enumerate(choices.items(), 1):
        cli = _el(cl, "CodeListItem", CodedValue=code, OrderNumber=n)
        _translated(cli, "Decode", label)
    return cl


def _expression(tag: str, oid: str, name: str, description: str, expr: str) -> ET.Element:
    e = _el(None, tag, OID=oid, Name=name, Type="Computation" if tag == "MethodDef" else None)
    _translated(e, "Description", description)
    _el(e, "FormalExpression", expr, Context="xerotrial")
    return e


#: What follows the FormDefs in a MetaDataVersion, in the order ODM 1.3.2 wants.
_AFTER_FORMS = ("ItemGroupDef", "ItemDef", "CodeList", "ConditionDef", "MethodDef")


def _protocol(mdv: ET.Element, events: list[_Event]) -> None:
    """The ``Protocol`` (events in order) and a ``StudyEventDef`` per event."""
    protocol = _el(mdv, "Protocol")
    for n, ev in enumerate(events, 1):
        mandatory = _yes(ev.mandatory)
        _el(protocol, "StudyEventRef", StudyEventOID=ev.oid, OrderNumber=n, Mandatory=mandatory)
    for ev in events:
        sed = _el(
            mdv,
            "StudyEventDef",
            OID=ev.oid,
            Name=ev.name,
            Repeating=_yes(ev.repeating),
            Type=ev.type,
        )
        _translated(sed, "Description", ev.description)
        for n, name in enumerate(ev.forms, 1):
            _el(sed, "FormRef", FormOID=f"F.{name}", OrderNumber=n, Mandatory=_yes(ev.mandatory))


def _form_items(form: Form, units: Mapping[str, str], parts: dict[str, list[ET.Element]]) -> None:
    """A form's ``ItemGroupDef`` and its items, code lists, conditions and methods."""
    ig = _el(None, "ItemGroupDef", OID=f"IG.{form.name}", Name=form.name, Repeating="No")
    parts["ItemGroupDef"].append(ig)
    order = 0
    for f in _fields(form):
        base = f"{form.name}.{f.name}"
        cond = f"CD.{base}" if f.show_if else None
        if f.show_if:
            parts["ConditionDef"].append(
                _expression(
                    "ConditionDef",
                    f"CD.{base}",
                    f"{base} not collected",
                    f"{f.name} is asked only when {f.show_if}; ODM's condition is its negation",
                    f"not ({f.show_if})",
                )
            )
        method = f"MT.{base}" if f.calc else None
        if f.calc:
            parts["MethodDef"].append(
                _expression(
                    "MethodDef", f"MT.{base}", f"{base} calculation", f"{f.name} = {f.calc}", f.calc
                )
            )
        label = f.label or f.name
        if f.type == "checkbox":
            items = [
                (f"I.{base}___{code}", f"{f.name}___{code}", f"{label}: {text}", None, False)
                for code, text in f.choices.items()
            ]
        else:
            key = form.key.index(f.name) + 1 if f.name in form.key else None
            items = [(f"I.{base}", f.name, label, key, f.required)]
        for oid, name, question, key, mandatory in items:
            order += 1
            _el(
                ig,
                "ItemRef",
                ItemOID=oid,
                OrderNumber=order,
                Mandatory=_yes(mandatory),
                KeySequence=key,
                MethodOID=method,
                CollectionExceptionConditionOID=cond,
            )
            parts["ItemDef"].append(_item_def(form, f, units, oid, name, question))
        if f.type == "choice":
            cl = _code_list(f"CL.{base}", base, _codes_type(f.choices), f.choices)
            parts["CodeList"].append(cl)


def metadata_xml(study: StudyDefinition, *, created: str | None = None) -> bytes:
    """The definition as an ODM 1.3.2 metadata document (UTF-8); ``created`` (ISO date-time)
    fixes ``CreationDateTime``, else now (UTC)."""
    created = created or dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    root = _root("metadata", study, created)
    st = _el(root, "Study", OID=_study_oid(study))
    gv = _el(st, "GlobalVariables")
    _el(gv, "StudyName", study.study.id)
    _el(gv, "StudyDescription", study.study.title)
    _el(gv, "ProtocolName", study.study.nct or study.study.id)
    units = _units(study)
    if units:
        bd = _el(st, "BasicDefinitions")
        for unit, oid in units.items():
            mu = _el(bd, "MeasurementUnit", OID=oid, Name=unit)
            _translated(mu, "Symbol", unit)
    mdv = _el(st, "MetaDataVersion", OID=_mdv_oid(study), Name=f"version {study.version}")
    _protocol(mdv, _events(study))
    repeating = set(study.schedule.repeating)
    parts: dict[str, list[ET.Element]] = {k: [] for k in _AFTER_FORMS}
    for form in study.forms:
        rep = _yes(form.name in repeating)
        fd = _el(mdv, "FormDef", OID=f"F.{form.name}", Name=form.name, Repeating=rep)
        _translated(fd, "Description", form.title or form.name)
        _el(fd, "ItemGroupRef", ItemGroupOID=f"IG.{form.name}", OrderNumber=1, Mandatory="Yes")
        _form_items(form, units, parts)
    parts["CodeList"].append(_code_list(_STATUS_OID, "form status", "integer", _STATUS))
    mdv.extend([e for k in _AFTER_FORMS for e in parts[k]])
    _admin(root, study, [s.code for s in study.study.sites], created, sponsor=True)
    return _to_bytes(root)


def untranslated(study: StudyDefinition) -> list[str]:
    """What the definition holds that ODM 1.3.2 cannot (one line each)."""
    out = []
    s = study.study
    if s.eudract:
        out.append(f"EudraCT number {s.eudract} (ODM 1.3.2 GlobalVariables have no registry ids)")
    out += [
        f"site {site.code}: country {site.country} (an ODM Location has no country)"
        for site in s.sites
        if site.country
    ]
    alloc = study.allocation
    if alloc.arms or alloc.method != "none":
        arms = ", ".join(f"{a.name} ({a.ratio})" for a in alloc.arms)
        strat = f", stratified by {list(alloc.stratify)}" if alloc.stratify else ""
        out.append(
            f"allocation {alloc.method} to arms {arms}{strat} (ODM 1.3.2 has no arms; "
            "ODM 2.0 has StudyStructure)"
        )
    for v in study.visits:
        if any(x is not None for x in (v.day, v.window, v.on_time)):
            out.append(
                f"visit {v.name}: {_timing(v)} (ODM 1.3.2 has no visit timing; only the "
                "StudyEventDef's Description text)"
            )
        if v.arms:
            out.append(f"visit {v.name}: only for arms {list(v.arms)} (ODM 1.3.2 has no arms)")
    for form in study.forms:
        out += [
            f"form {form.name}: check {c.expr!r} ({c.level}: {c.message}): ODM 1.3.2 has no "
            "cross-field edit checks"
            for c in form.checks
        ]
        names = {f.name for f in _fields(form)}
        out += [
            f"form {form.name}: key {k} is not a field (no ItemRef KeySequence)"
            for k in form.key
            if k not in names
        ]
        for f in form.fields:
            if not f.holds_data:
                out.append(f"form {form.name}: {f.type} field {f.name} (no data: not an item)")
            elif f.type == "checkbox" and f.required:
                out.append(
                    f"form {form.name}: checkbox {f.name} is required (at least one ticked); "
                    f"each ODM item {f.name}___code is optional"
                )
    if study.derivations:
        out.append(f"{len(study.derivations)} derivations (analysis parameters: define.xml's)")
    if study.analysis is not None:
        out.append(f"the analysis plan ({len(study.analysis.endpoints)} endpoints)")
    return out


# ---------------------------------------------------------------------------- clinical data


def _event_of(study: StudyDefinition, events: Mapping[str, _Event], rec: Mapping) -> tuple:
    """(StudyEventOID, StudyEventRepeatKey) of a record, or ValueError."""
    visit, form = rec["visit"] or "", rec["form"]
    visits = {v.name for v in study.visits}
    if visit in visits:
        oid, key = f"SE.{visit}", None
    elif visit == "":
        oid, key = _COMMON, None
    elif _UNSCHEDULED in events:
        oid, key = _UNSCHEDULED, visit
    else:
        raise ValueError(f"form {form}: {visit!r} is not a visit (unscheduled visits are off)")
    if oid not in events or form not in events[oid].forms:
        where = [e.oid for e in events.values() if form in e.forms]
        raise ValueError(
            f"form {form} is not in the study event of visit {visit!r} (it is in {where})"
        )
    return oid, key


def _text(v: Any) -> str:
    if isinstance(v, bool) or not isinstance(v, str | int | float):
        raise ValueError(f"value {v!r} is not text")
    return str(v)


def _item_data(group: ET.Element, form: Form, values: Mapping[str, Any]) -> None:
    fields = {f.name: f for f in _fields(form)}
    unknown = [k for k in values if k not in fields]
    if unknown:
        raise ValueError(f"form {form.name}: no field {unknown}")
    for f in fields.values():
        v = values.get(f.name)
        if v is None or (isinstance(v, str) and v == ""):
            continue
        base = f"I.{form.name}.{f.name}"
        if f.type != "checkbox":
            _el(group, "ItemData", ItemOID=base, Value=_text(v))
            continue
        if isinstance(v, str):
            raise ValueError(f"form {form.name}: checkbox {f.name} takes a list of codes")
        picked = [str(c) for c in v]
        if not picked:
            continue
        bad = [c for c in picked if c not in f.choices]
        if bad:
            raise ValueError(f"form {form.name}: {bad} are not codes of {f.name}")
        for code in f.choices:
            _el(group, "ItemData", ItemOID=f"{base}___{code}", Value="1" if code in picked else "0")


def clinical_data_xml(
    study: StudyDefinition, records: Iterable[Mapping], *, created: str | None = None
) -> bytes:
    """Records as an ODM 1.3.2 clinical data document: subjects in order of appearance, their
    events in order of appearance, a ``FormData`` per record (``FormRepeatKey`` its instance
    for a repeating form); the sites named are ``AdminData`` locations.

    A record has ``subject``, ``site`` (or None), ``visit`` (a visit's name; ``""``: not at
    a visit; another name: an unscheduled visit), ``instance``, ``form``, ``status`` (or
    None) and ``values`` (field -> text; a checkbox a list of codes; blanks are left out).
    A record the definition cannot place (unknown form, field, code or visit, a form not in
    that visit's event, a second instance of a non-repeating form) raises ValueError."""
    created = created or dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    events = {e.oid: e for e in _events(study)}
    repeating = set(study.schedule.repeating)
    subjects: dict[str, dict[str, Any]] = {}
    forms_by_name = {f.name: f for f in study.forms}
    for rec in records:
        if rec["form"] not in forms_by_name:
            raise ValueError(f"no form {rec['form']!r} in study {study.study.id}")
        form = forms_by_name[rec["form"]]
        oid, key = _event_of(study, events, rec)
        instance = int(rec.get("instance") or 1)
        if form.name not in repeating and instance != 1:
            raise ValueError(f"form {form.name} is not repeating: instance {instance}")
        subj = subjects.setdefault(str(rec["subject"]), {"site": None, "events": {}})
        site = rec.get("site")
        if site:
            if subj["site"] not in (None, site):
                raise ValueError(f"subject {rec['subject']}: sites {subj['site']} and {site}")
            subj["site"] = site
        forms = subj["events"].setdefault((oid, key), {})
        if (form.name, instance) in forms:
            raise ValueError(f"subject {rec['subject']}: {form.name} {instance} twice at {oid}")
        forms[(form.name, instance)] = rec
    root = _root("clinical", study, created)
    sites = list(dict.fromkeys(s["site"] for s in subjects.values() if s["site"]))
    _admin(root, study, sites, created, sponsor=False)
    cd = _el(root, "ClinicalData", StudyOID=_study_oid(study), MetaDataVersionOID=_mdv_oid(study))
    for subject, subj in subjects.items():
        sd = _el(cd, "SubjectData", SubjectKey=subject)
        if subj["site"]:
            _el(sd, "SiteRef", LocationOID=f"SITE.{subj['site']}")
        for (oid, key), forms in subj["events"].items():
            se = _el(sd, "StudyEventData", StudyEventOID=oid, StudyEventRepeatKey=key)
            for (name, instance), rec in forms.items():
                fkey = instance if name in repeating else None
                fd = _el(se, "FormData", FormOID=f"F.{name}", FormRepeatKey=fkey)
                if rec.get("status") is not None:
                    ann = _el(fd, "Annotation", SeqNum=1)
                    flag = _el(ann, "Flag")
                    _el(flag, "FlagValue", str(int(rec["status"])), CodeListOID=_STATUS_OID)
                ig = _el(fd, "ItemGroupData", ItemGroupOID=f"IG.{name}")
                _item_data(ig, study.form(name), rec.get("values") or {})
    return _to_bytes(root)


def read_clinical_data(xml: bytes) -> list[dict]:
    """The records of a document written by :func:`clinical_data_xml`, in document order
    (a checkbox's ``field___code`` items become the list of codes whose value is 1)."""
    root = ET.fromstring(xml)
    out: list[dict] = []
    for sd in root.iter(_q("SubjectData")):
        site_ref = sd.find(_q("SiteRef"))
        site = (
            site_ref.get("LocationOID", "").removeprefix("SITE.") if site_ref is not None else None
        )
        for se in sd.iter(_q("StudyEventData")):
            oid = se.get("StudyEventOID", "")
            if oid == _UNSCHEDULED:
                visit = se.get("StudyEventRepeatKey", "")
            else:
                visit = "" if oid == _COMMON else oid.removeprefix("SE.")
            for fd in se.iter(_q("FormData")):
                form = fd.get("FormOID", "").removeprefix("F.")
                flag = fd.find(f"{_q('Annotation')}/{_q('Flag')}/{_q('FlagValue')}")
                values: dict[str, Any] = {}
                for item in fd.iter(_q("ItemData")):
                    name = item.get("ItemOID", "").removeprefix(f"I.{form}.")
                    value = item.get("Value", "")
                    if "___" in name:
                        field, code = name.split("___", 1)
                        picked = values.setdefault(field, [])
                        if value == "1":
                            picked.append(code)
                    else:
                        values[name] = value
                out.append(
                    {
                        "subject": sd.get("SubjectKey", ""),
                        "site": site,
                        "visit": visit,
                        "instance": int(fd.get("FormRepeatKey", "1")),
                        "form": form,
                        "status": None if flag is None else int(flag.text or ""),
                        "values": values,
                    }
                )
    return out
