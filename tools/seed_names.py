"""Count the lines of the core that name a seed-trial form or visit (issue 12's measure).

A line counts when a string constant in code (not a docstring) is the name of one of the seed
store's forms (``xerotrial.store.forms.FORMS``) or of the seed trial's visits. ``visits`` and
``sites`` are also keys of every study definition, so they are counted apart. Migrations are
history and not counted.

    .venv/bin/python tools/seed_names.py          # per file, then the totals
"""

from __future__ import annotations

import ast
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "src" / "xerotrial"
SEED_VISITS = ("day0", "day1", "day5", "day30", "day120", "year2")
SHARED_WORDS = frozenset({"visits", "sites"})


def code_strings(path: Path) -> set[tuple[int, str]]:
    """``(line, text)`` of every string constant in the code of ``path`` (not docstrings).

    >>> "day0" in {text for _, text in code_strings(Path(__file__))}
    True
    """
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docs = {
        id(n.body[0].value)
        for n in ast.walk(tree)
        if isinstance(n, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and n.body
        and isinstance(n.body[0], ast.Expr)
        and isinstance(n.body[0].value, ast.Constant)
    }
    return {
        (n.lineno, n.value)
        for n in ast.walk(tree)
        if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docs
    }


def seed_name_lines(path: Path, names: frozenset[str]) -> set[int]:
    """The lines of ``path`` whose code (not docstrings) has a string constant in ``names``."""
    return {line for line, text in code_strings(path) if text in names}


def main() -> None:
    from xerotrial.store.forms import FORMS

    names = frozenset({*FORMS, *SEED_VISITS})
    strict, shared = Counter(), Counter()
    for path in sorted(ROOT.rglob("*.py")):
        if "migrations" in path.parts:
            continue
        rel = str(path.relative_to(ROOT))
        strict[rel] = len(seed_name_lines(path, names - SHARED_WORDS))
        shared[rel] = len(seed_name_lines(path, names))
    for rel in sorted(shared):
        if shared[rel]:
            print(f"{strict[rel]:4d} {shared[rel]:4d}  {rel}")
    print(
        f"{sum(strict.values()):4d} {sum(shared.values()):4d}  lines in all (without / with "
        "the words visits and sites)"
    )


if __name__ == "__main__":
    main()
