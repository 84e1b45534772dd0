"""Callback delivery: JWT on every callback (verified with PyJWT against the emulator's own JWKS), retries on a
failing webhook, strict per-call order, operationCallbackUri."""

from __future__ import annotations

from datetime import UTC, datetime

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa

from devstack.processes import free_ports
from tests.support.acs import action, connected_call, create_call, event_types, phone, unique_number


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


def test_the_logs_time_the_attempt_that_delivered_and_the_arrival_of_each_request(emulator, callback_sink):
    """What `make bench` measures the app's reaction time from: the start of the attempt that delivered an event
    (not its first try, nor when it was queued) to the arrival of the request the app then sent."""
    callback_sink.fail_next(1, status=503)
    call_id = connected_call(emulator, callback_sink)
    action(emulator, call_id, "terminate", None)
    callback_sink.wait_for_event("CallDisconnected", call_connection_id=call_id)

    deliveries = emulator.control("GET", "/callbacks", params={"callConnectionId": call_id}).json()["value"]
    connected = deliveries[0]
    assert (connected["type"], connected["attempts"], connected["status"]) == (
        "Microsoft.Communication.CallConnected", 2, "delivered")
    queued, started, completed = (datetime.fromisoformat(connected[k])
                                  for k in ("queuedAt", "attemptStartedAt", "completedAt"))
    assert (started - queued).total_seconds() >= 0.02  # the second attempt, after the 20 ms backoff
    assert started <= completed
    terminate = emulator.control("GET", "/requests", params={"callConnectionId": call_id, "operation": "terminate"}
                                 ).json()["value"][0]  # fmt: skip
    received, answered = datetime.fromisoformat(terminate["receivedAt"]), datetime.fromisoformat(terminate["time"])
    assert started <= received <= answered


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
    dead = f"http://127.0.0.1:{free_ports()[0]}/cb"  # nobody listens there
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


# --- lost callbacks -----------------------------------------------------------------------------------------


def _deliveries(emulator, call_id: str) -> list[tuple[str, str]]:
    rows = emulator.control("GET", "/callbacks", params={"callConnectionId": call_id}).json()["value"]
    return [(row["type"].removeprefix("Microsoft.Communication."), row["status"]) for row in rows]


def _settled(emulator, sink, call_id: str, event_type: str) -> list[tuple[str, str]]:
    """The call's delivery log once an `event_type` event shows as dropped. A call's events take their turn in one
    queue, so by then every earlier event has been delivered or failed: nothing before it can still reach the sink."""

    def log_once_dropped() -> list[tuple[str, str]] | None:
        rows = _deliveries(emulator, call_id)
        return rows if (event_type, "dropped") in rows else None

    return sink.wait_for(log_once_dropped)


def _ended(emulator, call_id: str) -> dict | None:
    history = emulator.control("GET", "/calls/history").json()["value"]
    return next((c for c in history if c["callConnectionId"] == call_id and c["endedAt"]), None)


def _script(emulator, number: str, script: dict) -> None:
    response = emulator.control("PUT", f"/callees/{number}", json=script)
    assert response.status_code == 200, response.text


def test_a_target_whose_callbacks_are_all_dropped_gets_none_yet_its_call_runs_and_ends(emulator, callback_sink):
    number = unique_number()
    # answers at once, hangs up after 2 s (40 s x 0.05): a scripted call the app never hears about
    _script(emulator, number, {"answerAfterMs": 0, "hangUpAfterMs": 40_000, "callbacks": {"dropAfter": 0}})
    assert emulator.control("GET", f"/callees/{number}").json()["attempts"][0]["callbacks"] == {"dropAfter": 0}
    dropped_before = emulator.control("GET", "/stats").json()["callbacksDropped"]
    call_id = create_call(emulator, callback_sink.new_url(), number).json()["callConnectionId"]

    assert _settled(emulator, callback_sink, call_id, "ParticipantsUpdated")[:2] == [
        ("CallConnected", "dropped"), ("ParticipantsUpdated", "dropped")]
    assert emulator.api("GET", f"/calling/callConnections/{call_id}").json()["callConnectionState"] == "connected"
    assert callback_sink.received == []

    ended = callback_sink.wait_for(lambda: _ended(emulator, call_id))
    assert ended["endReason"]["subCode"] == 5010  # the callee hung up, as scripted
    assert _settled(emulator, callback_sink, call_id, "CallDisconnected") == [
        ("CallConnected", "dropped"), ("ParticipantsUpdated", "dropped"), ("ParticipantsUpdated", "dropped"),
        ("CallDisconnected", "dropped")]
    assert emulator.api("GET", f"/calling/callConnections/{call_id}").status_code == 404
    assert callback_sink.received == []
    detail = emulator.control("GET", f"/calls/{call_id}").json()
    assert detail["callbacks"] == {"dropAfter": 0, "eventsEmitted": 4, "eventsDropped": 4}
    assert {e["delivery"]["attempts"] for e in detail["events"]} == {0}  # never even tried
    assert emulator.control("GET", "/stats").json()["callbacksDropped"] == dropped_before + 4


