"""Fixtures for the devhost tests: the sample app served by a real `python -m devhost` against Azurite."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.devhost.sample_host import SampleHost, start_sample_host
from tests.support.azurite_process import RunningAzurite


@pytest.fixture(scope="session")
def sample_host(
    azurite: RunningAzurite,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[SampleHost]:
    """The sample app with a function key and a master key configured (keys enforced)."""
    yield from start_sample_host(azurite, tmp_path_factory.mktemp("devhost-keyed"), keys=True)
