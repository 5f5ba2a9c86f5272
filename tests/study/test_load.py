"""Reading definitions: TOML and YAML give the same study; YAML problems are located too."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
import yaml

from xerotrial.study.check import StudyDefinitionError
from xerotrial.study.load import load_study, toml_lines

from .definitions import GOOD, line_of, load_text, problems, the_problem


def _yaml() -> str:
    return yaml.safe_dump(tomllib.loads(GOOD), sort_keys=False, allow_unicode=True)


def test_yaml_and_toml_give_the_same_definition(tmp_path: Path) -> None:
    assert load_text(tmp_path, _yaml(), "study.yaml") == load_text(tmp_path, GOOD)
    assert load_text(tmp_path, _yaml(), "study.yml") == load_text(tmp_path, GOOD)


def test_yaml_problems_name_file_line_and_key(tmp_path: Path) -> None:
    text = _yaml().replace("type: integer", "type: int", 1)
    p = the_problem(problems(tmp_path, text, "s.yaml"), "forms.adverse_events.fields.ae_id.type")
    assert p.file == str(tmp_path / "s.yaml")
    assert p.line == line_of(text, "type: int\n"), str(p)
    assert "unknown type 'int'" in p.rule


def test_yaml_duplicate_keys_are_problems_not_silently_the_last(tmp_path: Path) -> None:
    twice = "      subject:\n        type: date\n"
    text = _yaml().replace("      visit:\n", twice + "      visit:\n", 1)
    p = the_problem(problems(tmp_path, text, "s.yaml"), "forms.sialometry.fields.subject")
    assert p.rule == "'subject' is given twice"
    assert p.line == line_of(text, twice)


def test_yaml_syntax_error_is_located(tmp_path: Path) -> None:
    (p,) = problems(tmp_path, "version: '1'\nstudy: [unclosed\n", "s.yaml")
    assert p.rule.startswith("not YAML: ") and p.line is not None


def test_a_file_that_is_not_a_table(tmp_path: Path) -> None:
    found = problems(tmp_path, "- 1\n- 2\n", "s.yaml")
    assert [(p.column, p.rule) for p in found][0] == (None, "must be a table, not list")


def test_unreadable_file(tmp_path: Path) -> None:
    (tmp_path / "bad.toml").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(StudyDefinitionError) as info:
        load_study(tmp_path / "bad.toml")
    assert info.value.problems[0].rule.startswith("cannot read it")


def test_toml_lines_tables_arrays_and_dotted_keys() -> None:
    text = (
        '[a]\nx = 1\ny.z = "q = 2"  # comment = 3\n'
        "[[a.list]]\nk = 1\n[[a.list]]\nk = 2\n"
        "arr = [\n  {v = 1}, {v = 2},\n  {v = 3},\n]\nafter = 1\n"
        '["quoted key".b]\nc = 1\n'
    )
    lines = toml_lines(text)
    assert lines[("a", "x")] == 2 and lines[("a", "y", "z")] == 3
    assert lines[("a", "list", 0, "k")] == 5 and lines[("a", "list", 1, "k")] == 7
    assert lines[("a", "list", 1, "arr", 0)] == 9 and lines[("a", "list", 1, "arr", 2)] == 10
    assert lines[("a", "list", 1, "after")] == 12
    assert lines[("quoted key", "b", "c")] == 14


def test_yaml_aliases_are_refused_so_nothing_nests_without_end(tmp_path: Path) -> None:
    laughs = "a: &a [x, x]\nb: &b [*a, *a]\nc: &c [*b, *b]\nd: [*c, *c]\n"
    found = problems(tmp_path, laughs, "s.yaml")
    assert found and all("aliases" in p.rule for p in found)
    assert found[0].column == "b.0" and found[0].line == 2
    (p,) = problems(tmp_path, "a: &a [*a]\n", "s.yaml")
    assert p.column == "a.0" and "aliases" in p.rule