def test_drop_after_one_delivers_call_connected_and_nothing_later(emulator, callback_sink):
    number = unique_number()
    _script(emulator, number, {"callbacks": {"dropAfter": 1}})
    call_id = connected_call(emulator, callback_sink, number)
    ops_url = callback_sink.new_url("/ops")  # the rule covers the call's events wherever they would go
    action(emulator, call_id, "play", {"playSources": [{"kind": "text", "text": {"text": "hi"}}],
                                       "operationCallbackUri": ops_url})
    _settled(emulator, callback_sink, call_id, "PlayCompleted")
    assert action(emulator, call_id, "terminate", None).status_code == 204

    assert _settled(emulator, callback_sink, call_id, "CallDisconnected") == [
        ("CallConnected", "delivered"), ("ParticipantsUpdated", "dropped"), ("PlayStarted", "dropped"),
        ("PlayCompleted", "dropped"), ("CallDisconnected", "dropped")]
    assert [r.json[0]["type"] for r in callback_sink.received] == ["Microsoft.Communication.CallConnected"]
    assert emulator.control("GET", f"/calls/{call_id}").json()["callbacks"] == {
        "dropAfter": 1, "eventsEmitted": 5, "eventsDropped": 4}


def test_each_attempt_of_a_script_has_its_own_callbacks_rule(emulator, callback_sink):
    number = unique_number()
    _script(emulator, number, {"attempts": [{"answer": "busy", "callbacks": {"dropAfter": 0}}, {"answerAfterMs": 0}]})
    lost = create_call(emulator, callback_sink.new_url(), number).json()["callConnectionId"]
    assert callback_sink.wait_for(lambda: _ended(emulator, lost))["endReason"]["code"] == 486
    assert _settled(emulator, callback_sink, lost, "CallDisconnected") == [
        ("CreateCallFailed", "dropped"), ("CallDisconnected", "dropped")]

    heard = connected_call(emulator, callback_sink, number)  # the second attempt answers, callbacks and all
    assert callback_sink.events(lost) == []
    action(emulator, heard, "terminate", None)
    callback_sink.wait_for_event("CallDisconnected", call_connection_id=heard)


def test_a_live_call_can_lose_its_callbacks_and_get_them_back(emulator, callback_sink):
    call_id = connected_call(emulator, callback_sink)
    dropping = emulator.control("POST", f"/calls/{call_id}/callbacks", json={"drop": True})
    assert dropping.status_code == 200
    assert dropping.json() == {"callConnectionId": call_id, "dropAfter": 2, "eventsEmitted": 2, "eventsDropped": 0}
    action(emulator, call_id, "play", {"playSources": [{"kind": "text", "text": {"text": "hi"}}]})
    _settled(emulator, callback_sink, call_id, "PlayCompleted")

    delivering = emulator.control("POST", f"/calls/{call_id}/callbacks", json={"drop": False})
    assert delivering.json() == {"callConnectionId": call_id, "dropAfter": None, "eventsEmitted": 4,
                                 "eventsDropped": 2}
    action(emulator, call_id, "terminate", None)
    callback_sink.wait_for_event("CallDisconnected", call_connection_id=call_id)
    assert event_types(callback_sink, call_id) == ["CallConnected", "ParticipantsUpdated", "CallDisconnected"]
    gone = emulator.control("POST", f"/calls/{call_id}/callbacks", json={"drop": True})
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "8522"


def test_a_live_call_can_keep_its_first_n_callbacks(emulator, callback_sink):
    call_id = connected_call(emulator, callback_sink)
    answer = emulator.control("POST", f"/calls/{call_id}/callbacks", json={"dropAfter": 3})  # counted from the start
    assert answer.json()["dropAfter"] == 3
    action(emulator, call_id, "play", {"playSources": [{"kind": "text", "text": {"text": "hi"}}]})
    assert _settled(emulator, callback_sink, call_id, "PlayCompleted")[2:] == [
        ("PlayStarted", "delivered"), ("PlayCompleted", "dropped")]
    assert event_types(callback_sink, call_id) == ["CallConnected", "ParticipantsUpdated", "PlayStarted"]
    action(emulator, call_id, "terminate", None)


@pytest.mark.parametrize(("body", "message"), [
    (None, "the body must be"),
    ({}, "the body must be"),
    ({"drop": True, "dropAfter": 1}, "the body must be"),
    ({"lose": True}, "the body must be"),
    ({"drop": "yes"}, "drop must be true or false"),
    ({"dropAfter": -1}, "dropAfter must be a whole number"),
    ({"dropAfter": 2.5}, "dropAfter must be a whole number"),
])
def test_invalid_callbacks_requests_are_400(emulator, callback_sink, body, message):
    call_id = connected_call(emulator, callback_sink)
    response = emulator.control("POST", f"/calls/{call_id}/callbacks", json=body)
    assert response.status_code == 400 and response.json()["error"]["message"].startswith(message)
    action(emulator, call_id, "terminate", None)


def test_callbacks_of_an_unknown_call_is_404(emulator):
    response = emulator.control("POST", "/calls/no-such-call/callbacks", json={"drop": True})
    assert response.status_code == 404 and response.json()["error"]["code"] == "8522"


def test_invalid_callbacks_rules_in_scripts_are_400(emulator):
    response = emulator.control("PUT", "/callees/+14255550198", json={"callbacks": {"dropAfter": -1}})
    assert response.status_code == 400 and "script.callbacks.dropAfter" in response.json()["error"]["message"]
    response = emulator.control("PUT", "/callees/+14255550198", json={"attempts": [{}, {"callbacks": True}]})
    assert response.status_code == 400 and "attempts[1].callbacks" in response.json()["error"]["message"]
    assert emulator.control("GET", "/callees/+14255550198").status_code == 404  # nothing was stored
