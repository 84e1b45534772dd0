"""Hypothesis throws malformed JSON bodies, identifiers, headers and paths at every route: never a 5xx."""

from __future__ import annotations

import json

import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.callautomation.auth import HmacAuth
from tests.support.acs import connected_call

SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck), database=None)

ACTIONS = [":play", ":recognize", ":cancelAllMediaOperations", ":startContinuousDtmfRecognition",
           ":stopContinuousDtmfRecognition", ":sendDtmfTones", ":transferToParticipant",
           "/participants:add", "/participants:remove", "/participants:cancelAddParticipant", "/participants", ""]

scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12), st.floats(allow_nan=False),
                    st.text(max_size=30), st.sampled_from(["+14255550123", "4:+1425", "8:acs:x", "dtmf", "file",
                                                           "text", "pound", "one", "", "http://127.0.0.1:1/x"]))
identifiers = st.one_of(
    st.fixed_dictionaries({}, optional={
        "rawId": st.one_of(st.text(max_size=20), st.sampled_from(["4:+14255550123", "8:acs:abc", "28:orgid:x"]),
                           st.integers()),
        "kind": st.one_of(st.sampled_from(["phoneNumber", "communicationUser", "microsoftTeamsUser",
                                           "microsoftTeamsApp", "unknown", "bogus"]), st.integers()),
        "phoneNumber": st.one_of(st.fixed_dictionaries({"value": scalars}), scalars),
        "communicationUser": st.one_of(st.fixed_dictionaries({"id": scalars}), scalars),
        "microsoftTeamsUser": st.dictionaries(st.sampled_from(["userId", "cloud", "isAnonymous"]), scalars),
        "microsoftTeamsApp": st.dictionaries(st.sampled_from(["appId", "cloud"]), scalars),
    }),
    scalars,
)
json_values = st.recursive(st.one_of(scalars, identifiers),
                           lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10),
                                                                                             children, max_size=4),
                           max_leaves=12)
FIELDS = ["targets", "callbackUri", "sourceCallerIdNumber", "source", "playSources", "playTo", "playOptions",
          "recognizeInputType", "recognizeOptions", "playPrompt", "playPrompts", "tones", "targetParticipant",
          "participantToAdd", "participantToRemove", "invitationId", "invitationTimeoutInSeconds", "transferee",
          "operationContext", "operationCallbackUri", "interruptCallMediaOperation"]
bodies = st.one_of(
    st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=6).map(lambda d: json.dumps(d).encode()),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=200),
    st.text(max_size=100).map(lambda t: t.encode("utf-8", "surrogatepass")),
)


def _signed(emulator, method: str, path: str, body: bytes, headers: dict | None = None) -> requests.Response:
    return requests.request(method, emulator.endpoint + path, data=body, headers=headers or {},
                            auth=HmacAuth(emulator.access_key), timeout=10)


def test_malformed_bodies_and_identifiers_never_cause_a_5xx(emulator, callback_sink):
    call_id = connected_call(emulator, callback_sink)

    @SETTINGS
    @given(suffix=st.sampled_from(ACTIONS), body=bodies, create=st.booleans())
    def run(suffix, body, create):
        path = "/calling/callConnections" if create else f"/calling/callConnections/{call_id}{suffix}"
        method = "POST" if create or suffix not in ("", "/participants") else "GET"
        response = _signed(emulator, method, path + "?api-version=2025-05-15", body,
                           {"Content-Type": "application/json"})
        assert response.status_code < 500, (path, body, response.text)

    run()


def test_malformed_paths_and_queries_never_cause_a_5xx(emulator):
    segment = st.text(alphabet=st.characters(codec="ascii", exclude_characters="?#"), max_size=20)

    @SETTINGS
    @given(method=st.sampled_from(["GET", "POST", "DELETE", "PUT", "PATCH"]),
           call=segment, tail=st.sampled_from([*ACTIONS, "/participants/4%3A%2B1", "/participants/%ZZ", "%3Aplay",
                                                         "/x/y/z", "::", "/participants/"]),
           query=st.sampled_from(["api-version=2025-05-15", "", "api-version=", "api-version=%FF",
                                  "api-version=2025-05-15&api-version=x", "a=b&&c", "%%"]))
    def run(method, call, tail, query):
        path = "/calling/callConnections/" + requests.utils.quote(call, safe="%:/") + tail
        response = _signed(emulator, method, path + "?" + query, b"{}")
        assert response.status_code < 500, (method, path, query, response.text)

    run()


def test_malformed_headers_never_cause_a_5xx(emulator):
    # requests refuses leading/trailing whitespace itself, so strip it
    header_values = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=80).map(str.strip)

    @SETTINGS
    @given(authorization=header_values, date=header_values, content_hash=header_values, request_id=header_values,
           first_sent=header_values, client_id=header_values, sign=st.booleans())
    def run(authorization, date, content_hash, request_id, first_sent, client_id, sign):
        headers = {"Repeatability-Request-ID": request_id, "Repeatability-First-Sent": first_sent,
                   "x-ms-client-request-id": client_id}
        url = emulator.endpoint + "/calling/callConnections?api-version=2025-05-15"
        if sign:
            response = requests.post(url, data=b"{}", headers=headers, auth=HmacAuth(emulator.access_key), timeout=10)
        else:
            headers.update({"Authorization": authorization, "x-ms-date": date, "x-ms-content-sha256": content_hash})
            response = requests.post(url, data=b"{}", headers=headers, timeout=10)
        assert response.status_code < 500, response.text
        assert response.status_code in (400, 401, 412)

    run()


def test_control_api_rejects_garbage_without_5xx(emulator):
    @SETTINGS
    @given(path=st.sampled_from(["/emulator/faults", "/emulator/callees/+14255550123", "/emulator/calls/x/dtmf",
                                 "/emulator/calls/x/hangup"]), body=bodies)
    def run(path, body):
        method = "PUT" if "callees" in path else "POST"
        response = requests.request(method, emulator.endpoint + path, data=body, timeout=10)
        assert response.status_code < 500, (path, body, response.text)

    run()
    emulator.control("DELETE", "/faults")
    emulator.control("DELETE", "/callees/+14255550123")
