"""The demo's calibration (``tools/demo_calibration``) is a maintainer's tool: slow tests."""

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "demo_calibration" in item.nodeid:
            item.add_marker(pytest.mark.slow)
