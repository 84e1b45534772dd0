"""Every magic number and callee script, for createCall, participants:add and :transferToParticipant."""

from __future__ import annotations

import pytest

from tests.support.acs import CALLER_ID, action, connected_call, create_call, event_types, phone, unique_number

BUSY = (486, 8539)
NO_ANSWER = (480, 560480)
DECLINE = (603, 8538)
UNREACHABLE = (480, 10078)


def _result(event: dict) -> tuple[int, int]:
    info = event["data"]["resultInformation"]
    return info["code"], info["subCode"]


def _create(emulator, sink, number: str) -> str:
    response = create_call(emulator, sink.new_url(), number, operationContext="ctx-create")
    assert response.status_code == 201, response.text
    return response.json()["callConnectionId"]


@pytest.mark.parametrize(("number", "codes"), [
    ("+15005550002", BUSY),
    ("+15005550003", NO_ANSWER),
    ("+15005550004", DECLINE),
    ("+15005550005", UNREACHABLE),
])
def test_failing_magic_numbers(emulator, callback_sink, number, codes):
    call_id = _create(emulator, callback_sink, number)
    failed = callback_sink.wait_for_event("CreateCallFailed", call_connection_id=call_id)
    assert _result(failed) == codes
    assert failed["data"]["operationContext"] == "ctx-create"
    callback_sink.wait_for_event("CallDisconnected", call_connection_id=call_id)
    assert event_types(callback_sink, call_id) == ["CreateCallFailed", "CallDisconnected"]
    assert emulator.api("GET", f"/calling/callConnections/{call_id}").status_code == 404


def test_failed_create_call_is_followed_by_call_disconnected_with_the_same_result(emulator, callback_sink):
    callback_sink.fail_next(2, status=503)  # retries of CreateCallFailed must not let CallDisconnected overtake it
    call_id = _create(emulator, callback_sink, "+15005550002")
    disconnected = callback_sink.wait_for_event("CallDisconnected", call_connection_id=call_id)
    failed, = callback_sink.events(call_id, "CreateCallFailed")
    assert disconnected["data"]["resultInformation"] == failed["data"]["resultInformation"] == {
        "code": 486, "subCode": 8539, "message": "Call failed, callee is busy."}
    assert event_types(callback_sink, call_id) == ["CreateCallFailed", "CallDisconnected"]
    assert [e["id"] for e in callback_sink.events(call_id)] == [
        e["id"] for e in emulator.control("GET", f"/calls/{call_id}").json()["events"]]
    ended, = [c for c in emulator.control("GET", "/calls/history").json()["value"] if c["callConnectionId"] == call_id]
    assert ended["state"] == "disconnected" and ended["connectedAt"] is None
    assert ended["endReason"] == {"code": 486, "subCode": 8539, "message": "Call failed, callee is busy."}


def test_no_answer_waits_for_the_ring_timeout(emulator, callback_sink):
    # ring timeout 30 s x 0.05 = 1.5 s; a reject comes after 300 ms x 0.05 = 15 ms
    call_id = _create(emulator, callback_sink, "+15005550003")
    failed = callback_sink.wait_for_event("CreateCallFailed", call_connection_id=call_id)
    detail = emulator.control("GET", f"/calls/{call_id}").json()
    from datetime import datetime

    elapsed = (datetime.fromisoformat(detail["endedAt"]) - datetime.fromisoformat(detail["createdAt"])).total_seconds()
    assert 1.3 <= elapsed <= 3.0, elapsed
    assert _result(failed) == NO_ANSWER


def test_answers_at_once(emulator, callback_sink):
    call_id = _create(emulator, callback_sink, "+15005550001")
    connected = callback_sink.wait_for_event("CallConnected", call_connection_id=call_id)
    assert connected["data"]["operationContext"] == "ctx-create"
    updated = callback_sink.wait_for_event("ParticipantsUpdated", call_connection_id=call_id)
    assert updated["data"]["sequenceNumber"] == 1
    assert [p["identifier"]["rawId"] for p in updated["data"]["participants"]] == ["4:+15005550001"]
    action(emulator, call_id, "terminate", None)


@pytest.mark.parametrize(("number", "tone"), [("+15005550006", "one"), ("+15005550007", "two"),
                                              ("+15005550008", "zero")])
