"""Callback delivery: JWT on every callback (verified with PyJWT against the emulator's own JWKS), retries on a
failing webhook, strict per-call order, operationCallbackUri."""

from __future__ import annotations

import socket
from datetime import UTC, datetime

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.support.acs import action, connected_call, create_call, phone, unique_number


def _token(request) -> str:
    scheme, _, token = request.headers["authorization"].partition(" ")
    assert scheme == "Bearer"
    return token


def test_every_callback_carries_a_jwt_that_verifies_against_the_emulator_jwks(emulator, callback_sink):
    config = requests.get(emulator.endpoint + "/calling/.well-known/acsopenidconfiguration", timeout=5).json()
    assert config["issuer"] == emulator.issuer == "https://acscallautomation.communication.azure.com"
    assert config["jwks_uri"] == emulator.endpoint + "/calling/keys"
    jwks_client = jwt.PyJWKClient(config["jwks_uri"])

    call_id = connected_call(emulator, callback_sink)
    action(emulator, call_id, "terminate", None)
    callback_sink.wait_for_event("CallDisconnected", call_connection_id=call_id)
    tokens = [_token(r) for r in callback_sink.received]
    assert len(tokens) == 3 and len(set(tokens)) == 3  # a fresh token per event
    for token in tokens:
        key = jwks_client.get_signing_key_from_jwt(token)
        claims = jwt.decode(token, key.key, algorithms=["RS256"], issuer=emulator.issuer,
                            audience=emulator.resource_id)
        assert claims["exp"] - claims["iat"] == 300 and claims["nbf"] == claims["iat"]
        assert abs(claims["iat"] - datetime.now(UTC).timestamp()) < 60
        with pytest.raises(jwt.ExpiredSignatureError):  # 301 s from now it has expired
            jwt.decode(token, key.key, algorithms=["RS256"], issuer=emulator.issuer, audience=emulator.resource_id,
                       leeway=-301, options={"verify_iat": False, "verify_nbf": False})
        with pytest.raises(jwt.InvalidAudienceError):
            jwt.decode(token, key.key, algorithms=["RS256"], issuer=emulator.issuer, audience="someone-else")
        with pytest.raises(jwt.InvalidIssuerError):
            jwt.decode(token, key.key, algorithms=["RS256"], issuer="https://evil.example",
                       audience=emulator.resource_id)


def test_a_token_signed_by_another_key_fails(emulator, callback_sink):
    jwks_client = jwt.PyJWKClient(emulator.endpoint + "/calling/keys")
    kid = jwks_client.get_signing_keys()[0].key_id
    now = int(datetime.now(UTC).timestamp())
    forged = jwt.encode({"iss": emulator.issuer, "aud": emulator.resource_id, "iat": now, "nbf": now, "exp": now + 300},
                        rsa.generate_private_key(public_exponent=65537, key_size=2048), algorithm="RS256",
                        headers={"kid": kid})
    key = jwks_client.get_signing_key_from_jwt(forged)
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(forged, key.key, algorithms=["RS256"], issuer=emulator.issuer, audience=emulator.resource_id)


def test_failing_webhook_is_retried_until_it_succeeds(emulator, callback_sink):
    callback_sink.fail_next(2, status=503)
    response = create_call(emulator, callback_sink.new_url(), unique_number())
    call_id = response.json()["callConnectionId"]
    callback_sink.wait_for_event("ParticipantsUpdated", call_connection_id=call_id)
    deliveries = emulator.control("GET", "/callbacks", params={"callConnectionId": call_id}).json()["value"]
    first = deliveries[0]
    assert (first["type"], first["attempts"], first["status"], first["httpStatus"]) == (
        "Microsoft.Communication.CallConnected", 3, "delivered", 200)
    assert deliveries[1]["attempts"] == 1
    action(emulator, call_id, "terminate", None)


def test_exhausted_retries_are_recorded_and_later_events_still_go_out(emulator, callback_sink):
    callback_sink.fail_next(4, status=500)  # first try + 3 retries
    call_id = create_call(emulator, callback_sink.new_url(), unique_number()).json()["callConnectionId"]
    callback_sink.wait_for_event("ParticipantsUpdated", call_connection_id=call_id)
    deliveries = emulator.control("GET", "/callbacks", params={"callConnectionId": call_id}).json()["value"]
    assert (deliveries[0]["attempts"], deliveries[0]["status"], deliveries[0]["error"]) == (4, "failed", "HTTP 500")
    assert not callback_sink.events(call_id, "CallConnected")
    detail = emulator.control("GET", f"/calls/{call_id}").json()
    assert detail["events"][0]["delivery"]["status"] == "failed"
    action(emulator, call_id, "terminate", None)


def test_unreachable_webhook_records_the_connection_error(emulator, callback_sink):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}/cb"
    call_id = create_call(emulator, dead, unique_number()).json()["callConnectionId"]

    def failed():
        rows = emulator.control("GET", "/callbacks", params={"callConnectionId": call_id}).json()["value"]
        return [r for r in rows if r["status"] == "failed"]

    row = callback_sink.wait_for(failed)[0]
    assert row["attempts"] == 4 and row["httpStatus"] is None and row["error"]
    action(emulator, call_id, "terminate", None)


def test_events_of_one_call_arrive_in_order_even_with_retries(emulator, callback_sink):
    number = unique_number()
    call_id = connected_call(emulator, callback_sink, number)
    action(emulator, call_id, "startContinuousDtmfRecognition", {"targetParticipant": phone(number)})
    callback_sink.fail_next(3)
    emulator.control("POST", f"/calls/{call_id}/dtmf", json={"tones": "1234567890*#"})
    action(emulator, call_id, "terminate", None)
    callback_sink.wait_for_event("CallDisconnected", call_connection_id=call_id)
    received = [e["id"] for e in callback_sink.events(call_id)]
    emitted = [e["id"] for e in emulator.control("GET", f"/calls/{call_id}").json()["events"]]
    assert received == emitted
    tones = callback_sink.events(call_id, "ContinuousDtmfRecognitionToneReceived")
    assert [e["data"]["sequenceId"] for e in tones] == list(range(1, 13))


def test_operation_callback_uri_receives_the_operation_events(emulator, callback_sink):
    call_id = connected_call(emulator, callback_sink)
    ops_url = callback_sink.new_url("/ops")
    action(emulator, call_id, "play", {"playSources": [{"kind": "text", "text": {"text": "hi"}}],
                                       "operationCallbackUri": ops_url, "operationContext": "op"})
    callback_sink.wait_for_event("PlayCompleted", call_connection_id=call_id)
    path = ops_url.removeprefix(callback_sink.url)
    assert [r.json[0]["type"].split(".")[-1] for r in callback_sink.requests_for(path)] == ["PlayStarted",
                                                                                           "PlayCompleted"]
    action(emulator, call_id, "terminate", None)
