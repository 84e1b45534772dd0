"""Pacing against Azurite: the caps and the start rate hold with many threads and several processes taking slots
from one table at once, leases lapse, and any instance can release what another took.

This module is also the worker the contention test runs in other processes:
    python -m tests.integration.test_pacing <table> <scope> <start at> <seconds> <threads> <out file>
with the storage connection string in PACING_CONNECTION_STRING.
"""

from __future__ import annotations

import json
import math
import os
import random
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
from azure.data.tables import TableClient

from shared.pacing import GLOBAL, Grant, Pacer, Wait

REPO_ROOT = Path(__file__).resolve().parents[2]
CALLERS = {"+15550000001": 2, "+15550000002": 2, "+15550000003": 1}
GLOBAL_CAP = 4  # below the callers' sum (5), so both kinds of cap bind
RATE = 20.0  # starts per second
HOLD = (0.08, 0.25)  # seconds a "call" lasts
CONTENTION_SECONDS = 4.0
THREADS_HERE = 8
PROCESSES = 2
THREADS_PER_PROCESS = 3
FAST_BUSY_WAIT = (0.01, 0.04)


class FakeClock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def _table(connection_string: str, name: str) -> TableClient:
    return TableClient.from_connection_string(connection_string, table_name=name)


@pytest.fixture
def table_name(azurite, storage_names) -> str:
    name = storage_names.table("pacing")
    Pacer(_table(azurite.connection_string, name)).ensure_table()
    return name


@pytest.fixture
def new_pacer(azurite, table_name):
    """Pacers over their own TableClients: each stands for another instance of the app."""
    clients: list[TableClient] = []

    def make(**options) -> Pacer:
        clients.append(_table(azurite.connection_string, table_name))
        options.setdefault("busy_wait", FAST_BUSY_WAIT)
        return Pacer(clients[-1], **options)

    yield make
    for client in clients:
        client.close()


def _acquire(pacer: Pacer, holder: str, scope: str, callers=CALLERS, **overrides) -> Grant | Wait:
    limits = {"max_concurrent": GLOBAL_CAP, "per_caller_id": callers, "calls_per_second": math.inf}
    limits.update(overrides)
    return pacer.acquire(holder, scope, list(callers), **limits)


# -- contention -----------------------------------------------------------------------------------------------------


def _hammer(pacer: Pacer, releaser: Pacer, scope: str, start_at: float, seconds: float, name: str) -> list[dict]:
    """Acquire, hold briefly, release, until time is up; one record per grant. Every other grant is released by
    holder id through another Pacer, as when a call's end is seen by another instance."""
    records = []
    time.sleep(max(0.0, start_at - time.time()))
    deadline = start_at + seconds
    while time.time() < deadline:
        holder = f"{name}-{uuid.uuid4().hex[:8]}"
        answer = pacer.acquire(
            holder, scope, list(CALLERS), max_concurrent=GLOBAL_CAP, per_caller_id=CALLERS, calls_per_second=RATE
        )
        if isinstance(answer, Wait):
            time.sleep(min(answer.seconds, 0.2))
            continue
        began = time.time()
        time.sleep(random.uniform(*HOLD))
        ended = time.time()
        if len(records) % 2:
            freed = releaser.release_holder(holder, scope)
        else:
            freed = pacer.release(answer)
        records.append(
            {"worker": name, "holder": holder, "callerId": answer.caller_id, "startedAt": answer.started_at,
             "began": began, "ended": ended, "freed": freed}  # fmt: skip
        )
    return records


def _run_threads(connection_string: str, table: str, scope: str, start_at: float, seconds: float,
                 threads: int, name: str) -> list[dict]:  # fmt: skip
    results: list[dict] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def work(index: int) -> None:
        with _table(connection_string, table) as mine, _table(connection_string, table) as other:
            try:
                records = _hammer(Pacer(mine, busy_wait=FAST_BUSY_WAIT), Pacer(other), scope, start_at, seconds,
                                  f"{name}.{index}")  # fmt: skip
            except BaseException as error:
                errors.append(error)
                raise
            with lock:
                results.extend(records)

    workers = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    if errors:
        raise errors[0]
    return results


def _max_overlap(intervals: list[tuple[float, float]]) -> int:
    # An interval ending at the instant another begins does not overlap it: ends sort before starts.
    events = sorted([(began, 1) for began, _ in intervals] + [(ended, -1) for _, ended in intervals])
    live = peak = 0
    for _, change in events:
        live += change
        peak = max(peak, live)
    return peak


