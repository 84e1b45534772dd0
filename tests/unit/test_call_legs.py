"""How ACS events move a call leg: forward only, once, with the right events for the caller."""

import json

from shared.calls.acs_events import parse_callback_body
from shared.calls.flow import apply_event
from shared.calls.legs import CallLeg, LegState, Operation

NOW = "2026-01-01T00:00:00+00:00"
PHONE = "4:+15005550006"


def _leg(**overrides) -> CallLeg:
    values = {"call_leg_id": "leg-1", "targets": [PHONE], "callback_uri": "http://127.0.0.1:9/events"}
    values.update(overrides)
    return CallLeg(**values)


def _event(name: str, event_id: str = "e1", **data):
    body = [
        {
            "id": event_id,
            "type": f"Microsoft.Communication.{name}",
            "time": NOW,
            "data": {"callConnectionId": "acs-1", **data},
        }
    ]
    return parse_callback_body(json.dumps(body).encode())[0]


def apply_acs_event(leg, event, now):
    """What one event changes, and tells the caller (through the whole pipeline, so the state event is settled)."""
    return apply_event(leg, event, now).changes


def _roster(*raw_ids: str) -> list[dict]:
    return [{"identifier": {"rawId": r}, "isMuted": False} for r in raw_ids]


def test_call_connected_establishes_and_tells_the_caller():
    leg = _leg()

    outcome = apply_acs_event(leg, _event("CallConnected", serverCallId="srv"), NOW)

    assert leg.state is LegState.ESTABLISHED
    assert [n.type for n in outcome.notifications] == ["Microsoft.Communication.CallLegStateChanged"]
    assert outcome.notifications[0].data == {"callLegId": "leg-1", "callState": "established", "conversationId": "srv"}
    assert outcome.start_dtmf_for == []


def test_dtmf_requested_starts_recognition_on_connect():
    leg = _leg(requested_call_events=["dtmfReceived"])

    outcome = apply_acs_event(leg, _event("CallConnected"), NOW)

    assert outcome.start_dtmf_for == [PHONE]


def test_disconnected_is_final_and_records_the_reason():
    leg = _leg(state=LegState.ESTABLISHED, participants=[PHONE], answered_at=NOW)
    result = {"code": 200, "subCode": 7000, "message": "ended"}

    apply_acs_event(leg, _event("CallDisconnected", resultInformation=result), NOW)
    late = apply_acs_event(leg, _event("CallConnected", "e2"), NOW)

    assert leg.state is LegState.TERMINATED
    assert leg.end_reason == {"event": "CallDisconnected", "code": 200, "subCode": 7000, "message": "ended"}
    assert leg.participants == []
    assert late.notifications == []


def test_a_late_connection_corrects_the_outcome_and_tells_the_caller_again():
    leg = _leg()
    ended = apply_acs_event(leg, _event("CallDisconnected", resultInformation={"code": 200, "subCode": 5010}), NOW)
    assert leg.outcome == "failed" and ended.notifications[0].data["outcome"] == "failed"

    late = apply_acs_event(leg, _event("CallConnected", "e2"), NOW)

    assert leg.state is LegState.TERMINATED and leg.outcome == "answered"
    assert [n.data["outcome"] for n in late.notifications] == ["answered"]


def test_create_call_failed_explains_the_end_whichever_ending_event_came_first():
    failed = {"code": 486, "subCode": 8539, "message": "busy"}
    disconnected = {"code": 486, "subCode": 8539, "message": "busy"} | {"subCode": 0}
    in_order, reversed_ = _leg(), _leg()

    apply_acs_event(in_order, _event("CreateCallFailed", "e1", resultInformation=failed), NOW)
    apply_acs_event(in_order, _event("CallDisconnected", "e2", resultInformation=disconnected), NOW)
    apply_acs_event(reversed_, _event("CallDisconnected", "e2", resultInformation=disconnected), NOW)
    apply_acs_event(reversed_, _event("CreateCallFailed", "e1", resultInformation=failed), NOW)

    for leg in (in_order, reversed_):
        assert leg.end_reason == {"event": "CreateCallFailed", **failed}
        assert leg.outcome == "busy"


