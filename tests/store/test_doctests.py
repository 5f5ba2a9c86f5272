"""The examples in the store's docstrings run."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["", ".forms", ".schema", ".engine", ".errors", ".audit", ".migrate", ".importer",
           ".edit", ".export", ".redcap", ".inputs"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    module = importlib.import_module(f"xerotrial.store{name}")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
