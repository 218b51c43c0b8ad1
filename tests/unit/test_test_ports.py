"""The test labs of parallel workers never share a port with each other or other test labs."""

from __future__ import annotations

import itertools

import pytest

from labkit.runtime import catalog
from tests.conftest import BASE_PORT_OFFSET, FIXED_TEST_OFFSETS, WORKER_STEP

WORKERS = 4  # more than `make test` runs


def lab_ports(offset: int) -> set[int]:
    return {port + offset for spec in catalog.all_services() for port in spec.ports.values()}


def test_catalog_ports_are_known() -> None:
    """The check below is only as good as the port list: every service's ports are in it."""
    assert {"prometheus", "gateway", "jaeger", "loki"} <= {s.name for s in catalog.all_services()}
    assert len(lab_ports(0)) >= 10


@pytest.mark.parametrize(("a", "b"), list(itertools.combinations(
    [BASE_PORT_OFFSET + WORKER_STEP * w for w in range(WORKERS)] + list(FIXED_TEST_OFFSETS), 2)))
def test_no_two_test_labs_share_a_port(a: int, b: int) -> None:
    assert not lab_ports(a) & lab_ports(b), (a, b, sorted(lab_ports(a) & lab_ports(b)))


def test_every_test_lab_port_is_below_the_ephemeral_range() -> None:
    """Client sockets take ports from 32768 up: a lab port there could be taken first."""
    offsets = [BASE_PORT_OFFSET + WORKER_STEP * (WORKERS - 1), *FIXED_TEST_OFFSETS]
    assert max(max(lab_ports(o)) for o in offsets) < 32768
