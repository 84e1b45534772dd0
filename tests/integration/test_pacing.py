"""Pacing against Azurite: the caps and the start rate hold with many threads and several processes taking slots
from one table at once, leases lapse, and any instance can release what another took.

This module is also the worker the contention test runs in other processes:
    python -m tests.integration.test_pacing <table> <scope> <threads>
with the storage connection string in PACING_CONNECTION_STRING: it says "ready", reads the load (JSON) from stdin
and prints its records (JSON).
"""

from __future__ import annotations

import itertools
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
    with _table(azurite.connection_string, name) as table:
        Pacer(table).ensure_table()
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


def _hammer(pacer: Pacer, releaser: Pacer, scope: str, load: dict, name: str) -> list[dict]:
    """Acquire, hold for a while, release, until time is up; one record per grant. Every other grant is released
    by holder id through another Pacer, as when a call's end is seen by another instance."""
    records = []
    time.sleep(max(0.0, load["startAt"] - time.time()))
    deadline = load["startAt"] + load["seconds"]
    while time.time() < deadline:
        holder = f"{name}-{uuid.uuid4().hex[:8]}"
        answer = pacer.acquire(
            holder,
            scope,
            list(CALLERS),
            max_concurrent=GLOBAL_CAP,
            per_caller_id=CALLERS,
            calls_per_second=load["rate"],
        )
        if isinstance(answer, Wait):
            time.sleep(min(answer.seconds, 0.2) + random.uniform(0, 0.01))
            continue
        began = time.time()
        time.sleep(random.uniform(*load["hold"]))
        ended = time.time()
        freed = releaser.release_holder(holder, scope) if len(records) % 2 else pacer.release(answer)
        records.append(
            {
                "worker": name,
                "callerId": answer.caller_id,
                "startedAt": answer.started_at,
                "began": began,
                "ended": ended,
                "freed": freed,
            }
        )
    return records


def _run_threads(connection_string: str, table: str, scope: str, load: dict, threads: int, name: str) -> list[dict]:
    results: list[dict] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def work(index: int) -> None:
        with _table(connection_string, table) as mine, _table(connection_string, table) as other:
            try:
                records = _hammer(Pacer(mine, busy_wait=FAST_BUSY_WAIT), Pacer(other), scope, load, f"{name}.{index}")
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


def _run_everywhere(connection_string: str, table: str, scope: str, load: dict) -> list[dict]:
    """THREADS_HERE threads in this process and THREADS_PER_PROCESS in each of PROCESSES others, all on one
    scope, starting together once every process has said it is ready."""
    env = {**os.environ, "PACING_CONNECTION_STRING": connection_string}
    command = [sys.executable, "-m", "tests.integration.test_pacing", table, scope, str(THREADS_PER_PROCESS)]
    processes = [
        subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        for _ in range(PROCESSES)
    ]
    try:
        for process in processes:
            assert process.stdout.readline() == "ready\n"  # imported and connected: slow on a busy machine
        load = {**load, "startAt": time.time() + 0.2}
        for process in processes:
            process.stdin.write(json.dumps(load) + "\n")
            process.stdin.flush()
        records = _run_threads(connection_string, table, scope, load, THREADS_HERE, "main")
        for process in processes:
            output, _ = process.communicate(timeout=30)
            assert process.returncode == 0
            from_process = json.loads(output)
            assert from_process, "no grants in another process"
            records += from_process
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    return records


def _max_overlap(intervals: list[tuple[float, float]]) -> int:
    # An interval ending at the instant another begins does not overlap it: ends sort before starts.
    events = sorted([(began, 1) for began, _ in intervals] + [(ended, -1) for _, ended in intervals])
    live = peak = 0
    for _, change in events:
        live += change
        peak = max(peak, live)
    return peak


# Each interval runs from just after acquire returned to just before release was called: inside the time the
# slots were really held, so overlapping intervals mean overlapping leases.
# "caps": long calls and no rate limit, so the slots are full most of the time and every free one is raced for;
# "rate": short calls and a rate the workers would beat without it, so every start is raced for.
LOADS = {"caps": {"rate": math.inf, "hold": (0.2, 0.4)}, "rate": {"rate": 8.0, "hold": (0.0, 0.03)}}