def test_magic_numbers_that_press_a_key_after_listening_starts(emulator, callback_sink, number, tone):
    call_id = connected_call(emulator, callback_sink, number)
    _recognize(emulator, call_id, number)
    completed = callback_sink.wait_for_event("RecognizeCompleted", call_connection_id=call_id)
    assert completed["data"]["dtmfResult"]["tones"] == [tone]
    assert _result(completed) == (200, 8531)
    action(emulator, call_id, "terminate", None)


def _recognize(emulator, call_id, number, silence_seconds: float = 5, **dtmf_options):
    body = {"recognizeInputType": "dtmf",
            "recognizeOptions": {"targetParticipant": phone(number), "dtmfOptions": dtmf_options,
                                 "initialSilenceTimeoutInSeconds": silence_seconds}}
    response = action(emulator, call_id, "recognize", body)
    assert response.status_code == 202, response.text


def test_silent_callee_never_presses(emulator, callback_sink):
    call_id = connected_call(emulator, callback_sink, "+15005550011")
    _recognize(emulator, call_id, "+15005550011")
    failed = callback_sink.wait_for_event("RecognizeFailed", call_connection_id=call_id)
    assert _result(failed) == (400, 8510)
    action(emulator, call_id, "terminate", None)


def test_callee_that_hangs_up_ends_the_call(emulator, callback_sink):
    call_id = connected_call(emulator, callback_sink, "+15005550009")
    disconnected = callback_sink.wait_for_event("CallDisconnected", call_connection_id=call_id)
    assert _result(disconnected) == (200, 5010)
    assert event_types(callback_sink, call_id) == ["CallConnected", "ParticipantsUpdated", "ParticipantsUpdated",
                                                   "CallDisconnected"]


def test_busy_on_the_first_call_then_answers(emulator, callback_sink):
    emulator.control("DELETE", "/callees/+15005550010")  # forget earlier attempts of this shared number
    first = _create(emulator, callback_sink, "+15005550010")
    assert _result(callback_sink.wait_for_event("CreateCallFailed", call_connection_id=first)) == BUSY
    second = _create(emulator, callback_sink, "+15005550010")
    callback_sink.wait_for_event("CallConnected", call_connection_id=second)
    third = _create(emulator, callback_sink, "+15005550010")
    callback_sink.wait_for_event("CallConnected", call_connection_id=third)
    for call_id in (second, third):
        action(emulator, call_id, "terminate", None)


def test_other_numbers_answer_after_the_default_delay(emulator, callback_sink):
    call_id = _create(emulator, callback_sink, unique_number())
    assert emulator.api("GET", f"/calling/callConnections/{call_id}").json()["callConnectionState"] == "connecting"
    callback_sink.wait_for_event("CallConnected", call_connection_id=call_id)
    assert emulator.api("GET", f"/calling/callConnections/{call_id}").json()["callConnectionState"] == "connected"
    action(emulator, call_id, "terminate", None)


def test_script_wins_over_magic_number_and_attempts_advance(emulator, callback_sink):
    number = "+15005550001"
    script = {"attempts": [{"answer": "decline"}, {"answer": "unreachable"}, {"answer": "answer"}]}
    assert emulator.control("PUT", f"/callees/{number}", json=script).status_code == 200
    try:
        outcomes = []
        for _ in range(4):
            call_id = _create(emulator, callback_sink, number)
            outcomes.append(callback_sink.wait_for(
                lambda call_id=call_id: event_types(callback_sink, call_id)[:1])[0])
            if outcomes[-1] == "CallConnected":
                action(emulator, call_id, "terminate", None)
            else:
                codes = _result(callback_sink.events(call_id, "CreateCallFailed")[0])
                assert codes == (DECLINE if len(outcomes) == 1 else UNREACHABLE)
        assert outcomes == ["CreateCallFailed", "CreateCallFailed", "CallConnected", "CallConnected"]
        listed = emulator.control("GET", "/callees").json()["value"]
        assert any(item["target"] == "4:" + number and item["callsMade"] == 4 for item in listed)
    finally:
        assert emulator.control("DELETE", f"/callees/{number}").status_code == 204
    assert emulator.control("GET", f"/callees/{number}").status_code == 404


def test_scripted_presses_from_answer_and_hang_up(emulator, callback_sink):
    number = unique_number()
    # presses 300 ms after answering (time scale 0.05), hangs up after 2 s; recognize listens for up to 3 s
    emulator.control("PUT", f"/callees/{number}", json={
        "answerAfterMs": 0, "presses": [{"tones": "42#", "afterMs": 6000, "from": "answer"}], "hangUpAfterMs": 40000})
    call_id = connected_call(emulator, callback_sink, number)
    _recognize(emulator, call_id, number, silence_seconds=60, maxTonesToCollect=5, stopTones=["pound"],
               interToneTimeoutInSeconds=60)
    completed = callback_sink.wait_for_event("RecognizeCompleted", call_connection_id=call_id)
    assert completed["data"]["dtmfResult"]["tones"] == ["four", "two"]
    assert _result(completed) == (200, 8514)
    callback_sink.wait_for_event("CallDisconnected", call_connection_id=call_id)