def test_caps_and_rate_hold_across_threads_and_processes(azurite, table_name, new_pacer, tmp_path):
    scope = "campaign-" + uuid.uuid4().hex[:8]
    start_at = time.time() + 2.0  # time for the other processes to import and connect
    env = {**os.environ, "PACING_CONNECTION_STRING": azurite.connection_string}
    outputs = [tmp_path / f"process-{i}.json" for i in range(PROCESSES)]
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.integration.test_pacing", table_name, scope, str(start_at),
             str(CONTENTION_SECONDS), str(THREADS_PER_PROCESS), str(output)],
            cwd=REPO_ROOT, env=env,
        )  # fmt: skip
        for output in outputs
    ]
    try:
        records = _run_threads(azurite.connection_string, table_name, scope, start_at, CONTENTION_SECONDS,
                               THREADS_HERE, "main")  # fmt: skip
        for process in processes:
            assert process.wait(timeout=30) == 0
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    for output in outputs:
        from_process = json.loads(output.read_text())
        assert from_process, f"{output.name} got no grants"
        records += from_process

    assert len(records) >= 30, len(records)
    assert all(record["freed"] == 2 for record in records)  # each release freed exactly its two slots
    assert _max_overlap([(r["began"], r["ended"]) for r in records]) <= GLOBAL_CAP
    for caller_id, cap in CALLERS.items():
        mine = [(r["began"], r["ended"]) for r in records if r["callerId"] == caller_id]
        assert mine, f"no call used {caller_id}"
        assert _max_overlap(mine) <= cap, caller_id

    starts = sorted(r["startedAt"] for r in records)
    assert all(later - earlier >= 1 / RATE - 1e-6 for earlier, later in zip(starts, starts[1:], strict=False))
    for window in (0.25, 1.0, 2.0):
        most = max(sum(1 for s in starts if first <= s < first + window) for first in starts)
        assert most <= math.ceil(RATE * window) + 1, (window, most)
    assert all(r["startedAt"] <= r["began"] for r in records)

    assert set(new_pacer().busy(scope).values()) == {0}  # everything was given back


# -- leases and releases --------------------------------------------------------------------------------------------


def test_release_frees_the_slots_and_a_second_release_is_harmless(new_pacer):
    pacer = new_pacer()
    scope = "s-" + uuid.uuid4().hex[:8]
    grant = _acquire(pacer, "call-1", scope, max_concurrent=1)
    assert isinstance(grant, Grant)
    assert grant.slots[1] == (f"{scope}-slots-{GLOBAL}", "000")
    assert isinstance(_acquire(pacer, "call-2", scope, max_concurrent=1), Wait)

    assert pacer.release(grant) == 2
    assert pacer.release(grant) == 0
    assert pacer.release_holder("call-1", scope) == 0
    assert pacer.busy(scope)[GLOBAL] == 0
    assert isinstance(_acquire(pacer, "call-2", scope, max_concurrent=1), Grant)


def test_another_instance_releases_by_holder_id(new_pacer):
    starter, ender = new_pacer(), new_pacer()
    scope = "s-" + uuid.uuid4().hex[:8]
    assert isinstance(_acquire(starter, "leg-a", scope, max_concurrent=1), Grant)
    assert isinstance(_acquire(starter, "leg-b", scope, max_concurrent=1), Wait)

    assert ender.release_holder("leg-a", scope, list(CALLERS)) == 2
    assert ender.release_holder("leg-a", scope) == 0
    assert isinstance(_acquire(starter, "leg-b", scope, max_concurrent=1), Grant)


def test_release_by_holder_finds_slots_without_the_holder_row(new_pacer, azurite, table_name):
    pacer = new_pacer()
    scope = "s-" + uuid.uuid4().hex[:8]
    grant = _acquire(pacer, "leg-a", scope)
    assert isinstance(grant, Grant)
    with _table(azurite.connection_string, table_name) as table:
        table.delete_entity(partition_key=f"{scope}-holders", row_key="leg-a")  # as if the acquire died there
    assert new_pacer().release_holder("leg-a", scope) == 2
    assert set(pacer.busy(scope).values()) == {0}


def test_expired_leases_are_reclaimed_and_the_old_holder_cannot_free_them(new_pacer):
    clock = FakeClock()
    pacer = new_pacer(clock=clock, lease_seconds=60)
    scope = "s-" + uuid.uuid4().hex[:8]
    old = _acquire(pacer, "crashed", scope, max_concurrent=1)
    assert isinstance(old, Grant)
    assert old.expires_at == clock.now + 60
    clock.advance(59)
    assert isinstance(_acquire(pacer, "next", scope, max_concurrent=1), Wait)

    clock.advance(2)  # the lease has lapsed: its instance died and the end was never seen
    new = _acquire(pacer, "next", scope, max_concurrent=1)
    assert isinstance(new, Grant)
    assert new.slots[1] == old.slots[1]
    assert pacer.release(old) == 0  # late: the slot is someone else's now
    assert pacer.release_holder("crashed", scope) == 0
    assert isinstance(_acquire(pacer, "third", scope, max_concurrent=1), Wait)
    assert pacer.release(new) == 2


def test_renew_keeps_a_long_call_s_slots(new_pacer):
    clock = FakeClock()
    pacer = new_pacer(clock=clock, lease_seconds=60)
    scope = "s-" + uuid.uuid4().hex[:8]
    assert isinstance(_acquire(pacer, "long", scope, max_concurrent=1), Grant)
    clock.advance(50)
    assert pacer.renew("long", scope)
    clock.advance(50)  # past the first lease, within the renewed one
    assert isinstance(_acquire(pacer, "other", scope, max_concurrent=1), Wait)
    assert not pacer.renew("nobody", scope)


