"""Container tests run only under `make compose-test`, which sets up the engine, Compose and the images.

They build nothing themselves and never fall back to something else: without the variables that
`make compose-test` sets, every test here is skipped with that reason.
"""

from __future__ import annotations

import pytest

from tests.containers import stack


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if stack.engine() and stack.compose_command():
        return
    skip = pytest.mark.skip(reason="container tests run with `make compose-test` (engine, Compose, images)")
    for item in items:
        if "tests/containers/" in str(item.fspath):
            item.add_marker(skip)
