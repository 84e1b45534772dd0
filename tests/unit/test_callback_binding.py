"""A callback proves it is about its leg: the URL token (constant-time), then the ACS ids of every event."""

import json
import logging

import pytest

from shared.calls.acs_events import parse_callback_body
from shared.calls.callback_binding import (
    CallbackRejectedError,
    check_callback_token,
    check_events_belong,
    rejected_callbacks,
)
from shared.calls.legs import CallLeg


def _leg(**values) -> CallLeg:
    return CallLeg("leg-1", ["4:+15005550006"], callback_token="s3cret-token", **values)


def _events(*data: dict):
    body = [{"id": f"e{i}", "type": "Microsoft.Communication.CallConnected", "time": "", "data": d}
            for i, d in enumerate(data)]
    return parse_callback_body(json.dumps(body).encode())


@pytest.mark.parametrize("token", [None, "", "s3cret-toke", "s3cret-token-", "S3CRET-TOKEN"])
def test_a_wrong_token_is_refused_counted_and_logged_without_the_secret(token, caplog):
    before = rejected_callbacks["token"]

    with caplog.at_level(logging.WARNING), pytest.raises(CallbackRejectedError) as refused:
        check_callback_token(_leg(), token)

    assert refused.value.status_code == 401
    assert rejected_callbacks["token"] == before + 1
    assert "leg-1" in caplog.text and "s3cret" not in caplog.text


def test_the_right_token_passes_and_a_leg_without_one_is_checked_by_its_events_only():
    check_callback_token(_leg(), "s3cret-token")
    check_callback_token(CallLeg("old", ["4:+1"]), None)


def test_events_must_name_the_legs_call_and_agree_with_each_other():
    known = _leg(acs_call_connection_id="conn-a", server_call_id="srv-a")
    check_events_belong(known, _events({"callConnectionId": "conn-a", "serverCallId": "srv-a"}))

    refusals = [
        (known, _events({"callConnectionId": "conn-b", "serverCallId": "srv-a"})),
        (known, _events({"callConnectionId": "conn-a", "serverCallId": "srv-b"})),
        (known, _events({"callConnectionId": "conn-a"})),  # the leg knows its server call: it must be named
        (_leg(), _events({"serverCallId": "srv"})),  # no call connection at all
        (_leg(), _events({"callConnectionId": "conn-a"}, {"callConnectionId": "conn-b"})),  # events disagree
    ]
    for leg, events in refusals:
        with pytest.raises(CallbackRejectedError) as refused:
            check_events_belong(leg, events)
        assert refused.value.status_code == 403


def test_a_leg_that_does_not_know_its_call_yet_learns_it_from_the_first_event():
    check_events_belong(_leg(), _events({"callConnectionId": "conn-a"}, {"callConnectionId": "conn-a"}))
