"""define.xml 2.1 (and its HTML rendering) from the datasets' own metadata.

One ItemGroupDef per dataset written, one ItemDef per variable (its label, type, length,
origin, and the method of a derived variable), codelists of the coded variables (flags Y/N,
SEX, EPOCH, the arm codes, and --TESTCD and PARAMCD with their names as decodes), and
value-level metadata for each test code of a findings domain (--ORRES, --STRESN) and each
PARAMCD of a BDS dataset (AVAL), with its where clause. It describes exactly the datasets
given and their variables, nothing else.

Example
-------
>>> import pandas as pd
>>> from xerotrial.study import SEED_STUDY, load_study
>>> from xerotrial.submission.datasets import Dataset, Variable
>>> v = Variable("STUDYID", "Study Identifier", core="Req", origin="Assigned")
>>> d = Dataset("TS", "Trial Summary", "TRIAL DESIGN", "One record per parameter",
...             ("STUDYID",), (v,), pd.DataFrame({"STUDYID": ["S1"]}))
>>> "<ItemGroupDef" in define_xml(load_study(SEED_STUDY), "sdtm", [d], "xpt")
True
"""

from __future__ import annotations

import datetime as dt
import html
import xml.etree.ElementTree as ET
from collections.abc import Sequence

import pandas as pd

from xerotrial import __version__
from xerotrial.study.model import StudyDefinition

from .datasets import Dataset, Variable

__all__ = ["NS", "define_html", "define_xml"]

NS = {
    "odm": "http://www.cdisc.org/ns/odm/v1.3",
    "def": "http://www.cdisc.org/ns/def/v2.1",
    "xlink": "http://www.w3.org/1999/xlink",
}
_STANDARDS = {"sdtm": ("SDTMIG", "3.4", "Tabulation"), "adam": ("ADaMIG", "1.3", "Analysis")}
_CODED = {"SEX", "AGEU", "EPOCH", "ARMCD", "ACTARMCD", "DOMAIN", "RDOMAIN", "ARMNRS"}


def _q(prefix: str, tag: str) -> str:
    return f"{{{NS[prefix]}}}{tag}"


def _text(parent: ET.Element, tag: str, text: str) -> ET.Element:
    el = ET.SubElement(parent, _q("odm", tag))
    tt = ET.SubElement(el, _q("odm", "TranslatedText"))
    tt.set("{http://www.w3.org/XML/1998/namespace}lang", "en")
    tt.text = text
    return el


def _blank(x: object) -> bool:
    return x is None or (isinstance(x, float) and pd.isna(x)) or x == ""


def _lengths(col: pd.Series) -> pd.Series:
    """Each value's length in bytes (0 for an empty one)."""
    text = col.astype(object).where(col.notna(), "").astype(str)
    return text.str.encode("utf-8").str.len()


def _length(d: Dataset, v: Variable, rows: pd.Series | None = None) -> int:
    """The longest value in bytes (of ``rows`` only when given); 8 for a number."""
    if v.type != "text":
        return 8
    col = d.frame[v.name] if rows is None else d.frame.loc[rows, v.name]
    return max(int(_lengths(col).max()) if len(col) else 0, 1)


def _coded(d: Dataset, v: Variable) -> list[tuple[str, str | None]]:
    """(value, decode) of a coded variable ([] when it is not one)."""
    name = v.name
    if v.codelist:
        return [(x, None) for x in v.codelist]
    if name.endswith("FL") and v.type == "text":
        return [("Y", None), ("N", None)]
    decode = {"PARAMCD": "PARAM", f"{d.name}TESTCD": f"{d.name}TEST"}.get(name)
    if not (decode and decode in d.frame) and name not in _CODED:
        return []
    col = d.frame[name]
    values = sorted({str(x) for x in col.dropna().unique() if not _blank(x)})
    if decode and decode in d.frame:
        pairs = dict(zip(d.frame[name].astype(str), d.frame[decode].astype(str), strict=True))
        return [(x, pairs[x]) for x in values]
    if name in _CODED:
        return [(x, None) for x in values]
    return []


def _origin(item: ET.Element, v: Variable) -> None:
    o = ET.SubElement(item, _q("def", "Origin"))
    o.set("Type", v.origin)
    if v.origin == "Collected":
        o.set("Source", "Investigator")
    if v.source:
        _text(o, "Description", v.source)


