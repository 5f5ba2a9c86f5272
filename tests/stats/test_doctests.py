"""Every docstring example in the engine runs and prints what it says."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import xerotrial.stats

MODULES = sorted(m.name for m in pkgutil.iter_modules(xerotrial.stats.__path__,
                                                      "xerotrial.stats."))


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
