"""The REST surface over raw HTTP: auth, api-versions, answer shapes, errors, headers and the control API."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import pytest
import requests

from shared.callautomation.auth import HmacAuth
from tests.support.acs import CALLER_ID, action, connected_call, create_call, phone, unique_number

DENIED = {"error": {"code": "Denied", "message": "Denied by the resource provider."}}


# --- authentication -----------------------------------------------------------------------------------------


def _assert_denied(response: requests.Response, reason: str) -> None:
    assert response.status_code == 401, response.text
    assert response.json() == DENIED
    assert reason in response.headers["x-emulator-auth-failure"]


def test_wrong_key_is_401(emulator):
    response = emulator.api("GET", "/calling/callConnections/x", auth=HmacAuth("b3RoZXIta2V5"))
    _assert_denied(response, "signature mismatch")


def test_stale_date_is_401(emulator):
    stale = HmacAuth(emulator.access_key, clock=lambda: datetime.now(UTC) - timedelta(minutes=20))
    _assert_denied(emulator.api("GET", "/calling/callConnections/x", auth=stale), "clock skew")


def test_missing_auth_headers_is_401(emulator):
    response = requests.get(emulator.endpoint + "/calling/callConnections/x?api-version=2025-05-15", timeout=5)
    _assert_denied(response, "missing Authorization")


def test_tampered_body_is_401(emulator, callback_sink):
    body = json.dumps({"targets": [phone(unique_number())], "sourceCallerIdNumber": {"value": CALLER_ID},
                       "callbackUri": callback_sink.new_url()}).encode()
    request = requests.Request("POST", emulator.endpoint + "/calling/callConnections?api-version=2025-05-15",
                               data=body, headers={"Content-Type": "application/json"},
                               auth=HmacAuth(emulator.access_key)).prepare()
    request.body = body.replace(b"+1", b"+2", 1)  # signed the original, send something else
    request.headers["Content-Length"] = str(len(request.body))
    with requests.Session() as session:
        _assert_denied(session.send(request, timeout=5), "x-ms-content-sha256")
    assert emulator.control("GET", "/requests", params={"operation": "createCall", "limit": 1}).json()[
        "value"][-1]["status"] == 401


def test_auth_failure_never_echoes_secrets(emulator):
    response = emulator.api("GET", "/calling/callConnections/x", auth=HmacAuth("b3RoZXIta2V5"))
    assert emulator.access_key not in response.text and "Signature" not in response.text
    assert all(emulator.access_key not in v for v in response.headers.values())


# --- api-version --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["2024-09-15", "2025-05-15", "2025-06-15", "2026-03-12"])
def test_supported_api_versions(emulator, version):
    response = emulator.api("GET", "/calling/callConnections/nope", api_version=version)
    assert response.status_code == 404 and response.json() == {"error": {"code": "8522",
                                                                          "message": "Call not found."}}


@pytest.mark.parametrize(("version", "code"), [(None, "MissingApiVersionParameter"),
                                               ("2020-01-01", "UnsupportedApiVersion"),
                                               ("", "MissingApiVersionParameter")])
def test_missing_or_unknown_api_version_is_400(emulator, version, code):
    response = emulator.api("GET", "/calling/callConnections/nope", api_version=version)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == code and response.json()["error"]["message"]


@pytest.mark.parametrize("version", ["2024-09-15", "2025-06-15"])
def test_events_carry_the_api_version_used_at_create(emulator, callback_sink, version):
    body = {"targets": [phone(unique_number())], "sourceCallerIdNumber": {"value": CALLER_ID},
            "callbackUri": callback_sink.new_url()}
    created = emulator.api("POST", "/calling/callConnections", json_body=body, api_version=version).json()
    connected = callback_sink.wait_for_event("CallConnected", call_connection_id=created["callConnectionId"])
    assert connected["data"]["version"] == version
    action(emulator, created["callConnectionId"], "terminate", None)


# --- answers as the service gives them ------------------------------------------------------------------------


def test_create_call_answer_and_headers(emulator, callback_sink):
    client_request_id = str(uuid.uuid4())
    callback = callback_sink.new_url()
    target = {"rawId": "4:+15005550001", "phoneNumber": {"value": "+15005550001"}}
    response = emulator.api("POST", "/calling/callConnections", headers={"x-ms-client-request-id": client_request_id},
                            json_body={"targets": [target], "sourceCallerIdNumber": {"value": CALLER_ID},
                                       "callbackUri": callback, "sourceDisplayName": "Contoso",
                                       "someFutureField": [1, 2]})
    assert response.status_code == 201
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.headers["x-ms-client-request-id"] == client_request_id
    body = response.json()
    assert response.headers["X-Microsoft-Skype-Chain-ID"] == body["correlationId"]
    assert body["callConnectionState"] == "connecting"
    assert body["targets"] == [{"rawId": "4:+15005550001", "kind": "phoneNumber",
                                "phoneNumber": {"value": "+15005550001"}}]
    assert body["sourceCallerIdNumber"] == {"value": CALLER_ID} and body["callbackUri"] == callback
    assert body["sourceDisplayName"] == "Contoso" and body["serverCallId"]
    call_id = body["callConnectionId"]
    callback_sink.wait_for_event("CallConnected", call_connection_id=call_id)
    got = emulator.api("GET", f"/calling/callConnections/{call_id}")
    assert got.status_code == 200 and got.json()["callConnectionState"] == "connected"
    hang_up = emulator.api("DELETE", f"/calling/callConnections/{call_id}")
    assert hang_up.status_code == 204 and hang_up.content == b""
    assert emulator.api("GET", f"/calling/callConnections/{call_id}").status_code == 404
    assert emulator.api("DELETE", f"/calling/callConnections/{call_id}").status_code == 404
    assert action(emulator, call_id, "terminate", None).status_code == 404


@pytest.mark.parametrize("spelling", [
    {"rawId": "8:acs:res_user1", "communicationUser": {"id": "8:acs:res_user1"}},
    {"kind": "communicationUser", "communicationUser": {"id": "8:acs:res_user1"}},
    {"rawId": "8:acs:res_user1", "kind": "communicationUser", "communicationUser": {"id": "8:acs:res_user1"}},
    {"rawId": "8:acs:res_user1"},
])
def test_identifier_spellings_are_accepted_and_answered_in_full(emulator, callback_sink, spelling):
    response = emulator.api("POST", "/calling/callConnections",
                            json_body={"targets": [spelling], "callbackUri": callback_sink.new_url()})
    assert response.status_code == 201, response.text  # no caller id needed for an ACS user
    assert response.json()["targets"] == [{"rawId": "8:acs:res_user1", "kind": "communicationUser",
                                           "communicationUser": {"id": "8:acs:res_user1"}}]
    action(emulator, response.json()["callConnectionId"], "terminate", None)


@pytest.mark.parametrize(("body", "field"), [
    ({"targets": [phone("12345")], "sourceCallerIdNumber": {"value": CALLER_ID}}, "targets[0].phoneNumber.value"),
    ({"targets": [phone("+14255550123")]}, "sourceCallerIdNumber"),
    ({"targets": [phone("+14255550123")], "sourceCallerIdNumber": {"value": "x"}}, "sourceCallerIdNumber.value"),
    ({"targets": "nope", "sourceCallerIdNumber": {"value": CALLER_ID}}, "targets"),
])
def test_invalid_create_bodies_name_the_field(emulator, callback_sink, body, field):
    response = emulator.api("POST", "/calling/callConnections", json_body={**body, "callbackUri": callback_sink.url})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "8523" and f"'{field}'" in response.json()["error"]["message"]


@pytest.mark.parametrize("raw", [b"{not json", b"[]", b"", b"\xff\xfe"])
def test_invalid_json_is_400(emulator, raw):
    response = emulator.api("POST", "/calling/callConnections", data=raw)
    assert response.status_code == 400 and response.json()["error"]["code"] == "8523"


def test_participants_list_get_and_add_answer(emulator, callback_sink):
    number = unique_number()
    call_id = connected_call(emulator, callback_sink, number)
    listed = emulator.api("GET", f"/calling/callConnections/{call_id}/participants").json()
    assert listed == {"value": [{"identifier": {"rawId": "4:" + number, "kind": "phoneNumber",
                                                "phoneNumber": {"value": number}},
                                 "isMuted": False, "isOnHold": False}]}
    encoded = quote("4:" + number, safe="")
    got = emulator.api("GET", f"/calling/callConnections/{call_id}/participants/{encoded}")
    assert got.status_code == 200 and got.json() == listed["value"][0]
    missing = emulator.api("GET", f"/calling/callConnections/{call_id}/participants/{quote('4:+1999', safe='')}")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "8522"

    other = unique_number()
    added = action(emulator, call_id, "participants:add",
                   {"participantToAdd": phone(other), "sourceCallerIdNumber": {"value": CALLER_ID}})
    assert added.status_code == 202
    assert set(added.json()) == {"participant", "invitationId"}  # no operationContext when none was sent
    assert added.json()["participant"]["identifier"]["rawId"] == "4:" + other
    no_caller = action(emulator, call_id, "participants:add", {"participantToAdd": phone(other)})
    assert no_caller.status_code == 400 and "sourceCallerIdNumber" in no_caller.json()["error"]["message"]
    callback_sink.wait_for_event("AddParticipantSucceeded", call_connection_id=call_id)
    updates = callback_sink.wait_for(lambda: [u for u in callback_sink.events(call_id, "ParticipantsUpdated")
                                              if len(u["data"]["participants"]) == 2])
    assert updates[0]["data"]["sequenceNumber"] == 2
    send = action(emulator, call_id, "sendDtmfTones", {"tones": ["one", "pound"], "targetParticipant": phone(other)})
    assert send.status_code == 202 and send.json() == {}
    callback_sink.wait_for_event("SendDtmfTonesCompleted", call_connection_id=call_id)
    too_many = action(emulator, call_id, "sendDtmfTones", {"tones": ["one"] * 19, "targetParticipant": phone(other)})
    assert too_many.status_code == 400
    action(emulator, call_id, "terminate", None)


def test_unknown_paths_and_methods(emulator):
    assert emulator.api("GET", "/calling/somethingElse").status_code == 404
    assert emulator.api("PUT", "/calling/callConnections/abc").status_code == 405
    assert emulator.api("POST", "/calling/callConnections/abc:fly", json_body={}).status_code == 404
    assert emulator.api("GET", "/calling/callConnections/abc:play").status_code == 405


# --- repeatability ------------------------------------------------------------------------------------------


def _repeat(request_id=None, sent=None):
    return {"Repeatability-Request-ID": request_id or str(uuid.uuid4()),
            "Repeatability-First-Sent": (sent or datetime.now(UTC)).strftime("%a, %d %b %Y %H:%M:%S GMT")}


def _create_body(callback_sink):
    return {"targets": [phone(unique_number())], "sourceCallerIdNumber": {"value": CALLER_ID},
            "callbackUri": callback_sink.new_url()}


def test_replay_returns_the_original_and_does_not_execute_again(emulator, callback_sink):
    headers, body = _repeat(), _create_body(callback_sink)
    first = emulator.api("POST", "/calling/callConnections", json_body=body, headers=headers)
    second = emulator.api("POST", "/calling/callConnections", json_body=body, headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.headers["Repeatability-Result"] == second.headers["Repeatability-Result"] == "accepted"
    assert first.json() == second.json()
    call_id = first.json()["callConnectionId"]
    assert _calls_to(emulator, body["targets"][0]["phoneNumber"]["value"]) == 1
    logged = emulator.control("GET", "/requests", params={"callConnectionId": call_id}).json()["value"]
    assert [r["repeatabilityResult"] for r in logged[:2]] == ["accepted", "replayed"]
    assert logged[0]["repeatabilityRequestId"] == headers["Repeatability-Request-ID"]
    action(emulator, call_id, "terminate", None)


def test_same_id_with_a_different_body_is_400(emulator, callback_sink):
    headers = _repeat()
    first = emulator.api("POST", "/calling/callConnections", json_body=_create_body(callback_sink), headers=headers)
    second = emulator.api("POST", "/calling/callConnections", json_body=_create_body(callback_sink), headers=headers)
    assert second.status_code == 400 and second.headers["Repeatability-Result"] == "rejected"
    action(emulator, first.json()["callConnectionId"], "terminate", None)


def test_first_sent_outside_the_window_is_412(emulator, callback_sink):
    headers = _repeat(sent=datetime.now(UTC) - timedelta(minutes=6))
    response = emulator.api("POST", "/calling/callConnections", json_body=_create_body(callback_sink), headers=headers)
    assert response.status_code == 412
    assert response.json()["error"]["message"] == "Repeatability first sent header not within 5 minute window"


@pytest.mark.parametrize("headers", [
    {"Repeatability-Request-ID": str(uuid.uuid4())},
    {"Repeatability-First-Sent": "Sun, 06 Nov 1994 08:49:37 GMT"},
    {"Repeatability-Request-ID": "nope", "Repeatability-First-Sent": _repeat()["Repeatability-First-Sent"]},
    {"Repeatability-Request-ID": str(uuid.uuid4()), "Repeatability-First-Sent": "garbage"},
])
def test_malformed_repeatability_headers_are_400(emulator, callback_sink, headers):
    response = emulator.api("POST", "/calling/callConnections", json_body=_create_body(callback_sink), headers=headers)
    assert response.status_code == 400 and response.headers["Repeatability-Result"] == "rejected"


def test_repeatable_mid_call_ops_replay_without_a_second_event(emulator, callback_sink):
    call_id = connected_call(emulator, callback_sink)
    headers = _repeat()
    body = {"tones": ["five"], "targetParticipant": {"rawId": "4:+14255550123"}, "operationContext": "dtmf-once"}
    assert action(emulator, call_id, "sendDtmfTones", body, headers=headers).status_code == 202
    again = action(emulator, call_id, "sendDtmfTones", body, headers=headers)
    assert again.status_code == 202 and again.headers["Repeatability-Result"] == "accepted"
    assert again.json() == {"operationContext": "dtmf-once"}
    callback_sink.wait_for_event("SendDtmfTonesCompleted", call_connection_id=call_id)
    terminate_headers = _repeat()
    assert action(emulator, call_id, "terminate", None, headers=terminate_headers).status_code == 204
    assert action(emulator, call_id, "terminate", None, headers=terminate_headers).status_code == 204  # replay
    callback_sink.wait_for_event("CallDisconnected", call_connection_id=call_id)
    assert len(callback_sink.events(call_id, "SendDtmfTonesCompleted")) == 1
    assert len(callback_sink.events(call_id, "CallDisconnected")) == 1


def test_an_original_that_failed_with_5xx_runs_again(emulator, callback_sink):
    emulator.control("POST", "/faults", json={"operation": "createCall", "status": 500, "count": 1})
    headers, body = _repeat(), _create_body(callback_sink)
    assert emulator.api("POST", "/calling/callConnections", json_body=body, headers=headers).status_code == 500
    retried = emulator.api("POST", "/calling/callConnections", json_body=body, headers=headers)
    assert retried.status_code == 201
    action(emulator, retried.json()["callConnectionId"], "terminate", None)


# --- faults -------------------------------------------------------------------------------------------------


def _calls_to(emulator, number: str) -> int:
    return sum(1 for c in emulator.control("GET", "/calls/history").json()["value"] if c["targets"] == ["4:" + number])


@pytest.mark.parametrize(("status", "code"), [(429, "TooManyRequests"), (500, "InternalServerError"),
                                              (503, "ServiceUnavailable")])
def test_status_faults_do_not_execute(emulator, callback_sink, status, code):
    fault = emulator.control("POST", "/faults", json={"operation": "createCall", "status": status, "count": 2,
                                                      "retryAfterSeconds": 3})
    assert fault.status_code == 201 and fault.json()["id"]
    number = unique_number()
    for _ in range(2):
        response = create_call(emulator, callback_sink.new_url(), number)
        assert response.status_code == status and response.json()["error"]["code"] == code
        assert response.headers["Retry-After"] == "3"
    assert _calls_to(emulator, number) == 0
    response = create_call(emulator, callback_sink.new_url(), number)  # the fault is used up
    assert response.status_code == 201
    assert _calls_to(emulator, number) == 1
    action(emulator, response.json()["callConnectionId"], "terminate", None)


def test_delay_fault_delays_then_executes(emulator, callback_sink):
    call_id = connected_call(emulator, callback_sink)
    emulator.control("POST", "/faults", json={"operation": "getCall", "delayMs": 600})
    response = emulator.api("GET", f"/calling/callConnections/{call_id}")
    assert response.status_code == 200 and response.elapsed.total_seconds() >= 0.55  # a delay the emulator adds
    faults = emulator.control("GET", "/faults").json()["value"]
    assert not [f for f in faults if f["operation"] == "getCall"]  # used up: the next request is not delayed
    assert emulator.api("GET", f"/calling/callConnections/{call_id}").status_code == 200
    action(emulator, call_id, "terminate", None)


def test_wildcard_fault_and_listing(emulator):
    emulator.control("POST", "/faults", json={"operation": "*", "status": 503, "count": 1})
    assert [f["operation"] for f in emulator.control("GET", "/faults").json()["value"]] == ["*"]
    assert emulator.api("GET", "/calling/callConnections/any").status_code == 503
    assert emulator.api("GET", "/calling/callConnections/any").status_code == 404
    emulator.control("POST", "/faults", json={"operation": "play", "status": 429})
    assert emulator.control("DELETE", "/faults").status_code == 204
    assert emulator.control("GET", "/faults").json()["value"] == []


@pytest.mark.parametrize("fault", [{"operation": "fly", "status": 500}, {"operation": "play", "status": 404},
                                   {"operation": "play", "status": 500, "count": 0}, {"operation": "play"}])
def test_invalid_faults_are_rejected(emulator, fault):
    assert emulator.control("POST", "/faults", json=fault).status_code == 400


# --- control API --------------------------------------------------------------------------------------------


def test_control_api_inspection(emulator, callback_sink):
    call_id = connected_call(emulator, callback_sink)
    assert any(c["callConnectionId"] == call_id for c in emulator.control("GET", "/calls").json()["value"])
    detail = emulator.control("GET", f"/calls/{call_id}").json()
    assert detail["state"] == "connected" and len(detail["participants"]) == 1
    assert [e["type"] for e in detail["events"]][:2] == ["Microsoft.Communication.CallConnected",
                                                        "Microsoft.Communication.ParticipantsUpdated"]
    callback_sink.wait_for(lambda: len(emulator.control("GET", "/callbacks", params={
        "callConnectionId": call_id}).json()["value"]) == 2 and all(
        d["status"] == "delivered" for d in emulator.control("GET", "/callbacks", params={
            "callConnectionId": call_id}).json()["value"]))
    stats = emulator.control("GET", "/stats").json()
    assert stats["liveCalls"] >= 1 and stats["peakConcurrentCallsByCallerId"][CALLER_ID] >= 1
    requests_log = emulator.control("GET", "/requests", params={"callConnectionId": call_id}).json()["value"]
    assert requests_log[0]["operation"] == "createCall" and requests_log[0]["status"] == 201
    assert emulator.control("GET", "/calls/not-a-call").status_code == 404
    health = emulator.control("GET", "/health").json()
    assert health["resourceId"] == emulator.resource_id
    assert health["apiVersions"] == ["2024-09-15", "2025-05-15", "2025-06-15", "2026-03-12"]
    action(emulator, call_id, "terminate", None)
