"""Count the lines of the core that name a seed-trial form or visit (issue 12's measure).

A line counts when a string constant in code (not a docstring) is the name of one of the seed
store's forms (``xerotrial.store.forms.FORMS``) or of the seed trial's visits. ``visits`` and
``sites`` are also keys of every study definition, so they are counted apart. Migrations are
history and not counted. The seed trial's own code (its store's forms and import, its report,
its derivations and scoring: :data:`SEED_TRIAL_CODE`) is counted apart from the core (the
study definition, the study store, the audit trail, ADaM BDS, the plan's analysis, the
engine), where the goal is none.

    .venv/bin/python tools/seed_names.py          # per file, then the totals
"""

from __future__ import annotations

import ast
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "src" / "xerotrial"
SEED_VISITS = ("day0", "day1", "day5", "day30", "day120", "year2")
SHARED_WORDS = frozenset({"visits", "sites"})
#: Modules (relative to src/xerotrial, or folders ending in "/") that are the seed trial's own
#: code: the seed store (forms made from its definition, its cross-form checks, import,
#: edit and export), the seed report (Tables 1-4, Figure 2), its derivations and scorings.
SEED_TRIAL_CODE: tuple[str, ...] = (
    "store/forms.py",
    "store/schema.py",
    "store/consistency.py",
    "store/importer.py",
    "store/inputs.py",
    "store/edit.py",
    "store/export.py",
    "store/redcap.py",
    "analysis/efficacy.py",
    "analysis/summaries.py",
    "analysis/build.py",
    "report/data.py",
    "report/html.py",
    "report/figures.py",
    "report/consort.py",
    "trial/",
    "cli_score.py",
    "cli_power.py",
)


def is_seed_code(rel: str) -> bool:
    """Whether the module ``rel`` (relative to src/xerotrial) is the seed trial's own code.

    >>> is_seed_code("trial/sialometry.py"), is_seed_code("study/check.py")
    (True, False)
    """
    return any(rel == m or (m.endswith("/") and rel.startswith(m)) for m in SEED_TRIAL_CODE)


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
    for part, seed in (("the core", False), ("the seed trial's own code", True)):
        print(f"{part}:")
        rels = [r for r in sorted(shared) if is_seed_code(r) == seed]
        for rel in rels:
            if shared[rel]:
                print(f"{strict[rel]:4d} {shared[rel]:4d}  {rel}")
        print(
            f"{sum(strict[r] for r in rels):4d} {sum(shared[r] for r in rels):4d}  lines in "
            f"{part} (without / with the words visits and sites)"
        )


if __name__ == "__main__":
    main()
