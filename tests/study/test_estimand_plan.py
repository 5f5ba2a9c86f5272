"""``[analysis.estimand]`` in a study definition: every problem located by its key."""

from __future__ import annotations

from pathlib import Path

import pytest

from xerotrial.errors import XerotrialError
from xerotrial.study.load import load_study

PHASE2 = Path(__file__).resolve().parents[2] / "src" / "xerotrial" / "data" / "studies" / "phase2"


def _load(tmp_path: Path, old: str, new: str):
    text = (PHASE2 / "study.toml").read_text()
    assert old in text
    path = tmp_path / "study.toml"
    path.write_text(text.replace(old, new))
    return load_study(path)


def test_the_phase2_estimand() -> None:
    plan = load_study(PHASE2 / "study.toml").analysis.estimand
    assert (plan.endpoint, plan.method, plan.ice_form) == (
        "UWS",
        "condmean-jackknife",
        "intercurrent_events",
    )
    assert dict(plan.strategies) == {"discontinuation": "JR", "rescue": "CR"}


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('rescue = "CR" }', 'rescue = "J2R" }', "analysis.estimand.strategies.rescue"),
        (
            'discontinuation = "JR", rescue = "CR"',
            'discontinuation = "JR"',
            "the event 'rescue' has no strategy",
        ),
        ('ice_form = "intercurrent_events"', 'ice_form = "ice"', "form 'ice' is not defined"),
        (
            'first_visit_field = "first_visit"',
            'first_visit_field = "event_date"',
            "'event_date' is not a choice field",
        ),
        ('method = "condmean-jackknife"', 'method = "mice"', "analysis.estimand.method"),
        (
            "[analysis.estimand]\n",
            '[analysis.estimand]\nendpoint = "SALIVA"\n',
            "analysis.estimand.endpoint",
        ),
    ],
)
def test_problems_name_the_key(tmp_path: Path, old: str, new: str, message: str) -> None:
    with pytest.raises(XerotrialError) as err:
        _load(tmp_path, old, new)
    assert message in str(err.value)