@pytest.mark.parametrize("kind", LOADS)
def test_limits_hold_across_threads_and_processes(azurite, table_name, new_pacer, kind):
    scope = f"{kind}-{uuid.uuid4().hex[:8]}"
    load = {**LOADS[kind], "seconds": CONTENTION_SECONDS}
    records = _run_everywhere(azurite.connection_string, table_name, scope, load)

    assert all(record["freed"] == 2 for record in records)  # each release freed exactly its own two slots
    assert all(r["startedAt"] <= r["began"] for r in records)
    peak = _max_overlap([(r["began"], r["ended"]) for r in records])
    assert peak <= GLOBAL_CAP
    for caller_id, cap in CALLERS.items():
        assert _max_overlap([(r["began"], r["ended"]) for r in records if r["callerId"] == caller_id]) <= cap
    starts = sorted(r["startedAt"] for r in records)
    if kind == "caps":
        assert peak >= GLOBAL_CAP - 1, peak  # the caps were really contended
        assert {r["callerId"] for r in records} == set(CALLERS)
    else:
        rate = load["rate"]
        assert len(records) >= rate * CONTENTION_SECONDS * 0.4, len(records)  # the rate was what held them back
        assert all(later - earlier >= 1 / rate - 1e-6 for earlier, later in itertools.pairwise(starts))
        for window in (0.5, 1.0, 2.0):
            most = max(sum(1 for s in starts if first <= s < first + window) for first in starts)
            assert most <= math.ceil(rate * window) + 1, (window, most)
    assert set(new_pacer().busy(scope).values()) == {0}  # everything was given back


# -- leases and releases --------------------------------------------------------------------------------------------


def test_release_frees_the_slots_and_a_second_release_is_harmless(new_pacer):
    pacer = new_pacer()
    scope = "s-" + uuid.uuid4().hex[:8]
    grant = _acquire(pacer, "call-1", scope, max_concurrent=1)
    assert isinstance(grant, Grant)
    assert grant.slots[1] == (scope, "slot-global-000")
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


def test_release_of_a_grant_frees_exactly_its_slots(new_pacer, azurite, table_name):
    pacer = new_pacer()
    scope = "s-" + uuid.uuid4().hex[:8]
    grant = _acquire(pacer, "leg-a", scope)
    assert isinstance(grant, Grant)
    # A second pair for the same holder, as a duplicate delivery racing the first could leave (rows above the
    # caps, so they cannot be the grant's own).
    with _table(azurite.connection_string, table_name) as table:
        for rk in ("slot-global-900", "slot-caller-+15550000001-900"):
            table.upsert_entity({"PartitionKey": scope, "RowKey": rk, "holder": "leg-a", "expiresAt": time.time() + 60})
    assert pacer.release(grant) == 2
    assert pacer.busy(scope)[GLOBAL] == 1
    assert pacer.busy(scope)["+15550000001"] == 1
    assert new_pacer().release_holder("leg-a", scope) == 2
    assert set(pacer.busy(scope).values()) == {0}


def test_expired_leases_are_reclaimed_and_the_old_holder_cannot_free_them(new_pacer):
    clock = FakeClock()
    pacer = new_pacer(clock=clock, lease_seconds=60)
    scope = "s-" + uuid.uuid4().hex[:8]
    one_number = {"+15553330001": 1}
    old = _acquire(pacer, "crashed", scope, one_number, max_concurrent=1)
    assert isinstance(old, Grant)
    assert old.expires_at == clock.now + 60
    clock.advance(59)
    assert isinstance(_acquire(pacer, "next", scope, one_number, max_concurrent=1), Wait)

    clock.advance(2)  # the lease has lapsed: its instance died and the end was never seen
    new = _acquire(pacer, "next", scope, one_number, max_concurrent=1)
    assert isinstance(new, Grant)
    assert new.slots == old.slots
    assert pacer.release(old) == 0  # late: the slots are someone else's now
    assert pacer.release_holder("crashed", scope) == 0
    assert isinstance(_acquire(pacer, "third", scope, one_number, max_concurrent=1), Wait)
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
        ("leg", {"+1#2": 1}, {}, "caller id '\\+1#2' contains a character"),
    ],
)
def test_bad_arguments_are_refused(new_pacer, holder, callers, limits, message):
    with pytest.raises(ValueError, match=message):
        _acquire(new_pacer(), holder, "scope", callers, **limits)


def test_a_caller_id_without_a_cap_is_refused(new_pacer):
    with pytest.raises(ValueError, match="no cap for caller id '\\+2'"):
        new_pacer().acquire("leg", "scope", ["+1", "+2"], max_concurrent=1, per_caller_id={"+1": 1}, calls_per_second=1)


if __name__ == "__main__":  # the worker other processes run for the contention tests
    table_arg, scope_arg, threads_arg = sys.argv[1:4]
    with _table(os.environ["PACING_CONNECTION_STRING"], table_arg) as warm_up:
        warm_up.get_table_access_policy()  # connected and every import done before saying so
    print("ready", flush=True)
    load_arg = json.loads(sys.stdin.readline())
    found = _run_threads(
        os.environ["PACING_CONNECTION_STRING"], table_arg, scope_arg, load_arg, int(threads_arg), "process"
    )
    print(json.dumps(found))
