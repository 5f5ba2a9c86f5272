"""Read a study definition from TOML or YAML, keeping the line of every key.

``tomllib`` gives no positions (nor does ``tomlkit``, which keeps formatting, not lines), so
:func:`toml_lines` finds a key's line by scanning the text for table headers and keys; YAML
lines come from the nodes of ``yaml.compose``. :func:`load_study` reads and checks a file
(:func:`xerotrial.study.check.build`): every problem names the file, the line and the key path.

>>> text = '[forms.xq]\\ntitle = "XQ"\\n\\n[forms.xq.fields]\\nxq1 = {type = "integer"}\\n'
>>> lines = toml_lines(text)
>>> lines[("forms", "xq", "title")], lines[("forms", "xq", "fields", "xq1")]
(2, 5)
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Any

from ..errors import Problem
from .model import StudyDefinition

__all__ = ["Locator", "load_study", "parse_text", "toml_lines", "yaml_lines"]

Key = tuple[Hashable, ...]
#: The line (1-based) of a key path, or of its nearest ancestor that has one; None if unknown.
Locator = Callable[[Key], int | None]

_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"|\'[^\']*\'')
_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*$")
_KEY = re.compile(
    r"^\s*((?:[A-Za-z0-9_-]+|\"[^\"]*\"|'[^']*')(?:\s*\.\s*(?:[A-Za-z0-9_-]+|\"[^\"]*\"|'[^']*'))*)\s*="
)


def _split_key(text: str) -> tuple[str, ...]:
    parts = re.findall(r"\"[^\"]*\"|'[^']*'|[^.\s]+", text)
    return tuple(p[1:-1] if p[:1] in "\"'" else p for p in parts)


def toml_lines(text: str) -> dict[Key, int]:
    """The 1-based line of every table header and key of a TOML text, by key path (an array
    of tables ``[[a]]`` numbers its entries ``("a", 0)``, ``("a", 1)``, ...).

    >>> toml_lines('[[visits]]\\nname = "a"\\n[[visits]]\\nname = "b"\\n')[("visits", 1, "name")]
    4
    """
    out: dict[Key, int] = {}
    counts: dict[Key, int] = {}
    table: Key = ()
    depth = 0
    array: Key | None = None  # the key of a multi-line array being read, and its next entry
    entry = 0
    for n, raw in enumerate(text.splitlines(), start=1):
        # strings blanked to the same length (a '#', '=' or bracket in one is not syntax)
        line = _STRINGS.sub(lambda m: m[0][0] + "_" * (len(m[0]) - 2) + m[0][-1], raw)
        line = line.split("#", 1)[0]
        start = 0
        if depth == 0:
            array = None
            header = _HEADER.match(line)
            if header:
                path: Key = _split_key(raw[header.start(2) : header.end(2)])
                if header.group(1) == "[[":
                    i = counts.get(path, 0)
                    counts[path] = i + 1
                    path = (*path, i)
                table = path
                out.setdefault(table, n)
                continue
            key = _KEY.match(raw)
            if key:
                array, entry = (*table, *_split_key(key.group(1))), 0
                out.setdefault(array, n)
                start = key.end()
        elif array is not None and depth == 1 and line.strip() and line.strip()[0] not in "],":
            out.setdefault((*array, entry), n)
        for ch in line[start:]:
            if ch in "[{":
                depth += 1
            elif ch in "]}":
                depth = max(depth - 1, 0)
            elif ch == "," and depth == 1 and array is not None:
                entry += 1
    return out


def yaml_lines(node: Any, path: Key = (), out: dict[Key, int] | None = None) -> dict[Key, int]:
    """The 1-based line of every key of a composed YAML node (``yaml.compose``), by path.

    >>> import yaml
    >>> yaml_lines(yaml.compose("forms:\\n  xq:\\n    title: XQ\\n"))[("forms", "xq", "title")]
    3
    """
    import yaml

    out = {} if out is None else out
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            here = (*path, k.value)
            out.setdefault(here, k.start_mark.line + 1)
            yaml_lines(v, here, out)
    elif isinstance(node, yaml.SequenceNode):
        for i, v in enumerate(node.value):
            out.setdefault((*path, i), v.start_mark.line + 1)
            yaml_lines(v, (*path, i), out)
    return out


def _yaml_duplicates(
    node: Any, path: Key = (), seen: set[int] | None = None
) -> list[tuple[Key, int, str]]:
    """Keys given twice in one YAML mapping (PyYAML keeps the last silently), and aliases
    (``*name``: a definition is written out; an alias could also nest without end)."""
    import yaml

    seen = set() if seen is None else seen
    if id(node) in seen:
        return [(path, node.start_mark.line + 1, "")]
    if isinstance(node, yaml.CollectionNode):
        seen.add(id(node))
    found: list[tuple[Key, int, str]] = []
    if isinstance(node, yaml.MappingNode):
        keys: set[str] = set()
        for k, v in node.value:
            if k.value in keys:
                found.append(((*path, k.value), k.start_mark.line + 1, str(k.value)))
            keys.add(k.value)
            found += _yaml_duplicates(v, (*path, k.value), seen)
    elif isinstance(node, yaml.SequenceNode):
        for i, v in enumerate(node.value):
            found += _yaml_duplicates(v, (*path, i), seen)
    return found


def _locator(lines: dict[Key, int]) -> Locator:
    def locate(path: Key) -> int | None:
        for n in range(len(path), -1, -1):
            if tuple(path[:n]) in lines:
                return lines[tuple(path[:n])]
        return None

    return locate


def parse_text(text: str, file: str, fmt: str) -> tuple[Any, Locator, list[Problem]]:
    """Parse ``text`` (``fmt`` ``"toml"`` or ``"yaml"``): the data, a locator of key paths and
    the problems of the syntax itself (the data is None if it could not be read at all).

    >>> data, locate, problems = parse_text("version: '1'\\nversion: '2'\\n", "s.yaml", "yaml")
    >>> [(p.line, p.column, p.rule) for p in problems]
    [(2, 'version', "'version' is given twice")]
    """
    if fmt == "toml":
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            m = re.search(r"at line (\d+)", str(exc))
            line = int(m.group(1)) if m else None
            rule = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(exc))
            return (
                None,
                _locator({}),
                [Problem(file, None, None, None, f"not TOML: {rule}", line=line)],
            )
        return data, _locator(toml_lines(text)), []
    import yaml

    try:
        loader = yaml.SafeLoader(text)
        try:
            node = loader.get_single_node()
            aliased = node is not None and any(not key for _, _, key in _yaml_duplicates(node))
            data = loader.construct_document(node) if node is not None and not aliased else None
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        return (
            None,
            _locator({}),
            [Problem(file, None, None, None, f"not YAML: {problem}", line=line)],
        )
    found = _yaml_duplicates(node) if node is not None else []
    # an alias's node is its anchor's: its own line is that of its token (in the same order)
    alias_lines = iter(
        t.start_mark.line + 1 for t in yaml.scan(text) if isinstance(t, yaml.AliasToken)
    )
    found = [(p, next(alias_lines, n) if not k else n, k) for p, n, k in found]
    problems = [
        Problem(
            file,
            None,
            ".".join(map(str, path)) or None,
            None,
            f"{key!r} is given twice"
            if key
            else "YAML aliases (*name) are not accepted: write the value out",
            line=line,
        )
        for path, line, key in found
    ]
    if any(not key for _, _, key in found):
        return None, _locator({}), problems
    return data, _locator(yaml_lines(node) if node is not None else {}), problems


def load_study(path: str | Path) -> StudyDefinition:
    """Read and check the definition at ``path`` (``.toml``, ``.yaml`` or ``.yml``); a
    :class:`~xerotrial.study.check.StudyDefinitionError` lists every problem found.

    >>> from xerotrial.study import SEED_STUDY
    >>> load_study(SEED_STUDY).summary()
    'study NCT03874572 version 1.0: 15 forms, 146 fields, 6 visits'
    """
    from .check import StudyDefinitionError, build

    path = Path(path)
    file = str(path)
    fmt = "yaml" if path.suffix.lower() in (".yaml", ".yml") else "toml"
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise StudyDefinitionError(
            file, [Problem(file, None, None, None, f"cannot read it ({exc})")]
        ) from None
    data, locate, problems = parse_text(text, file, fmt)
    return build(data, file, locate, problems)
