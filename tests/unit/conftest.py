"""Fixtures shared by the unit tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.unit.fake_gateway import FakeGateway


@pytest.fixture
def fake_gateway() -> Iterator[FakeGateway]:
    """A fake gateway (chat and fault endpoints) on a free loopback port, closed afterwards."""
    with FakeGateway() as fake:
        yield fake
