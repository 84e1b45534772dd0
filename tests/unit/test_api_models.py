"""Validation of the seed's request bodies: every bad field is named."""

import pytest

from shared.calls.requests import (
    ValidationError,
    parse_cancel_media,
    parse_create_call,
    parse_invite_participants,
    parse_participant_id,
    parse_play_audio,
)

GOOD_CALL = {
    "targets": ["+14255550123", {"communicationUser": {"id": "8:acs:abc"}}],
    "source": "8:acs:app",
    "alternateCallerId": "+18005550100",
    "subject": "Reminder",
    "callbackUri": "https://example.com/events",
    "requestedModalities": ["audio"],
    "requestedCallEvents": ["ParticipantsUpdated", "dtmfreceived"],
}


def test_a_good_create_call_body_parses():
    request = parse_create_call(GOOD_CALL)

    assert request.targets == ["4:+14255550123", "8:acs:abc"]
    assert request.alternate_caller_id == "+18005550100"
    assert request.requested_call_events == ["participantsUpdated", "dtmfReceived"]


def test_keys_are_case_insensitive_like_the_seed_samples():
    request = parse_create_call({"Targets": ["+14255550123"], "AlternateCallerId": {"value": "+18005550100"}})

    assert request.alternate_caller_id == "+18005550100"


def test_default_caller_id_lets_phone_targets_through():
    request = parse_create_call({"targets": ["+14255550123"]}, default_caller_id="+18005550100")

    assert request.alternate_caller_id is None


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"targets": None}, "targets"),
        ({"targets": []}, "targets"),
        ({"targets": ["+1" + "5" * 20]}, "targets[0]"),
        ({"targets": ["+14255550123", "8:orgid:teams"]}, "targets[1]"),
        ({"targets": ["+14255550123", "+14255550123"]}, "targets"),
        ({"targets": ["x"] * 11}, "targets"),
        ({"alternateCallerId": "555-0100"}, "alternateCallerId"),
        ({"alternateCallerId": None}, "alternateCallerId"),
        ({"source": "+14255550123"}, "source"),
        ({"subject": 5}, "subject"),
        ({"subject": "s" * 257}, "subject"),
        ({"callbackUri": "ftp://example.com/x"}, "callbackUri"),
        ({"callbackUri": "/relative"}, "callbackUri"),
        ({"callbackUri": "https://user:pw@example.com/"}, "callbackUri"),
        ({"callbackUri": "https://example.com/" + "a" * 3000}, "callbackUri"),
        ({"requestedModalities": ["video"]}, "requestedModalities[0]"),
        ({"requestedCallEvents": ["toneReceived"]}, "requestedCallEvents[0]"),
        ({"requestedCallEvents": "participantsUpdated"}, "requestedCallEvents"),
    ],
)
def test_each_bad_field_is_named(change, field):
    body = {key: value for key, value in {**GOOD_CALL, **change}.items() if value is not None}

    with pytest.raises(ValidationError) as error:
        parse_create_call(body)

    assert error.value.field == field


@pytest.mark.parametrize("body", [None, [], "x", 3])
def test_body_must_be_an_object(body):
    with pytest.raises(ValidationError) as error:
        parse_create_call(body)
    assert error.value.field == "body"


def test_play_audio_parses_and_maps_resource_id():
    request = parse_play_audio(
        {"audioFileUri": "https://x/a.wav", "loop": True, "operationContext": "c", "resourceId": "cache-1"}
    )

    assert (request.audio_file_uri, request.loop, request.resource_id) == ("https://x/a.wav", True, "cache-1")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "audioFileUri"),
        ({"audioFileUri": "https://x", "loop": "yes"}, "loop"),
        ({"audioFileUri": "https://x", "operationContext": "c" * 2000}, "operationContext"),
    ],
)
def test_play_audio_rejects_bad_fields(body, field):
    with pytest.raises(ValidationError) as error:
        parse_play_audio(body)
    assert error.value.field == field


def test_cancel_media_body_is_optional():
    assert parse_cancel_media(None).operation_context is None
    assert parse_cancel_media({"operationContext": "x"}).operation_context == "x"


def test_invite_needs_participants():
    assert parse_invite_participants({"participants": ["8:acs:a"]}).participants == ["8:acs:a"]
    with pytest.raises(ValidationError):
        parse_invite_participants({"participants": []})


def test_participant_id_accepts_raw_ids_and_numbers():
    assert parse_participant_id("4:+14255550123") == "4:+14255550123"
    assert parse_participant_id("+14255550123") == "4:+14255550123"
    with pytest.raises(ValidationError):
        parse_participant_id("../etc")