def test_invalid_scripts_are_rejected_naming_the_field(emulator):
    response = emulator.control("PUT", "/callees/+14255550199", json={"answer": "maybe"})
    assert response.status_code == 400 and "answer" in response.json()["error"]["message"]
    response = emulator.control("PUT", "/callees/+14255550199", json={"presses": [{"tones": "xyz"}]})
    assert response.status_code == 400 and "presses[0].tones" in response.json()["error"]["message"]


def test_add_participant_scripts(emulator, callback_sink):
    call_id = connected_call(emulator, callback_sink)
    for number, codes in (("+15005550002", BUSY), ("+15005550004", DECLINE), ("+15005550005", UNREACHABLE)):
        response = action(emulator, call_id, "participants:add", {
            "participantToAdd": phone(number), "sourceCallerIdNumber": {"value": CALLER_ID},
            "operationContext": f"add-{number}"})
        assert response.status_code == 202
        failed = callback_sink.wait_for(lambda number=number: [
            e for e in callback_sink.events(call_id, "AddParticipantFailed")
            if e["data"]["operationContext"] == f"add-{number}"])[0]
        assert _result(failed) == codes
        assert failed["data"]["participant"]["rawId"] == "4:" + number
    action(emulator, call_id, "terminate", None)


def test_invitation_timeout_is_honoured_for_no_answer(emulator, callback_sink):
    call_id = connected_call(emulator, callback_sink)
    slow = unique_number()
    emulator.control("PUT", f"/callees/{slow}", json={"answerAfterMs": 60_000})
    response = action(emulator, call_id, "participants:add", {
        "participantToAdd": phone(slow), "sourceCallerIdNumber": {"value": CALLER_ID},
        "invitationTimeoutInSeconds": 10})  # 10 s x 0.05 = 0.5 s, well before the 60 s answer
    assert response.status_code == 202
    failed = callback_sink.wait_for_event("AddParticipantFailed", call_connection_id=call_id, timeout=5)
    assert _result(failed) == NO_ANSWER
    action(emulator, call_id, "terminate", None)


def _invite(emulator, call_id: str, number: str, context: str) -> str:
    response = action(emulator, call_id, "participants:add", {
        "participantToAdd": phone(number), "sourceCallerIdNumber": {"value": CALLER_ID}, "operationContext": context})
    assert response.status_code == 202, response.text
    return response.json()["invitationId"]


def _invitation_results(sink, call_id: str, number: str) -> list[str]:
    return [e["type"].removeprefix("Microsoft.Communication.") for e in sink.events(call_id)
            if e["type"].endswith(("AddParticipantSucceeded", "AddParticipantFailed"))
            and not e["type"].endswith("CancelAddParticipantSucceeded")
            and e["data"]["participant"]["rawId"] == "4:" + number]


@pytest.mark.parametrize("ringing_script", [{"answer": "answer", "answerAfterMs": 5000},
                                            {"answer": "noAnswer", "answerAfterMs": 5000}])
