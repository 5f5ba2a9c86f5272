"""src/xerotrial/store/FORMS.md documents exactly the forms of the code.

Regenerate its listing after changing a form:
``.venv/bin/python tests/store/test_forms_doc.py`` (rewrites the block between the fences).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from xerotrial.store.forms import FORMS

DOC = Path(__file__).parents[2] / "src" / "xerotrial" / "store" / "FORMS.md"
_BLOCK = re.compile(r"^```\n(.*?)^```$", re.S | re.M)


def listing() -> str:
    """What ``xerotrial template --list`` prints: every form, in import order."""
    return "".join(spec.describe() + "\n\n" for spec in FORMS.values())


def test_forms_doc_is_current() -> None:
    text = DOC.read_text(encoding="utf-8")
    for spec in FORMS.values():
        assert spec.describe() in text, f"FORMS.md is stale for {spec.name}: regenerate it"
    block = _BLOCK.search(text)
    assert block is not None and block.group(1) == listing(), (
        "FORMS.md is stale: regenerate it with `python tests/store/test_forms_doc.py`"
    )


if __name__ == "__main__":
    text = DOC.read_text(encoding="utf-8")
    DOC.write_text(_BLOCK.sub(lambda _m: f"```\n{listing()}```", text, count=1), encoding="utf-8")
    sys.stdout.write(f"{DOC}: {len(FORMS)} forms\n")
