"""CloudEvent shape (§4.1), JWT signing (§5.1), request bodies and configuration."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import jwt
import pytest

from emulator import bodies
from emulator.callbacks import JwtSigner, build_event, cloud_event_time
from emulator.config import parse_config
from emulator.errors import AcsError

NOW = datetime(2024, 4, 10, 19, 10, 42, 404686, tzinfo=UTC)


def test_time_has_seven_fractional_digits_and_utc_offset():
    assert cloud_event_time(NOW) == "2024-04-10T19:10:42.4046860+00:00"


def test_event_envelope_and_data_match_the_recorded_shape():
    event = build_event(event_type="PlayFailed", call_connection_id="c1", server_call_id="s1", correlation_id="r1",
                        api_version="2025-05-15", result=(400, 8535, "bad"), operation_context="ctx",
                        extra={"failedPlaySourceIndex": 0}, now=NOW)
    assert set(event) == {"id", "source", "type", "data", "time", "specversion", "datacontenttype", "subject"}
    assert event["source"] == event["subject"] == "calling/callConnections/c1"
    assert event["type"] == "Microsoft.Communication.PlayFailed"
    assert (event["specversion"], event["datacontenttype"]) == ("1.0", "application/json")
    assert re.fullmatch(r"[0-9a-f-]{36}", event["id"])
    assert event["data"] == {
        "failedPlaySourceIndex": 0, "version": "2025-05-15", "callConnectionId": "c1", "serverCallId": "s1",
        "correlationId": "r1", "operationContext": "ctx",
        "resultInformation": {"code": 400, "subCode": 8535, "message": "bad"},
        "publicEventType": "Microsoft.Communication.PlayFailed",
    }


def test_operation_context_is_absent_when_none_was_given():
    event = build_event(event_type="CallConnected", call_connection_id="c", server_call_id="s", correlation_id="r",
                        api_version="2026-03-12", result=None, operation_context=None, extra={}, now=NOW)
    assert "operationContext" not in event["data"] and "resultInformation" not in event["data"]


def test_jwt_verifies_with_the_published_jwks_and_claims():
    signer = JwtSigner("https://issuer.example", "resource-guid")
    now = datetime.now(UTC)
    token = signer.token(now)
    assert jwt.get_unverified_header(token)["kid"] == signer.kid
    key = jwt.PyJWK(signer.jwks()["keys"][0])
    claims = jwt.decode(token, key.key, algorithms=["RS256"], audience="resource-guid", issuer="https://issuer.example")
    assert claims["exp"] - claims["iat"] == 300 and claims["nbf"] == claims["iat"]
    assert signer.token(now) != token  # a fresh token per event


def test_jwt_from_another_signer_fails():
    ours, theirs = JwtSigner("i", "a"), JwtSigner("i", "a")
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(theirs.token(datetime.now(UTC)), jwt.PyJWK(ours.jwks()["keys"][0]).key, algorithms=["RS256"],
                   audience="a", issuer="i")


def _create(**overrides) -> dict:
    body = {"targets": [{"kind": "phoneNumber", "phoneNumber": {"value": "+14255550123"}}],
            "sourceCallerIdNumber": {"value": "+18005550100"}, "callbackUri": "https://app/cb"}
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


@pytest.mark.parametrize(("body", "field"), [
    (_create(sourceCallerIdNumber=None), "sourceCallerIdNumber"),
    (_create(callbackUri=None), "callbackUri"),
    (_create(callbackUri="not a url"), "callbackUri"),
    (_create(targets=[]), "targets"),
    (_create(targets=[{"kind": "phoneNumber", "phoneNumber": {"value": "123"}}]), "targets[0].phoneNumber.value"),
])
def test_create_call_errors_name_the_field(body, field):
    with pytest.raises(AcsError) as caught:
        bodies.create_call(body)
    assert f"'{field}'" in caught.value.message


def test_unknown_fields_are_ignored():
    parsed = bodies.create_call(_create(somethingNew={"x": 1}))
    assert parsed.caller_id == "+18005550100"


def test_recognize_defaults():
    parsed = bodies.recognize({"recognizeInputType": "dtmf",
                               "recognizeOptions": {"targetParticipant": {"rawId": "4:+14255550123"}}})
    assert (parsed.max_tones, parsed.initial_silence_seconds, parsed.inter_tone_seconds) == (1, 5, 2)


def test_recognize_other_input_types_are_rejected_naming_the_field():
    with pytest.raises(AcsError, match="recognizeInputType"):
        bodies.recognize({"recognizeInputType": "speech", "recognizeOptions": {}})


def test_send_dtmf_allows_at_most_18_tones():
    target = {"rawId": "4:+14255550123"}
    assert len(bodies.send_dtmf({"tones": ["one"] * 18, "targetParticipant": target}).tones) == 18
    with pytest.raises(AcsError, match="'tones'"):
        bodies.send_dtmf({"tones": ["one"] * 19, "targetParticipant": target})


def test_invalid_json_is_400():
    with pytest.raises(AcsError) as caught:
        bodies.parse_json_object(b"{not json")
    assert caught.value.status == 400


def test_config_reads_env_and_flags_win():
    config = parse_config(["--answer-delay-ms", "5"], {"ACS_EMULATOR_ANSWER_DELAY_MS": "7",
                                                      "ACS_EMULATOR_TIME_SCALE": "0.5"})
    assert (config.answer_delay_ms, config.time_scale) == (5, 0.5)
    assert config.scaled(1000) == 0.5
