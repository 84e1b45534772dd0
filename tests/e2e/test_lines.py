"""Every ACS line busy, as ACS counts them: caps per caller number shared by campaigns and single calls, lines
handed straight on, and leases that a long call keeps.

A stack of its own: an emulator that refuses a third live call per number (429/8530, as ACS does by default), and
the app configured with ACS's default of 2 lines per number, a short lease and quick reconciliation.
"""

from __future__ import annotations

import itertools
import random
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import datetime

import pytest
from azure.data.tables import TableServiceClient

from devstack.processes import free_ports
from shared.campaigns.store import CampaignStore
from tests.conftest import FAST_EMULATOR_ARGS
from tests.e2e.campaign_support import emulator_calls, peak_overlap, wait_until_done
from tests.e2e.conftest import REPO_ROOT, Stack
from tests.support.azurite_process import running_azurite
from tests.support.devhost_process import running_devhost
from tests.support.emulator_process import running_emulator

POOL = [f"+1800555{n:04d}" for n in range(201, 206)]  # five caller numbers, two lines each
PLAN = {"prompt": {"text": "The power is back in your area."}}
LEASE_SECONDS = 8
_PREFIXES = iter(random.Random().sample(range(1000), 1000))


@pytest.fixture(scope="module")
def lines_stack(stack) -> Iterator[Stack]:
    with ExitStack() as running:
        acs_limit = ("--max-concurrent-calls-per-number", "2")
        emulator = running.enter_context(running_emulator(*FAST_EMULATOR_ARGS, *acs_limit))
        azurite = running.enter_context(running_azurite())
        port = free_ports()[0]
        env = {
            **stack.app_env,
            "AzureWebJobsStorage": azurite.connection_string,
            "ACS_CONNECTION_STRING": emulator.connection_string,
            "ACS_RESOURCE_ID": emulator.resource_id,
            "ACS_CALLBACK_ISSUER": emulator.issuer,
            "ACS_CALLBACK_JWKS_URL": f"{emulator.endpoint}/calling/keys",
            "CALLBACK_BASE_URL": f"http://127.0.0.1:{port}",
            "CALLER_ID_MAX_CALLS": "2",  # ACS's default
            "PACING_LEASE_SECONDS": str(LEASE_SECONDS),  # short: only renewal keeps a long call's line
            "RECONCILE_AFTER_SECONDS": "1",
        }
        app = running.enter_context(running_devhost(REPO_ROOT, port=port, env=env))
        yield Stack(app.base_url, app, emulator, azurite, stack.subscriber_url, stack.table_name, env, port, running)


def _campaigns(lines_stack: Stack) -> CampaignStore:
    service = TableServiceClient.from_connection_string(lines_stack.azurite.connection_string)
    return CampaignStore(service.get_table_client("campaigns"), service.get_table_client("recipients"))


def _callees(lines_stack: Stack, count: int, script: dict) -> list[str]:
    prefix = f"+1313{next(_PREFIXES):03d}"  # never the same twice in a run: another test's calls would count
    numbers = [f"{prefix}{index:04d}" for index in range(count)]
    for number in numbers:
        assert lines_stack.emulator.control("PUT", f"/callees/{number}", json=script).status_code == 200
    return numbers


def _campaign(lines_stack: Stack, recipients: list[str], cap: int, **settings) -> str:
    body = {
        "plan": PLAN,
        "callerIds": POOL,
        "pacing": {"maxConcurrentCalls": cap, "maxConcurrentCallsPerCallerId": 2, "callsPerSecond": 50},
        "retry": {"maxAttempts": 1, "delaySeconds": 1, "retryOn": []},
        "recipients": recipients,
        **settings,
    }
    answer = lines_stack.post("/campaigns", body)
    assert answer.status_code == 201, answer.text
    return answer.json()["campaignId"]


