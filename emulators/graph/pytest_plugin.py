"""pytest fixtures: a session-wide emulator with the demo tenant, reset per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from emulators.graph.testing import GraphEmulator


@pytest.fixture(scope="session")
def graph_emulator() -> Iterator[GraphEmulator]:
    with GraphEmulator() as emulator:
        yield emulator


@pytest.fixture
def graph_emulator_reset(graph_emulator: GraphEmulator) -> GraphEmulator:
    """The session emulator, reset to the demo tenant (state, clock, config, faults, counters)."""
    graph_emulator.reset()
    return graph_emulator
