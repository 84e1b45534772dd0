"""Shared fixtures: one emulator process for the session (fast timings) and a fresh callback sink per test.

Tests isolate themselves with unique callback URLs (`callback_sink.new_url()`), unique targets and their own
call ids; nothing here resets the emulator between tests.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.callback_sink import CallbackSink
from tests.support.emulator_process import RunningEmulator, running_emulator
from tests.support.storage_fixtures import azurite, storage_names  # noqa: F401  (fixtures for every folder)

# Every simulated duration times 0.05: answer 50 ms, ring timeout 1.5 s, default play 100 ms, DTMF silence 250 ms.
FAST_EMULATOR_ARGS = (
    "--time-scale", "0.05",
    "--callback-backoff-ms", "20",
    "--callback-timeout-seconds", "2",
    "--log-level", "warning",
)  # fmt: skip


@pytest.fixture(scope="session")
def emulator() -> Iterator[RunningEmulator]:
    with running_emulator(*FAST_EMULATOR_ARGS) as running:
        yield running


@pytest.fixture
def callback_sink() -> Iterator[CallbackSink]:
    with CallbackSink() as sink:
        yield sink
