"""The seed's API end to end: HTTP → app under devhost → ACS emulator → callbacks → Table storage → subscriber."""

import uuid
from urllib.parse import quote

import requests

from tests.e2e.conftest import CALLER_ID

CONFIRMS = "+15005550006"  # magic number: answers, presses 1 once DTMF listening starts
SILENT = "+15005550011"  # answers, never presses a key
BUSY = "+15005550002"


def _connected(leg: dict) -> bool:
    return leg["state"] == "established" and bool(leg["participants"])


def test_a_call_goes_through_its_whole_life(stack):
    leg_id = stack.place_call(SILENT, requestedCallEvents=["participantsUpdated"], subject="Reminder")

    leg = stack.wait_for_call(leg_id, _connected)
    assert leg["participants"] == [f"4:{SILENT}"]
    assert leg["alternateCallerId"] == CALLER_ID
    acs_call = stack.emulator.control("GET", f"/calls/{leg['acsCallConnectionId']}").json()
    assert acs_call["state"] == "connected"

    play = stack.post(
        f"/calls/{leg_id}/PlayAudio",
        {"audioFileUri": "https://example.com/reminder.wav", "operationContext": "reminder", "resourceId": "r-1"},
    )
    assert play.status_code == 202
    assert play.json()["status"] == "notStarted" and play.json()["operationContext"] == "reminder"
    result = stack.wait_for_events(leg_id, "PlayAudioResult")[0]["data"]
    assert result["operationContext"] == "reminder"
    assert result["status"] == "completed" and result["resultInfo"]["code"] == 200

    human = f"8:acs:{uuid.uuid4()}"
    assert stack.post(f"/calls/{leg_id}/participants", {"participants": [human]}).status_code == 202
    stack.wait_for_call(leg_id, lambda leg: human in leg["participants"])
    invite = stack.wait_for_events(leg_id, "InviteParticipantResult")[0]["data"]
    assert invite["status"] == "completed" and invite["participants"][0]["rawId"] == human

    removed = requests.delete(f"{stack.app_url}/calls/{leg_id}/participants/{quote(human, safe='')}", timeout=10)
    assert removed.status_code == 202
    stack.wait_for_call(leg_id, lambda leg: human not in leg["participants"])

    assert stack.post(f"/calls/{leg_id}/Hangup").status_code == 202
    leg = stack.wait_for_call(leg_id, lambda leg: leg["state"] == "terminated")
    assert leg["endReason"]["subCode"] == 7000
    assert leg["endedAt"]
    kinds = [entry["type"] for entry in leg["timeline"]]
    for expected in (
        "callRequested",
        "callPlaced",
        "callConnected",
        "participantJoined",
        "playAudioRequested",
        "playCompleted",
        "inviteSucceeded",
        "participantLeft",
        "hangUpRequested",
        "callEnded",
    ):
        assert expected in kinds, expected
    states = [e["data"]["callState"] for e in stack.wait_for_events(leg_id, "CallLegStateChanged", 2)]
    assert sorted(states) == ["established", "terminated"]
    assert len(stack.events(leg_id, "ParticipantsUpdated")) >= 3  # joined, invited in, removed


def test_subscriber_events_are_signed_cloud_events(stack):
    leg_id = stack.place_call(CONFIRMS, requestedCallEvents=["dtmfReceived"])

    tone = stack.wait_for_events(leg_id, "DtmfReceived")[0]
    assert tone["specversion"] == "1.0" and tone["data"]["toneInfo"]["tone"] == "tone1"
    # The subscriber keeps only events whose Standard Webhooks signature verified with the app's secret.
    leg = stack.wait_for_call(leg_id, lambda leg: any(e["type"] == "eventDelivered" for e in leg["timeline"]))
    assert leg["requestedCallEvents"] == ["dtmfReceived"]
    assert not stack.events(leg_id, "ParticipantsUpdated")  # not requested, not sent


