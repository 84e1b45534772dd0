"""Hundreds of concurrent calls, and the settings that need their own emulator: the per-number concurrency
limit, eviction after --retention-seconds, parallel delivery across calls, and clean shutdown on SIGTERM."""

from __future__ import annotations

import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from devstack.processes import free_ports
from shared.callautomation.auth import HmacAuth
from tests.support.acs import CALLER_ID, action, create_call, phone, unique_number
from tests.support.emulator_process import running_emulator

CALLS = 300


def test_hundreds_of_concurrent_calls_complete(emulator, callback_sink):
    caller = "+1888" + unique_number()[-7:]
    callback = callback_sink.new_url()
    session = requests.Session()
    session.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=16))
    auth = HmacAuth(emulator.access_key)
    body = {"targets": [phone("+15005550009")],  # answers after 50 ms, hangs up 100 ms later
            "sourceCallerIdNumber": {"value": caller}, "callbackUri": callback}

    def create(_: int) -> str:
        response = session.post(emulator.endpoint + "/calling/callConnections?api-version=2025-05-15",
                                json=None, data=__import__("json").dumps(body).encode(),
                                headers={"Content-Type": "application/json"}, auth=auth, timeout=30)
        assert response.status_code == 201, response.text
        return response.json()["callConnectionId"]

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=16) as pool:
        call_ids = list(pool.map(create, range(CALLS)))
    assert len(set(call_ids)) == CALLS

    callback_sink.wait_for(lambda: len(callback_sink.events(type="CallDisconnected")) >= CALLS, timeout=60)
    elapsed = time.monotonic() - started
    # Delivery is at least once: a callback redelivered after a slow answer is the same event (same id).
    unique = {e["id"]: e for e in callback_sink.events()}.values()
    per_call = Counter(e["data"]["callConnectionId"] for e in unique)
    assert set(per_call) == set(call_ids) and set(per_call.values()) == {4}
    for call_id in call_ids[:20]:
        assert [e["type"].split(".")[-1] for e in callback_sink.events(call_id)] == [
            "CallConnected", "ParticipantsUpdated", "ParticipantsUpdated", "CallDisconnected"]
    stats = emulator.control("GET", "/stats").json()
    assert stats["peakConcurrentCallsByCallerId"][caller] > 10  # they really overlapped
    assert caller not in stats["liveCallsByCallerId"]
    assert elapsed < 60


@pytest.fixture(scope="module")
def tuned():
    with running_emulator("--time-scale", "0.05", "--max-concurrent-calls-per-number", "2",
                          "--retention-seconds", "0.5", "--callback-backoff-ms", "3000",
                          "--log-level", "warning") as running:
        yield running


def test_concurrent_calls_per_number_limit_is_429_8530(tuned, callback_sink):
    caller = "+17775550100"
    body = {"sourceCallerIdNumber": {"value": caller}}
    first = create_call(tuned, callback_sink.new_url(), unique_number(), **body)
    second = create_call(tuned, callback_sink.new_url(), unique_number(), **body)
    third = create_call(tuned, callback_sink.new_url(), unique_number(), **body)
    assert (first.status_code, second.status_code, third.status_code) == (201, 201, 429)
    assert third.json()["error"]["code"] == "8530"
    other_caller = create_call(tuned, callback_sink.new_url(), unique_number())
    assert other_caller.status_code == 201
    action(tuned, first.json()["callConnectionId"], "terminate", None)
    fourth = create_call(tuned, callback_sink.new_url(), unique_number(), **body)
    assert fourth.status_code == 201
    stats = tuned.control("GET", "/stats").json()
    assert stats["peakConcurrentCallsByCallerId"][caller] == 2 and stats["liveCallsByCallerId"][caller] == 2
    for response in (second, fourth, other_caller):
        action(tuned, response.json()["callConnectionId"], "terminate", None)
    assert caller not in tuned.control("GET", "/stats").json()["liveCallsByCallerId"]
    assert CALLER_ID not in tuned.control("GET", "/stats").json()["liveCallsByCallerId"]


def test_ended_calls_are_evicted_but_stay_in_history(tuned, callback_sink):
    call_id = create_call(tuned, callback_sink.new_url(), "+15005550001").json()["callConnectionId"]
    callback_sink.wait_for_event("CallConnected", call_connection_id=call_id)
    action(tuned, call_id, "terminate", None)
    assert tuned.control("GET", f"/calls/{call_id}").status_code == 200
    callback_sink.wait_for(lambda: tuned.control("GET", f"/calls/{call_id}").status_code == 404, timeout=5)
    history = {c["callConnectionId"]: c for c in tuned.control("GET", "/calls/history").json()["value"]}
    assert history[call_id]["state"] == "disconnected"
    assert history[call_id]["endReason"]["subCode"] == 7000


def test_a_slow_webhook_does_not_hold_up_other_calls(tuned, callback_sink):
    dead = f"http://127.0.0.1:{free_ports()[0]}/cb"  # nobody listens there
    stuck = create_call(tuned, dead, "+15005550001").json()["callConnectionId"]  # retries after 3 s backoff
    started = time.monotonic()
    healthy = create_call(tuned, callback_sink.new_url(), "+15005550001").json()["callConnectionId"]
    callback_sink.wait_for_event("CallConnected", call_connection_id=healthy, timeout=2)
    assert time.monotonic() - started < 2
    rows = tuned.control("GET", "/callbacks", params={"callConnectionId": stuck}).json()["value"]
    assert rows[0]["status"] == "pending" and rows[0]["attempts"] == 1
    for call_id in (stuck, healthy):
        action(tuned, call_id, "terminate", None)


def test_sigterm_shuts_down_cleanly_with_calls_in_flight(callback_sink):
    with running_emulator("--time-scale", "1", "--log-level", "info") as running:
        call_id = create_call(running, callback_sink.new_url(), unique_number()).json()["callConnectionId"]
        assert call_id
        started = time.monotonic()
        running.process.terminate()
        assert running.process.wait(timeout=10) == 0
        assert time.monotonic() - started < 5
        assert "shutting down" in running.output_tail()
        assert "Traceback" not in running.output_tail()