def define_xml(study: StudyDefinition, model: str, datasets: Sequence[Dataset], fmt: str) -> str:
    """The define.xml 2.1 of ``datasets`` (files ``NAME.fmt``) as text."""
    for p, uri in NS.items():
        ET.register_namespace("" if p == "odm" else p, uri)
    ig_name, ig_version, purpose = _STANDARDS[model]
    now = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()
    sid = study.study.id
    odm = ET.Element(_q("odm", "ODM"))
    for k, v in (("ODMVersion", "1.3.2"), ("FileType", "Snapshot"),
                 ("FileOID", f"DEF.{sid}.{model.upper()}"), ("CreationDateTime", now),
                 ("Originator", "xerotrial"), ("SourceSystem", "xerotrial"),
                 ("SourceSystemVersion", __version__)):  # fmt: skip
        odm.set(k, v)
    odm.set(_q("def", "Context"), "Submission")
    st = ET.SubElement(odm, _q("odm", "Study"), OID=f"STDY.{sid}")
    gv = ET.SubElement(st, _q("odm", "GlobalVariables"))
    ET.SubElement(gv, _q("odm", "StudyName")).text = sid
    ET.SubElement(gv, _q("odm", "StudyDescription")).text = study.study.title
    ET.SubElement(gv, _q("odm", "ProtocolName")).text = sid
    mdv = ET.SubElement(st, _q("odm", "MetaDataVersion"))
    mdv.set("OID", f"MDV.{sid}.{model.upper()}")
    mdv.set("Name", f"{sid} {ig_name} {ig_version}, definition version {study.version}")
    mdv.set(_q("def", "DefineVersion"), "2.1.0")
    stds = ET.SubElement(mdv, _q("def", "Standards"))
    std = ET.SubElement(stds, _q("def", "Standard"))
    for k, v in (("OID", "STD.1"), ("Name", ig_name), ("Type", "IG"), ("Version", ig_version),
                 ("Status", "Final")):  # fmt: skip
        std.set(k, v)

    value_lists: list[ET.Element] = []
    wheres: list[ET.Element] = []
    groups: list[ET.Element] = []
    items: list[ET.Element] = []
    codelists: list[ET.Element] = []
    methods: list[ET.Element] = []
    for d in datasets:
        ig = ET.Element(_q("odm", "ItemGroupDef"))
        for k, v in (("OID", f"IG.{d.name}"), ("Name", d.name), ("Repeating", "Yes" if d.name
                     not in ("DM", "ADSL") else "No"), ("IsReferenceData", "Yes" if d.klass ==
                     "TRIAL DESIGN" else "No"), ("SASDatasetName", d.name),
                     ("Purpose", purpose)):  # fmt: skip
            ig.set(k, v)
        if model == "sdtm" and len(d.name) == 2:
            ig.set("Domain", d.name)
        ig.set(_q("def", "Structure"), d.structure)
        ig.set(_q("def", "StandardOID"), "STD.1")
        ig.set(_q("def", "ArchiveLocationID"), f"LF.{d.name}")
        _text(ig, "Description", d.label)
        for i, v in enumerate(d.variables, start=1):
            oid = f"IT.{d.name}.{v.name}"
            ref = ET.SubElement(ig, _q("odm", "ItemRef"), ItemOID=oid, OrderNumber=str(i))
            ref.set("Mandatory", "Yes" if v.core == "Req" else "No")
            if v.name in d.keys:
                ref.set("KeySequence", str(d.keys.index(v.name) + 1))
            if v.origin == "Derived" and v.method:
                ref.set("MethodOID", f"MT.{d.name}.{v.name}")
                m = ET.Element(_q("odm", "MethodDef"), OID=f"MT.{d.name}.{v.name}",
                               Name=f"{d.name}.{v.name}", Type="Computation")  # fmt: skip
                _text(m, "Description", v.method)
                methods.append(m)
            item = ET.Element(_q("odm", "ItemDef"), OID=oid, Name=v.name)
            item.set("DataType", "integer" if v.type == "date" else v.type)
            if v.type != "date":
                item.set("Length", str(_length(d, v)))
            if v.type == "float":
                item.set("SignificantDigits", "8")
            item.set("SASFieldName", v.name)
            if v.type == "date":
                item.set(_q("def", "DisplayFormat"), "DATE9.")
            _text(item, "Description", v.label)
            coded = _coded(d, v)
            if coded:
                cl_oid = f"CL.{d.name}.{v.name}"
                ET.SubElement(item, _q("odm", "CodeListRef"), CodeListOID=cl_oid)
                cl = ET.Element(_q("odm", "CodeList"), OID=cl_oid, Name=f"{d.name} {v.name}",
                                DataType="text")  # fmt: skip
                for j, (value, decode) in enumerate(coded, start=1):
                    if decode is None:
                        ET.SubElement(cl, _q("odm", "EnumeratedItem"), CodedValue=value,
                                      OrderNumber=str(j))  # fmt: skip
                    else:
                        cli = ET.SubElement(cl, _q("odm", "CodeListItem"), CodedValue=value,
                                            OrderNumber=str(j))  # fmt: skip
                        _text(cli, "Decode", decode)
                codelists.append(cl)
            _origin(item, v)
            vl = _value_list(d, v, value_lists, wheres, items)
            if vl is not None:
                ET.SubElement(item, _q("def", "ValueListRef"), ValueListOID=vl)
            items.append(item)
        ET.SubElement(ig, _q("def", "Class"), Name=d.klass)
        leaf = ET.SubElement(ig, _q("def", "leaf"), ID=f"LF.{d.name}")
        leaf.set(_q("xlink", "href"), f"{d.file_stem}.{fmt}")
        ET.SubElement(leaf, _q("def", "title")).text = f"{d.file_stem}.{fmt}"
        groups.append(ig)
    for el in (*value_lists, *wheres, *groups, *items, *codelists, *methods):
        mdv.append(el)
    ET.indent(odm)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(odm, encoding="unicode") + "\n"