def test_a_busy_callee_ends_the_leg_with_the_acs_reason(stack):
    leg_id = stack.place_call(BUSY)

    leg = stack.wait_for_call(leg_id, lambda leg: leg["state"] == "terminated")

    assert leg["endReason"]["event"] == "CreateCallFailed"
    assert leg["endReason"]["subCode"] == 8539
    assert stack.wait_for_events(leg_id, "CallLegStateChanged")[0]["data"]["callState"] == "terminated"


def test_unknown_and_ended_calls(stack):
    missing = stack.post(f"/calls/{uuid.uuid4()}/Hangup")
    assert missing.status_code == 404 and missing.json()["code"] == "CallNotFound"

    leg_id = stack.place_call(BUSY)
    stack.wait_for_call(leg_id, lambda leg: leg["state"] == "terminated")
    for path, body in (
        ("Hangup", None),
        ("PlayAudio", {"audioFileUri": "https://x/a.wav"}),
        ("CancelMediaProcessing", {}),
        ("participants", {"participants": ["8:acs:x"]}),
    ):
        answer = stack.post(f"/calls/{leg_id}/{path}", body)
        assert answer.status_code == 409, path
        assert answer.json()["code"] == "CallEnded"


def test_acs_refusal_is_a_clear_error_and_writes_nothing(stack):
    stack.emulator.control("POST", "/faults", json={"operation": "createCall", "status": 503, "count": 10})
    try:
        before = len(stack.rows())
        answer = stack.post("/calls", {"targets": [SILENT]})
        assert answer.status_code == 503
        assert answer.json()["code"] == "UpstreamUnavailable"
        assert "accesskey" not in answer.text.lower()
        assert len(stack.rows()) == before
    finally:
        stack.emulator.control("DELETE", "/faults")


def test_throttling_by_acs_becomes_429_with_retry_after(stack):
    stack.emulator.control(
        "POST", "/faults", json={"operation": "createCall", "status": 429, "count": 10, "retryAfterSeconds": 30}
    )
    try:
        answer = stack.post("/calls", {"targets": [SILENT]})
    finally:
        stack.emulator.control("DELETE", "/faults")

    assert answer.status_code == 429
    assert answer.headers["Retry-After"] == "30"
    assert answer.json()["code"] == "Throttled"


def test_removing_a_participant_whose_invitation_still_rings_cancels_the_invitation(stack):
    leg_id = stack.place_call(SILENT, requestedCallEvents=["participantsUpdated"])
    stack.wait_for_call(leg_id, _connected)
    invitee = "+1888" + str(uuid.uuid4().int)[:7]
    assert stack.emulator.control("PUT", f"/callees/{invitee}", json={"answer": "noAnswer"}).status_code == 200
    assert stack.post(f"/calls/{leg_id}/participants", {"participants": [invitee]}).status_code == 202

    removed = requests.delete(f"{stack.app_url}/calls/{leg_id}/participants/{quote('4:' + invitee, safe='')}",
                              timeout=10)

    assert removed.status_code == 202, removed.text
    leg = stack.wait_for_call(leg_id, lambda leg: all(op["status"] != "notStarted" for op in leg["operations"]))
    invite = next(op for op in leg["operations"] if op["kind"] == "inviteParticipant")
    removal = next(op for op in leg["operations"] if op["kind"] == "removeParticipant")
    assert (invite["status"], invite["resultInfo"]["code"]) == ("failed", 487)
    assert removal["status"] == "completed"
    assert "inviteCancelled" in [e["type"] for e in leg["timeline"]]
    results = stack.wait_for_events(leg_id, "InviteParticipantResult")
    assert results[0]["data"]["status"] == "failed"
    assert stack.wait_for_events(leg_id, "RemoveParticipantResult")[0]["data"]["status"] == "completed"
    connection = leg["acsCallConnectionId"]
    cancels = stack.emulator.control(
        "GET", "/requests", params={"callConnectionId": connection, "operation": "cancelAddParticipant"}
    ).json()["value"]
    assert len(cancels) == 1
    stack.post(f"/calls/{leg_id}/Hangup")
