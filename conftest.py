"""Root pytest configuration: docstring examples (``--doctest-modules``) run in a fresh folder."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _doctests_in_a_fresh_folder(request: pytest.FixtureRequest, tmp_path, monkeypatch) -> None:
    """A docstring example that writes files (a store, a CSV) writes them in ``tmp_path``."""
    if type(request.node).__name__ == "DoctestItem":
        monkeypatch.chdir(tmp_path)