def test_create_call_failed_terminates_with_the_callee_code():
    leg = _leg()

    outcome = apply_acs_event(
        leg, _event("CreateCallFailed", resultInformation={"code": 486, "subCode": 8539, "message": "busy"}), NOW
    )

    assert leg.state is LegState.TERMINATED
    assert leg.end_reason["subCode"] == 8539
    assert outcome.notifications[0].data["reason"]["code"] == 486


def test_older_participants_update_never_overwrites_a_newer_one():
    leg = _leg(state=LegState.ESTABLISHED, requested_call_events=["participantsUpdated"])

    apply_acs_event(
        leg, _event("ParticipantsUpdated", "e1", sequenceNumber=3, participants=_roster(PHONE, "8:acs:x")), NOW
    )
    stale = apply_acs_event(
        leg, _event("ParticipantsUpdated", "e2", sequenceNumber=2, participants=_roster(PHONE)), NOW
    )

    assert leg.participants == [PHONE, "8:acs:x"]
    assert stale.notifications == [] and stale.timeline == []


def test_roster_changes_become_join_and_leave_entries():
    leg = _leg(state=LegState.ESTABLISHED, participants=[PHONE], participants_sequence=1)

    outcome = apply_acs_event(
        leg, _event("ParticipantsUpdated", sequenceNumber=2, participants=_roster("8:acs:x")), NOW
    )

    assert [(e.kind, e.details["participant"]) for e in outcome.timeline] == [
        ("participantJoined", "8:acs:x"),
        ("participantLeft", PHONE),
    ]
    assert outcome.notifications == []  # not requested


def test_play_result_reaches_the_caller_with_their_operation_context():
    leg = _leg(state=LegState.ESTABLISHED, operations={"op1": Operation("op1", "playAudio", "ctx-42")})

    apply_acs_event(leg, _event("PlayStarted", "e1", operationContext="op1"), NOW)
    assert leg.operations["op1"].status == "running"
    outcome = apply_acs_event(
        leg,
        _event(
            "PlayCompleted",
            "e2",
            operationContext="op1",
            resultInformation={"code": 200, "subCode": 0, "message": "ok"},
        ),
        NOW,
    )

    data = outcome.notifications[0].data
    assert outcome.notifications[0].type == "Microsoft.Communication.PlayAudioResult"
    assert data["operationContext"] == "ctx-42"
    assert data["status"] == "completed"
    assert data["resultInfo"] == {"code": 200, "subcode": 0, "message": "ok"}


def test_a_finished_operation_ignores_later_results():
    leg = _leg(state=LegState.ESTABLISHED, operations={"op1": Operation("op1", "playAudio", status="failed")})

    outcome = apply_acs_event(leg, _event("PlayCompleted", operationContext="op1"), NOW)

    assert leg.operations["op1"].status == "failed"
    assert outcome.notifications == []


def test_tones_are_forwarded_with_2021_names_only_when_requested():
    wanted = _leg(state=LegState.ESTABLISHED, requested_call_events=["DTMFRECEIVED"])
    unwanted = _leg(state=LegState.ESTABLISHED)
    tone = _event("ContinuousDtmfRecognitionToneReceived", tone="one", sequenceId=1)

    sent = apply_acs_event(wanted, tone, NOW)
    quiet = apply_acs_event(unwanted, tone, NOW)

    assert sent.notifications[0].data["toneInfo"] == {"sequenceId": 1, "tone": "tone1"}
    assert quiet.notifications == [] and quiet.timeline[0].kind == "dtmfReceived"


def test_invite_result_names_the_participant():
    leg = _leg(state=LegState.ESTABLISHED, operations={"op1": Operation("op1", "inviteParticipant", "c")})

    outcome = apply_acs_event(
        leg, _event("AddParticipantSucceeded", operationContext="op1", participant={"rawId": "8:acs:x"}), NOW
    )

    data = outcome.notifications[0].data
    assert outcome.notifications[0].type == "Microsoft.Communication.InviteParticipantResult"
    assert data["status"] == "completed"
    assert data["participants"][0]["rawId"] == "8:acs:x"


def test_notification_ids_derive_from_the_acs_event():
    first = apply_acs_event(_leg(), _event("CallConnected", "same"), NOW).notifications[0]
    again = apply_acs_event(_leg(), _event("CallConnected", "same"), NOW).notifications[0]
    other = apply_acs_event(_leg(), _event("CallConnected", "other"), NOW).notifications[0]

    assert first.id == again.id != other.id