def test_cancel_a_ringing_invitation(emulator, callback_sink, ringing_script):
    callee = unique_number()
    call_id = connected_call(emulator, callback_sink, callee)
    ringing, witness = unique_number(), unique_number()
    # `ringing` would answer (or give up) 250 ms after its invitation; `witness`, invited after the cancel, answers
    # 1 s after its own, later than `ringing` could have. A call's events arrive in order, so once the witness's
    # AddParticipantSucceeded is in, anything the cancelled invitation was going to cause would have arrived too.
    emulator.control("PUT", f"/callees/{ringing}", json=ringing_script)
    emulator.control("PUT", f"/callees/{witness}", json={"answerAfterMs": 20_000})
    invitation = _invite(emulator, call_id, ringing, "add-ringing")
    pending = emulator.control("GET", f"/calls/{call_id}").json()["pendingInvitations"]
    assert pending == [{"invitationId": invitation, "target": "4:" + ringing}]

    response = action(emulator, call_id, "participants:cancelAddParticipant",
                      {"invitationId": invitation, "operationContext": "cancel"})
    assert response.status_code == 202
    assert response.json() == {"invitationId": invitation, "operationContext": "cancel"}
    succeeded = callback_sink.wait_for_event("CancelAddParticipantSucceeded", call_connection_id=call_id)
    assert succeeded["data"]["invitationId"] == invitation and succeeded["data"]["operationContext"] == "cancel"
    assert succeeded["data"]["resultInformation"]["code"] == 200
    assert emulator.control("GET", f"/calls/{call_id}").json()["pendingInvitations"] == []

    _invite(emulator, call_id, witness, "add-witness")
    assert callback_sink.wait_for(lambda: _invitation_results(callback_sink, call_id, witness)) == [
        "AddParticipantSucceeded"]
    assert _invitation_results(callback_sink, call_id, ringing) == []  # as ACS: no AddParticipantFailed either
    roster = emulator.api("GET", f"/calling/callConnections/{call_id}/participants").json()["value"]
    assert [p["identifier"]["rawId"] for p in roster] == ["4:" + callee, "4:" + witness]

    again = action(emulator, call_id, "participants:cancelAddParticipant", {"invitationId": invitation})
    assert again.status_code == 202
    failed = callback_sink.wait_for_event("CancelAddParticipantFailed", call_connection_id=call_id)
    assert _result(failed) == (400, 8523) and failed["data"]["invitationId"] == invitation
    action(emulator, call_id, "terminate", None)


def test_transfer_accepted_then_disconnects_for_the_app(emulator, callback_sink):
    call_id = connected_call(emulator, callback_sink)
    target = unique_number()
    response = action(emulator, call_id, "transferToParticipant",
                      {"targetParticipant": phone(target), "operationContext": "xfer"})
    assert response.status_code == 202 and response.json() == {"operationContext": "xfer"}
    accepted = callback_sink.wait_for_event("CallTransferAccepted", call_connection_id=call_id)
    assert accepted["data"]["transferTarget"]["rawId"] == "4:" + target
    assert accepted["data"]["transferee"]["kind"] == "phoneNumber"
    disconnected = callback_sink.wait_for_event("CallDisconnected", call_connection_id=call_id)
    assert _result(disconnected) == (200, 7015)


def test_transfer_to_a_busy_target_fails(emulator, callback_sink):
    call_id = connected_call(emulator, callback_sink)
    action(emulator, call_id, "transferToParticipant", {"targetParticipant": phone("+15005550002")})
    failed = callback_sink.wait_for_event("CallTransferFailed", call_connection_id=call_id)
    assert _result(failed) == BUSY
    assert emulator.api("GET", f"/calling/callConnections/{call_id}").json()["callConnectionState"] == "connected"
    action(emulator, call_id, "terminate", None)


def test_remove_last_callee_ends_the_call_and_unknown_participant_is_404(emulator, callback_sink):
    number = unique_number()
    call_id = connected_call(emulator, callback_sink, number)
    missing = action(emulator, call_id, "participants:remove", {"participantToRemove": phone(unique_number())})
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "8522"
    response = action(emulator, call_id, "participants:remove",
                      {"participantToRemove": {"rawId": "4:" + number}, "operationContext": "bye"})
    assert response.status_code == 202 and response.json() == {"operationContext": "bye"}
    removed = callback_sink.wait_for_event("RemoveParticipantSucceeded", call_connection_id=call_id)
    assert removed["data"]["participant"]["rawId"] == "4:" + number
    callback_sink.wait_for_event("CallDisconnected", call_connection_id=call_id)


def test_control_api_hang_up_and_dtmf(emulator, callback_sink):
    number = unique_number()
    call_id = connected_call(emulator, callback_sink, number)
    _recognize(emulator, call_id, number, silence_seconds=60, maxTonesToCollect=3)
    assert emulator.control("POST", f"/calls/{call_id}/dtmf", json={"tones": "9*7"}).status_code == 202
    completed = callback_sink.wait_for_event("RecognizeCompleted", call_connection_id=call_id)
    assert completed["data"]["dtmfResult"]["tones"] == ["nine", "asterisk", "seven"]
    assert emulator.control("POST", f"/calls/{call_id}/dtmf", json={"tones": "x"}).status_code == 400
    assert emulator.control("POST", f"/calls/{call_id}/hangup", json={"participant": "4:+1999"}).status_code == 404
    assert emulator.control("POST", f"/calls/{call_id}/hangup", json={"participant": number}).status_code == 202
    callback_sink.wait_for_event("CallDisconnected", call_connection_id=call_id)
