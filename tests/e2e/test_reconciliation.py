"""Legs whose callbacks are lost for good are reconciled with ACS: ended as ACS says, hung up if nobody drives them,
and their pacing slots freed, within the reconciliation interval."""

from __future__ import annotations

import time
import uuid

import pytest
from azure.data.tables import TableServiceClient

from shared.campaigns.store import CampaignStore
from shared.lines import TABLE_NAME as LINES_TABLE
from shared.lines import Lines
from tests.e2e.campaign_support import PLAN, PRESS_ONE, wait_until_done
from tests.e2e.conftest import RECONCILE_AFTER_SECONDS

# the schedule runs every second; a leg is looked at once it has heard nothing for RECONCILE_AFTER_SECONDS
WITHIN_THE_INTERVAL = RECONCILE_AFTER_SECONDS + 10
LOST = {"callbacks": {"dropAfter": 0}}


def _script(stack, script: dict) -> str:
    number = "+1777" + str(uuid.uuid4().int)[:7]
    assert stack.emulator.control("PUT", f"/callees/{number}", json=script).status_code == 200
    return number


def _acs_call(stack, connection_id: str) -> dict:
    history = stack.emulator.control("GET", "/calls/history").json()["value"]
    return next(call for call in history if call["callConnectionId"] == connection_id)


def test_a_call_that_ended_unseen_is_ended_as_acs_says(stack):
    number = _script(stack, {"answer": "answer", "hangUpAfterMs": 300, **LOST})
    leg_id = stack.place_call(number)

    leg = stack.wait_for_call(leg_id, lambda leg: leg["state"] == "terminated", timeout=WITHIN_THE_INTERVAL)

    assert _acs_call(stack, leg["acsCallConnectionId"])["endedAt"]  # ACS ended it; the app never heard
    assert leg["endReason"]["event"] == "Reconciled" and leg["endReason"]["code"] == 404
    assert leg["outcome"] == "failed"  # nothing says the callee answered
    assert [e["type"] for e in leg["timeline"]].count("reconciled") == 1
    states = stack.wait_for_events(leg_id, "CallLegStateChanged")
    assert states[-1]["data"]["callState"] == "terminated"
    # Hangup no longer answers 404 for ever: the leg is over
    assert stack.post(f"/calls/{leg_id}/Hangup").status_code == 409


def test_a_connected_call_nobody_drives_is_hung_up(stack):
    number = _script(stack, {"answer": "answer", **LOST})  # answers, then stays on the line
    leg_id = stack.place_call(number, plan={"prompt": {"text": "This message is never heard."}})

    leg = stack.wait_for_call(leg_id, lambda leg: leg["state"] == "terminated", timeout=WITHIN_THE_INTERVAL)

    connection_id = leg["acsCallConnectionId"]
    terminated = stack.emulator.control(
        "GET", "/requests", params={"callConnectionId": connection_id, "operation": "terminate"}
    ).json()["value"]
    assert len(terminated) >= 1
    assert _acs_call(stack, connection_id)["endedAt"]
    assert leg["endReason"]["event"] == "Reconciled"
    assert leg["outcome"] == "answered-without-input"  # ACS had it connected: the callee did answer


def test_a_live_call_the_app_drives_is_left_alone(stack):
    leg_id = stack.place_call("+15005550011", requestedCallEvents=["participantsUpdated"])
    stack.wait_for_call(leg_id, lambda leg: leg["state"] == "established")
    connection_id = stack.get_call(leg_id)["acsCallConnectionId"]

    # wait until reconciliation has looked at it at least twice: it asks ACS about it
    deadline = time.monotonic() + WITHIN_THE_INTERVAL + RECONCILE_AFTER_SECONDS
    while len(_asked(stack, connection_id)) < 2:
        assert time.monotonic() < deadline, "reconciliation never asked ACS about the live call"
        time.sleep(0.2)

    assert stack.get_call(leg_id)["state"] == "established"
    assert stack.emulator.control("GET", f"/calls/{connection_id}").json()["state"] == "connected"
    stack.post(f"/calls/{leg_id}/Hangup")


def _asked(stack, connection_id: str) -> list:
    return stack.emulator.control(
        "GET", "/requests", params={"callConnectionId": connection_id, "operation": "getCall"}
    ).json()["value"]


@pytest.mark.timeout(120)
def test_a_campaign_call_with_lost_callbacks_frees_its_slot_for_the_next_recipient(stack):
    lost = _script(stack, {"answer": "answer", "hangUpAfterMs": 300, **LOST})
    confirms = _script(stack, PRESS_ONE)
    body = {
        "plan": PLAN,
        "callerIds": ["+18005550199"],
        "pacing": {"maxConcurrentCalls": 1, "maxConcurrentCallsPerCallerId": 1, "callsPerSecond": 10},
        "retry": {"maxAttempts": 1, "delaySeconds": 1, "retryOn": []},
        "recipients": [lost, confirms],
    }
    answer = stack.post("/campaigns", body)
    assert answer.status_code == 201, answer.text
    campaign_id = answer.json()["campaignId"]
    service = TableServiceClient.from_connection_string(stack.azurite.connection_string)
    campaigns = CampaignStore(service.get_table_client("campaigns"), service.get_table_client("recipients"))

    done = {r.phone_number: r for r in wait_until_done(campaigns, campaign_id, 2, timeout=2 * WITHIN_THE_INTERVAL)}

    assert done[lost].outcome == "failed" and done[confirms].outcome == "confirmed"
    first, second = (_emulator_call_to(stack, number) for number in (lost, confirms))
    assert second["createdAt"] > first["endedAt"]  # one line: the second call waited for the first's slot
    lines = Lines(service.get_table_client(LINES_TABLE)).busy(["+18005550199"], campaign_id)
    assert lines == {"+18005550199": 0, "campaign": 0}  # the line and the seat are free again


def _emulator_call_to(stack, number: str) -> dict:
    history = stack.emulator.control("GET", "/calls/history").json()["value"]
    return next(call for call in history if call["targets"] == [f"4:{number}"])
