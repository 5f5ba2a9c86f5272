"""The seed store's forms are its definition's (store/forms.py makes them from it): field by
field, with the overlay of trial code naming real forms and fields; and the definition's
visits agree with the protocol's."""

from __future__ import annotations

import pytest

from xerotrial.store.forms import FORMS
from xerotrial.study import SEED_STUDY, load_study
from xerotrial.trial.protocol import load_protocol

SEED = load_study(SEED_STUDY)
PROTOCOL = load_protocol()
TYPES = {"int": "integer", "float": "decimal", "bool": "yesno", "date": "date", "text": "text"}


def test_the_same_forms_in_the_same_order() -> None:
    assert [f.name for f in SEED.forms] == list(FORMS)


@pytest.mark.parametrize("name", list(FORMS))
def test_each_form_agrees_field_by_field(name: str) -> None:
    spec, form = FORMS[name], SEED.form(name)
    assert form.title == spec.title
    assert form.key == spec.key
    assert form.columns == spec.columns
    for f, d in zip(spec.fields, form.fields, strict=True):
        kind = "choice" if f.kind == "text" and f.choices else TYPES[f.kind]
        got = (d.type, d.required, d.lo, d.hi, d.unit, tuple(d.choices) or None)
        assert got == (kind, f.required, f.lo, f.hi, f.unit, f.choices), f.name
        assert dict(d.choices) == {c: c for c in f.choices or ()}


def test_the_code_overlay_names_real_forms_and_fields() -> None:
    from xerotrial.store import forms

    for form, field in [*forms._NORMALIZE, *forms._UNLIMITED]:
        assert field in SEED.form(form).columns
    assert set(forms._ROW_CHECKS) <= set(FORMS)


def test_the_row_checks_that_are_data_are_there() -> None:
    exprs = {f.name: [c.expr for c in f.checks] for f in SEED.forms}
    assert "cup_after_g >= cup_before_g" in exprs["sialometry"]
    assert len(exprs["screening"]) == 2 and len(exprs["participants"]) == 2


@pytest.mark.parametrize(
    ("form", "row", "failing"),
    [
        ("participants", {"group": "control", "matched_to": None}, 1),
        ("participants", {"group": "patient", "matched_to": "P01"}, 1),
        ("participants", {"group": "control", "matched_to": "P01"}, 0),
        ("participants", {"group": "patient", "matched_to": None}, 0),
        ("screening", {"eligible": False, "failed_criteria": None}, 1),
        ("screening", {"eligible": True, "failed_criteria": "age"}, 1),
        ("screening", {"eligible": False, "failed_criteria": "age"}, 0),
        ("sialometry", {"cup_before_g": 12.0, "cup_after_g": 11.5}, 1),
        ("sialometry", {"cup_before_g": 12.0, "cup_after_g": 12.0}, 0),
        ("adverse_events", {"serious": True, "sae_criteria": ""}, 1),
        ("adverse_events", {"serious": False, "sae_criteria": "death"}, 1),
        ("safety_labs", {"lower_limit": 5.0, "upper_limit": 1.0}, 1),
        ("safety_labs", {"lower_limit": None, "upper_limit": 1.0}, 0),
    ],
)
def test_the_checks_decide_as_the_store_does(form: str, row: dict, failing: int) -> None:
    from xerotrial.study.expressions import parse_expression

    results = [parse_expression(c.expr).evaluate(row) for c in SEED.form(form).checks]
    assert sum(r is False for r in results) == failing


def test_the_protocol_reads_visits_schedule_and_identifiers_from_the_definition() -> None:
    """One fact, one place: the bundled protocol names the definition (``study = "seed"``)
    and holds no visit, schedule or identifier of its own."""
    import tomllib
    from importlib import resources

    text = resources.files("xerotrial").joinpath("data", "protocol.toml").read_text()
    doc = tomllib.loads(text)
    assert doc["study"] == "seed" and "visits" not in doc and "schedule" not in doc
    assert not {"id", "title", "eudract"} & set(doc["trial"])
    got = [(v.name, v.label, v.day, v.window, v.on_time, v.baseline, v.note) for v in SEED.visits]
    want = [
        (
            v.name,
            v.label,
            v.planned_day,
            (v.window.lower, v.window.upper),
            (v.target.lower, v.target.upper),
            v.baseline,
            v.note,
        )
        for v in PROTOCOL.visits
    ]
    assert got == want
    assert [v.avisitn for v in PROTOCOL.visits] == [v.day for v in SEED.visits]
    assert dict(SEED.schedule.due) == dict(PROTOCOL.schedule)
    assert SEED.schedule.repeating == ("adverse_events",)
    assert (SEED.study.id, SEED.study.title, SEED.study.eudract) == (
        PROTOCOL.trial.id,
        PROTOCOL.trial.title,
        PROTOCOL.trial.eudract,
    )
    assert SEED.allocation.method == "none" and SEED.allocation.arms == ()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"visits": []}, "key 'visits': given here and by the study definition 'seed'"),
        ({"schedule": {}}, "key 'schedule': given here and by the study definition 'seed'"),
        ({"trial.title": "x"}, "key 'trial.title': given here and by the study definition"),
        ({"analysis.primary": "day30"}, "key 'analysis.primary': given here and by the study"),
        ({"study": "phase9"}, "key 'study': no bundled study definition 'phase9'"),
        ({"study": "../seed"}, "key 'study': names a bundled study definition"),
    ],
)
def test_a_protocol_states_the_definitions_facts_once(change: dict, message: str) -> None:
    import tomllib
    from importlib import resources

    from xerotrial.errors import DataValidationError
    from xerotrial.trial.protocol import parse_protocol

    text = resources.files("xerotrial").joinpath("data", "protocol.toml").read_text()
    doc = tomllib.loads(text)
    for key, value in change.items():
        table, _, name = key.rpartition(".")
        (doc[table] if table else doc)[name] = value
    with pytest.raises(DataValidationError) as err:
        parse_protocol(doc, "p.toml")
    assert f"p.toml: {message}" in str(err.value)


def test_a_standalone_protocol_is_the_same_protocol() -> None:
    import tomllib
    from importlib import resources

    from xerotrial.trial.protocol import parse_protocol, standalone_text

    text = resources.files("xerotrial").joinpath("data", "protocol.toml").read_text()
    alone = parse_protocol(tomllib.loads(standalone_text(text)), PROTOCOL.source)
    assert alone == PROTOCOL