@pytest.mark.timeout(240)
def test_two_campaigns_and_single_calls_share_each_numbers_two_lines_without_one_refusal(lines_stack):
    campaigns = _campaigns(lines_stack)
    first = _callees(lines_stack, 40, {"answer": "answer"})  # the plan plays its prompt, then the app hangs up
    second = _callees(lines_stack, 40, {"answer": "answer"})
    singles = _callees(lines_stack, 6, {"answer": "answer", "hangUpAfterMs": 3000})

    a = _campaign(lines_stack, first, cap=10)
    b = _campaign(lines_stack, second, cap=10)
    single_answers = []

    def place_singles() -> None:
        for number in singles:  # single calls on the same numbers, refused with LinesBusy when all are busy
            answer = lines_stack.post("/calls", {"targets": [number], "alternateCallerId": POOL[0]})
            single_answers.append(answer.status_code)
            time.sleep(0.5)

    caller = threading.Thread(target=place_singles)
    caller.start()
    done_a = wait_until_done(campaigns, a, len(first), timeout=180)
    done_b = wait_until_done(campaigns, b, len(second), timeout=180)
    caller.join()

    assert {r.outcome for r in done_a + done_b} == {"answered"}  # everyone heard the whole message
    creates = lines_stack.emulator.control("GET", "/requests", params={"operation": "createCall", "limit": 5000})
    statuses = [r["status"] for r in creates.json()["value"]]
    assert 429 not in statuses  # ACS never had to refuse a call: the app kept to the lines ACS allows
    assert set(single_answers) <= {200, 429} and 200 in single_answers
    calls = emulator_calls(lines_stack.emulator, set(first + second + singles))
    for caller_id in POOL:
        assert peak_overlap([c for c in calls if c["callerId"] == caller_id]) <= 2
    assert peak_overlap(calls) >= 8  # both campaigns together kept most of the ten lines busy


@pytest.mark.timeout(120)
def test_a_freed_line_goes_straight_to_the_next_recipient(lines_stack):
    campaigns = _campaigns(lines_stack)
    recipients = _callees(lines_stack, 4, {"answer": "answer", "hangUpAfterMs": 1000})

    campaign_id = _campaign(lines_stack, recipients, cap=1, callerIds=POOL[:1])
    done = wait_until_done(campaigns, campaign_id, len(recipients), timeout=90)

    legs = [lines_stack.get_call(r.call_leg_id) for r in done]
    calls = sorted(emulator_calls(lines_stack.emulator, set(recipients)), key=lambda c: c["createdAt"])
    assert len(calls) == 4 and peak_overlap(calls) == 1
    gaps = [
        (datetime.fromisoformat(later["createdAt"]) - datetime.fromisoformat(earlier["endedAt"])).total_seconds()
        for earlier, later in itertools.pairwise(calls)
    ]
    # one queue hop from the end of a call to the next createCall, not a back-off; generous for a loaded box
    assert max(gaps) < 3, gaps
    assert all(leg["state"] == "terminated" for leg in legs)


@pytest.mark.timeout(120)
def test_a_call_longer_than_its_lease_keeps_its_line(lines_stack):
    campaigns = _campaigns(lines_stack)
    agent = f"8:acs:agent-{uuid.uuid4()}"
    long_call = {"answer": "answer", "hangUpAfterMs": 400_000}  # 20 s at this scale
    assert lines_stack.emulator.control("PUT", f"/callees/{agent}", json=long_call).status_code == 200
    escalates = _callees(lines_stack, 1, {**long_call, "presses": [{"tones": "0", "afterMs": 200}]})
    waiting = _callees(lines_stack, 1, {"answer": "answer"})
    plan = {  # the first callee asks for a person: the call stays up with the agent, long after the plan ended
        "prompt": {"text": "Press 0 for a person."},
        "collect": {"timeoutSeconds": 5, "maxPrompts": 1},
        "escalation": {"key": "0", "participant": agent},
    }

    campaign_id = _campaign(lines_stack, escalates + waiting, cap=1, callerIds=POOL[1:2], plan=plan)
    wait_until_done(campaigns, campaign_id, 2, timeout=90)

    first, second = sorted(emulator_calls(lines_stack.emulator, set(escalates + waiting)), key=lambda c: c["createdAt"])
    length = (datetime.fromisoformat(first["endedAt"]) - datetime.fromisoformat(first["createdAt"])).total_seconds()
    assert length > 2 * LEASE_SECONDS  # it did outlive its lease...
    assert second["createdAt"] >= first["endedAt"]  # ...and nobody took its line meanwhile