def _value_list(d: Dataset, v: Variable, lists: list, wheres: list, items: list) -> str | None:
    """The value-level metadata of a findings result (per --TESTCD) or of AVAL (per PARAMCD)."""
    code = "PARAMCD" if "PARAMCD" in d.frame else f"{d.name}TESTCD"
    results = {"AVAL"} if code == "PARAMCD" else {f"{d.name}ORRES", f"{d.name}STRESN"}
    if v.name not in results or code not in d.frame:
        return None
    oid = f"VL.{d.name}.{v.name}"
    vl = ET.Element(_q("def", "ValueListDef"), OID=oid)
    name_col = "PARAM" if code == "PARAMCD" else f"{d.name}TEST"
    codes = d.frame[code].astype(str)
    names = dict(zip(codes, d.frame[name_col].astype(str), strict=True))
    longest = _lengths(d.frame[v.name]).groupby(codes).max() if v.type == "text" else None
    for i, value in enumerate(sorted(names), start=1):
        item_oid = f"IT.{d.name}.{v.name}.{value}"
        wc = f"WC.{d.name}.{code}.{value}"
        ref = ET.SubElement(vl, _q("odm", "ItemRef"), ItemOID=item_oid, OrderNumber=str(i),
                            Mandatory="No")  # fmt: skip
        if value in d.params:
            ref.set("MethodOID", f"MT.{d.name}.{v.name}")
        ET.SubElement(ref, _q("def", "WhereClauseRef"), WhereClauseOID=wc)
        if not any(w.get("OID") == wc for w in wheres):
            w = ET.Element(_q("def", "WhereClauseDef"), OID=wc)
            rc = ET.SubElement(w, _q("odm", "RangeCheck"), SoftHard="Soft", Comparator="EQ")
            rc.set(_q("def", "ItemOID"), f"IT.{d.name}.{code}")
            ET.SubElement(rc, _q("odm", "CheckValue")).text = value
            wheres.append(w)
        item = ET.Element(_q("odm", "ItemDef"), OID=item_oid, Name=v.name)
        item.set("DataType", v.type if v.type != "date" else "integer")
        item.set("Length", str(max(int(longest[value]), 1) if longest is not None else 8))
        if v.type == "float":
            item.set("SignificantDigits", "8")
        label, _unit, method = d.params.get(value, (names[value], "", ""))
        _text(item, "Description", f"{label}" + (f" ({method})" if method else ""))
        _origin(item, v)
        items.append(item)
    lists.append(vl)
    return oid


def define_html(study: StudyDefinition, model: str, datasets: Sequence[Dataset]) -> str:
    """A readable rendering of the same metadata: the datasets, then each one's variables."""
    ig, ver, _ = _STANDARDS[model]
    e = html.escape
    out = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{e(study.study.id)} define.xml ({ig} {ver})</title>",
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;"
        "margin-bottom:2em}th,td{border:1px solid #999;padding:.2em .5em;text-align:left;"
        "vertical-align:top}th{background:#eee}</style></head><body>",
        f"<h1>{e(study.study.id)}: {e(ig)} {e(ver)} datasets</h1>",
        f"<p>{e(study.study.title)}. Definition version {e(study.version)}; xerotrial "
        f"{e(__version__)}.</p>",
        "<table><thead><tr><th>Dataset</th><th>Description</th><th>Class</th>"
        "<th>Structure</th><th>Keys</th><th>Records</th></tr></thead><tbody>",
    ]
    for d in datasets:
        out.append(
            f"<tr><td><a href='#{e(d.name)}'>{e(d.name)}</a></td><td>{e(d.label)}</td>"
            f"<td>{e(d.klass)}</td><td>{e(d.structure)}</td><td>{e(', '.join(d.keys))}</td>"
            f"<td>{len(d.frame)}</td></tr>"
        )
    out.append("</tbody></table>")
    for d in datasets:
        out.append(f"<h2 id='{e(d.name)}'>{e(d.name)}: {e(d.label)}</h2>")
        out.append(
            "<table><thead><tr><th>Variable</th><th>Label</th><th>Type</th><th>Core</th>"
            "<th>Origin</th><th>Source or method</th></tr></thead><tbody>"
        )
        for v in d.variables:
            out.append(
                f"<tr><td>{e(v.name)}</td><td>{e(v.label)}</td><td>{e(v.type)}</td>"
                f"<td>{e(v.core)}</td><td>{e(v.origin)}</td>"
                f"<td>{e(v.source or v.method)}</td></tr>"
            )
        out.append("</tbody></table>")
        if d.params:
            out.append("<table><thead><tr><th>Parameter</th><th>Description</th>"
                       "<th>Derivation</th></tr></thead><tbody>")  # fmt: skip
            for code, (label, _u, method) in d.params.items():
                out.append(f"<tr><td>{e(code)}</td><td>{e(label)}</td><td>{e(method)}</td></tr>")
            out.append("</tbody></table>")
    out.append("</body></html>\n")
    return "\n".join(out)
