"""src/xerotrial/store/FORMS.md documents exactly the forms of the code."""

from __future__ import annotations

from pathlib import Path

from xerotrial.store.forms import FORMS

DOC = Path(__file__).parents[2] / "src" / "xerotrial" / "store" / "FORMS.md"


def test_forms_doc_is_current() -> None:
    text = DOC.read_text(encoding="utf-8")
    for spec in FORMS.values():
        assert spec.describe() in text, f"FORMS.md is stale for {spec.name}: regenerate it"