def test_the_same_holder_gets_the_same_grant(new_pacer):
    pacer = new_pacer()
    scope = "s-" + uuid.uuid4().hex[:8]
    first = _acquire(pacer, "leg-a", scope, calls_per_second=1.0)
    again = _acquire(new_pacer(), "leg-a", scope, calls_per_second=1.0)  # a redelivered message, elsewhere
    assert isinstance(first, Grant)
    assert isinstance(again, Grant)
    assert again.slots == first.slots
    assert again.started_at == first.started_at
    assert pacer.busy(scope)[GLOBAL] == 1


# -- caps, rate and spreading ---------------------------------------------------------------------------------------


def test_calls_spread_over_the_caller_ids(new_pacer):
    pacer = new_pacer()
    scope = "s-" + uuid.uuid4().hex[:8]
    callers = {"+15551110001": 2, "+15551110002": 2, "+15551110003": 2}
    grants = [_acquire(pacer, f"leg-{i}", scope, callers, max_concurrent=6) for i in range(3)]
    assert all(isinstance(grant, Grant) for grant in grants)
    assert {grant.caller_id for grant in grants} == set(callers)  # one each before any gets a second


def test_per_caller_caps_bind_before_the_global_cap(new_pacer):
    pacer = new_pacer()
    scope = "s-" + uuid.uuid4().hex[:8]
    callers = {"+15552220001": 1, "+15552220002": 1}
    grants = [_acquire(pacer, f"leg-{i}", scope, callers, max_concurrent=10) for i in range(3)]
    assert [isinstance(grant, Grant) for grant in grants] == [True, True, False]
    assert grants[2].reason == "slots"
    assert FAST_BUSY_WAIT[0] <= grants[2].seconds <= FAST_BUSY_WAIT[1]
    assert pacer.busy(scope) == {GLOBAL: 2, "+15552220001": 1, "+15552220002": 1}
    # One number at cap zero is simply not used.
    only_second = _acquire(pacer, "leg-x", "t-" + scope, {"+15552220001": 0, "+15552220002": 1})
    assert isinstance(only_second, Grant)
    assert only_second.caller_id == "+15552220002"


def test_the_rate_makes_callers_wait_without_keeping_slots(new_pacer):
    clock = FakeClock()
    pacer = new_pacer(clock=clock)
    scope = "s-" + uuid.uuid4().hex[:8]
    assert isinstance(_acquire(pacer, "a", scope, max_concurrent=2, calls_per_second=2.0), Grant)
    wait = _acquire(pacer, "b", scope, max_concurrent=2, calls_per_second=2.0)
    assert wait == Wait(0.5, "rate")
    clock.advance(0.5)
    assert isinstance(_acquire(pacer, "c", scope, max_concurrent=2, calls_per_second=2.0), Grant)
    clock.advance(0.5)
    # "b" kept nothing: the two slots are a's and c's, so a fourth call waits for a slot, not the rate.
    assert _acquire(pacer, "d", scope, max_concurrent=2, calls_per_second=2.0).reason == "slots"


def test_scopes_do_not_share_slots(new_pacer):
    pacer = new_pacer()
    scope = "s-" + uuid.uuid4().hex[:8]
    assert isinstance(_acquire(pacer, "a", scope + "-one", max_concurrent=1), Grant)
    assert isinstance(_acquire(pacer, "b", scope + "-two", max_concurrent=1), Grant)
    assert isinstance(_acquire(pacer, "c", scope + "-one", max_concurrent=1), Wait)


@pytest.mark.parametrize(
    ("holder", "callers", "limits", "message"),
    [
        ("leg", {"+1": 1}, {"max_concurrent": -1}, "max_concurrent must be an integer"),
        ("leg", {"+1": 1}, {"calls_per_second": 0}, "calls_per_second must be > 0"),
        ("leg/1", {"+1": 1}, {}, "holder 'leg/1' contains a character"),
        ("", {"+1": 1}, {}, "holder must be a non-empty string"),
        ("leg", {}, {}, "caller_ids must be a non-empty list"),
        ("leg", {"global": 1}, {}, "caller id may not be 'global'"),
    ],
)
def test_bad_arguments_are_refused(new_pacer, holder, callers, limits, message):
    with pytest.raises(ValueError, match=message):
        _acquire(new_pacer(), holder, "scope", callers, **limits)


def test_a_caller_id_without_a_cap_is_refused(new_pacer):
    with pytest.raises(ValueError, match="no cap for caller id '\\+2'"):
        new_pacer().acquire("leg", "scope", ["+1", "+2"], max_concurrent=1, per_caller_id={"+1": 1},
                            calls_per_second=1)  # fmt: skip


if __name__ == "__main__":  # the worker another process runs for the contention test
    table_arg, scope_arg, start_arg, seconds_arg, threads_arg, out_arg = sys.argv[1:7]
    found = _run_threads(os.environ["PACING_CONNECTION_STRING"], table_arg, scope_arg, float(start_arg),
                         float(seconds_arg), int(threads_arg), f"process{os.getpid()}")  # fmt: skip
    Path(out_arg).write_text(json.dumps(found))
