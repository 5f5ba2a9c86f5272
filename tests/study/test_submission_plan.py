"""``[submission]`` and the SDTM annotations of a study definition: every problem located by
its key; the section written back by ``to_toml`` loads as the same plan."""

from __future__ import annotations

from pathlib import Path

import pytest

from xerotrial.errors import XerotrialError
from xerotrial.study.load import load_study
from xerotrial.study.toml_write import to_toml

STUDIES = Path(__file__).resolve().parents[2] / "src" / "xerotrial" / "data" / "studies"


def _load(tmp_path: Path, study: str, old: str, new: str):
    text = (STUDIES / study / "study.toml").read_text()
    assert old in text, old
    path = tmp_path / "study.toml"
    path.write_text(text.replace(old, new, 1))
    return load_study(path)


def test_the_seed_plan() -> None:
    plan = load_study(STUDIES / "seed" / "study.toml").submission
    assert (plan.phase, plan.blinding, plan.first_dose_day) == ("PHASE I TRIAL", "OPEN LABEL", 0)
    assert plan.arm == ("ATMSC", "AT-MSC")
    assert dict(plan.domains) == {"XS": "Sialometry", "XI": "Saliva Ions",
                                  "XG": "Salivary Gland Scintigraphy"}  # fmt: skip
    assert plan.tests["XI"]["Na"] == ("SODIUM", "Sodium")
    assert plan.recode("DM.RACE", "White") == "WHITE"
    assert plan.recode("DM.RACE", "Klingon") == "Klingon"  # unlisted: as collected


@pytest.mark.parametrize("study", ["seed", "phase2"])
def test_the_section_round_trips(tmp_path: Path, study: str) -> None:
    first = load_study(STUDIES / study / "study.toml")
    path = tmp_path / "again.toml"
    path.write_text(to_toml(first))
    again = load_study(path)
    assert again.submission == first.submission
    assert [d.dataset for d in again.derivations] == [d.dataset for d in first.derivations]


@pytest.mark.parametrize(
    ("study", "old", "new", "message"),
    [
        ("seed", 'phase = "PHASE I TRIAL"', 'phase = "PHASE 1B"', "submission.phase"),
        ("seed", 'blinding = "OPEN LABEL"', 'blinding = "OPEN"', "submission.blinding"),
        ("seed", 'XS = "Sialometry"\n', "", "domain XS is neither an SDTMIG domain"),
        ("seed", 'XS = "Sialometry"', 'AS = "Sialometry"', "custom domain 'AS'"),
        ("seed", 'alt = ["ALT", "Alanine Aminotransferase"]',
         'alt = ["ALANINE_AT", "Alanine Aminotransferase"]', "submission.tests.LB.alt"),
        ("seed", '[submission.values."AE.AEREL"]', '[submission.values."AE.AEOUT"]',
         "no field is annotated 'AE.AEOUT'"),
        ("seed", 'xq = "XEROSTOMIA QUESTIONNAIRE"', 'xqs = "XEROSTOMIA QUESTIONNAIRE"',
         "form 'xqs' is not defined"),
        ("phase2", 'xpt = "UWSBEFG"', 'xpt = "UWS_BEFORE"', "a test code is 1-8 capitals"),
        ("phase2", 'dataset = "ADFLOW"', 'dataset = "FLOW"', "derivations.UWS.dataset"),
        ("phase2", 'first_dose_day = 0', 'first_dose_day = "zero"',
         "submission.first_dose_day"),
    ],
)  # fmt: skip
def test_problems_name_the_key(tmp_path: Path, study: str, old: str, new: str, message: str):
    with pytest.raises(XerotrialError) as err:
        _load(tmp_path, study, old, new)
    assert message in str(err.value)


def test_a_custom_domain_needs_the_section(tmp_path: Path) -> None:
    text = (STUDIES / "phase2" / "study.toml").read_text()
    start, end = text.index("[submission]"), text.index("# ------", text.index("[submission]"))
    path = tmp_path / "study.toml"
    path.write_text(text[:start] + text[end:])
    with pytest.raises(XerotrialError) as err:
        load_study(path)
    assert "the custom domains ['XS'] need [submission.domains] labels" in str(err.value)
