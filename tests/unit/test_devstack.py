"""The one launcher (devstack.processes) and `make run`'s quiet log."""

from __future__ import annotations

import os
import sys
import time

import pytest

from devstack.__main__ import parse_args, shown
from devstack.processes import free_ports, start

PYTHON = sys.executable


def test_a_child_is_ready_on_its_log_line_and_stopped_with_its_own_children():
    script = ("import subprocess, sys, time; child = subprocess.Popen([sys.executable, '-c', 'import time; "
              "time.sleep(60)']); print('ready', child.pid, flush=True); time.sleep(60)")
    child = start("sleeper", [PYTHON, "-c", script])
    grandchild = int(child.wait_for_line(r"ready (\d+)", timeout=20).group(1))

    assert child.stop(timeout=5) != 0  # ended by SIGTERM
    deadline = time.monotonic() + 10  # the grandchild was in the same process group: it got the signal too
    while _alive(grandchild):
        assert time.monotonic() < deadline, "the grandchild outlived the stop"
        time.sleep(0.05)


def test_a_child_that_ignores_sigterm_is_killed_after_the_timeout():
    script = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN);print('up', flush=True); time.sleep(9)"
    child = start("stubborn", [PYTHON, "-c", script])
    child.wait_for_output("up", timeout=20)

    assert child.stop(timeout=0.5) == -9


def test_waiting_fails_early_with_the_output_when_the_child_exits():
    child = start("quitter", [PYTHON, "-c", "print('bad config'); raise SystemExit(3)"])
    with pytest.raises(RuntimeError, match=r"quitter exited with 3:\nbad config"):
        child.wait_for_line("never said", timeout=20)
    with pytest.raises(RuntimeError, match="exited with 3"):
        child.wait_for_port(free_ports()[0], timeout=20)


def test_free_ports_differ():
    ports = free_ports(3)
    assert len(set(ports)) == 3


def test_the_stack_log_is_short_unless_verbose():
    assert parse_args([]).verbose is False and parse_args(["--verbose"]).verbose is True
    event = "CallLegStateChanged      leg abc  {\"state\": \"established\"}"
    info = "[2026-12-02 07:12:38,417] Executing 'Functions.create_call' (Reason='This function was programmatically"
    assert shown("subscriber", event, verbose=False)
    assert not shown("app", info, verbose=False) and shown("app", info, verbose=True)
    assert not shown("app", "  create_call: [POST] http://127.0.0.1:7071/calls", verbose=False)  # the banner has it
    assert not shown("acs", "2026-12-02 07:12:38,417 INFO emulator.calls: call created", verbose=False)
    for trouble in ("2026-12-02 07:12:38,417 WARNING emulator: callback to x failed",
                    "[2026-12-02 07:12:38,417] Executed 'Functions.callback' (Failed, Id=1, Duration=3ms)",
                    "Traceback (most recent call last):", '  File "x.py", line 3, in f',
                    "    raise RuntimeError('boom')", "RuntimeError: boom",
                    "[2026-12-02 07:12:38,417] Message 1 moved to create-call-poison: bad"):
        assert shown("app", trouble, verbose=False), trouble


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (ended, not yet reaped by init) counts as gone
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def test_the_stack_log_shows_the_apps_spans_when_asked_for():
    """`OTEL_TRACES_EXPORTER=console make run`: the app prints one line a span, and the short log keeps them."""
    assert shown("app", 'span {"name": "create_call", "kind": "SERVER", "attributes": {}}', verbose=False)
    assert not shown("app", 'spanning {"name": "create_call"}', verbose=False)
