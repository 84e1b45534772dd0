"""The call state machine and call model, with `now` passed in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from emulator.calls import Call, CallState, InvalidTransition
from emulator.errors import AcsError
from emulator.identifiers import phone

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _call() -> Call:
    return Call.new(api_version="2025-05-15", callback_uri="https://app/cb", targets=[phone("+14255550123")],
                    source=None, caller_id="+18005550100", source_display_name=None, operation_context="ctx",
                    now=NOW)


def test_new_call_is_connecting_and_not_established():
    call = _call()
    assert call.state == CallState.CONNECTING and call.live
    with pytest.raises(AcsError) as caught:
        call.require_established()
    assert (caught.value.status, caught.value.code) == (400, "8501")
    assert caught.value.message == "Action is not supported, call is not established."


def test_connect_then_disconnect_records_times_and_reason():
    call = _call()
    call.connect(NOW + timedelta(seconds=1))
    call.require_established()
    call.disconnect(NOW + timedelta(seconds=5), 200, 7000, "ended")
    assert (call.connected_at, call.ended_at) == (NOW + timedelta(seconds=1), NOW + timedelta(seconds=5))
    assert call.end_reason == {"code": 200, "subCode": 7000, "message": "ended"}
    assert not call.live


def test_ended_call_is_not_found():
    call = _call()
    call.disconnect(NOW, 200, 7000, "ended")
    with pytest.raises(AcsError) as caught:
        call.require_established()
    assert (caught.value.status, caught.value.code, caught.value.message) == (404, "8522", "Call not found.")


@pytest.mark.parametrize("steps", [["connect", "connect"], ["disconnect", "connect"], ["disconnect", "disconnect"]])
def test_invalid_transitions_raise(steps):
    call = _call()
    with pytest.raises(InvalidTransition):
        for step in steps:
            call.connect(NOW) if step == "connect" else call.disconnect(NOW, 200, 0, "")


def test_participants_and_sequence_numbers():
    call = _call()
    call.join(phone("+14255550123"))
    call.join(phone("+14255550124"))
    assert list(call.participants) == ["4:+14255550123", "4:+14255550124"]
    assert [call.next_sequence_number() for _ in range(3)] == [1, 2, 3]
    call.leave("4:+14255550123")
    with pytest.raises(AcsError) as caught:
        call.leave("4:+14255550123")
    assert caught.value.status == 404


def test_properties_are_the_wire_shape():
    body = _call().properties()
    assert body["callConnectionState"] == "connecting"
    assert body["targets"] == [{"rawId": "4:+14255550123", "kind": "phoneNumber",
                                "phoneNumber": {"value": "+14255550123"}}]
    assert body["sourceCallerIdNumber"] == {"value": "+18005550100"}
    assert {"callConnectionId", "serverCallId", "correlationId", "callbackUri"} <= set(body)


def test_without_a_drop_rule_every_callback_is_sent():
    call = _call()
    assert [call.count_callback() for _ in range(3)] == [False, False, False]
    assert call.callbacks_view() == {"dropAfter": None, "eventsEmitted": 3, "eventsDropped": 0}


def test_drop_after_sends_the_first_n_callbacks_only():
    call = _call()
    call.drop_callbacks_after = 1
    assert [call.count_callback() for _ in range(3)] == [False, True, True]
    assert call.callbacks_view() == {"dropAfter": 1, "eventsEmitted": 3, "eventsDropped": 2}
