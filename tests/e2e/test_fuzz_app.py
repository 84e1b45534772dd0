"""Random input thrown at every route of the app: never a 5xx, always the seed's error body (or the host's own
answer when the request never reaches the app), and nothing written."""

import json
from dataclasses import dataclass
from urllib.parse import quote

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devhost.http_server import MAX_REQUEST_LINE_BYTES
from shared.bounded_json import MAX_DEPTH
from tests.e2e.hostile_support import (
    NUMBER,
    PLAN,
    PLAY,
    arrays,
    assert_refused_by_host,
    assert_seed_error,
    callback_event,
    callback_headers,
    dumps,
    empty_campaign,
    live_call,
    nothing_written,
    objects,
    request_line_bytes,
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)
field_names = st.sampled_from(
    [
        "targets",
        "source",
        "alternateCallerId",
        "subject",
        "callbackUri",
        "requestedModalities",
        "requestedCallEvents",
        "audioFileUri",
        "loop",
        "operationContext",
        "resourceId",
        "participants",
        "idempotencyKey",
    ]
)
bodies = st.dictionaries(field_names, json_values, max_size=6).map(json.dumps).map(str.encode) | st.binary(max_size=64)
paths = st.sampled_from(
    [
        "/calls",
        "/calls/{id}/PlayAudio",
        "/calls/{id}/participants",
        "/calls/{id}/CancelMediaProcessing",
        "/calls/{id}/Hangup",
        "/callbacks/{id}",
    ]
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=paths, body=bodies, call_id=st.sampled_from(["00000000-0000-4000-8000-000000000000", "x", "%20"]))
def test_no_input_gets_a_5xx(stack, path, body, call_id):
    answer = requests.post(stack.app_url + path.replace("{id}", call_id), data=body, timeout=15)

    assert answer.status_code < 500, (path, body, answer.status_code, answer.text)
    if answer.status_code >= 400 and answer.content:
        assert set(answer.json()) == {"code", "message"}


# -- every route, with ids up to 100,000 characters and JSON nested up to 20,000 levels --------------------------

ID_ALPHABETS = ["a", "Z9-", "'", "#?\\", "%", "é", "\u202e", "\x00\x1f", " ", "+1", "8:acs:", "a/b"]
ID_LENGTHS = [1, 35, 37, 41, 256, 257, 1_025, 4_096, 8_150, 8_192, 9_000, 65_537, 100_000]
BODY_ID_LENGTHS = [4_097, 30_000, 100_000]  # longer than any id or text field a body may carry


def _hostile_id(alphabet: str, length: int) -> str:
    if alphabet == "8:acs:":
        length = max(length, 257)  # shorter, it is a well-formed participant id (and a real remove on the live call)
    return (alphabet * (length // len(alphabet) + 1))[:length]


hostile_ids = st.builds(_hostile_id, st.sampled_from(ID_ALPHABETS), st.sampled_from(ID_LENGTHS))
long_ids = st.builds(_hostile_id, st.sampled_from(ID_ALPHABETS), st.sampled_from(BODY_ID_LENGTHS))
nested = st.builds(
    lambda shape, depth: shape(depth),
    st.sampled_from([arrays, objects, lambda d: '{"targets": ' + arrays(d) + "}", lambda d: "[" * d]),
    st.sampled_from([MAX_DEPTH + 1, 100, 1_000, 20_000]),
)


def _with_long_id(kind: str, long_id: str, choice: int) -> object:
    """A body for `kind` that would be accepted but for one id or text field of `long_id`."""
    bodies = {
        "call": [{"targets": [long_id]}, {"targets": [NUMBER], "idempotencyKey": long_id},
                 {"targets": [{"rawId": long_id}]}, {"targets": [NUMBER], "alternateCallerId": long_id}],
        "play": [{**PLAY, "operationContext": long_id}, {**PLAY, "resourceId": long_id}, {"audioFileUri": long_id}],
        "cancel": [{"operationContext": long_id}],
        "invite": [{"participants": [long_id]}, {"participants": [{"communicationUser": {"id": long_id}}]}],
        "campaign": [{"campaignId": long_id, "plan": PLAN}, {"plan": PLAN, "callerIds": [long_id]},
                     {"plan": PLAN, "recipients": [long_id]}, {"plan": PLAN, "timeZone": long_id}],
        "recipients": [{"recipients": [long_id]}, {"recipients": [{"phoneNumber": NUMBER, "timeZone": long_id}]}],
        "callback": [callback_event(id=long_id), callback_event(data={"callConnectionId": long_id}),
                     callback_event(type="Microsoft.Communication." + long_id)],
    }
    options = bodies[kind]
    return options[choice % len(options)]


@dataclass(frozen=True)
class FuzzRoute:
    method: str
    template: str  # {id}: the id under test; {leg}: a live call leg
    body: str | None = None  # what the route reads; None: no body
    on_existing: bool = False  # also aim hostile bodies at the live call or the existing campaign


FUZZ_ROUTES = [
    FuzzRoute("POST", "/calls", "call"),
    FuzzRoute("GET", "/calls/{id}"),
    FuzzRoute("POST", "/calls/{id}/Hangup"),
    FuzzRoute("POST", "/calls/{id}/PlayAudio", "play", on_existing=True),
    FuzzRoute("POST", "/calls/{id}/CancelMediaProcessing", "cancel", on_existing=True),
    FuzzRoute("POST", "/calls/{id}/participants", "invite", on_existing=True),
    FuzzRoute("DELETE", "/calls/{leg}/participants/{id}"),
    FuzzRoute("DELETE", "/calls/{id}/participants/8%3Aacs%3Afuzz"),
    FuzzRoute("POST", "/callbacks/{id}", "callback", on_existing=True),
    FuzzRoute("POST", "/campaigns", "campaign"),
    FuzzRoute("GET", "/campaigns/{id}"),
    FuzzRoute("POST", "/campaigns/{id}/recipients", "recipients", on_existing=True),
    FuzzRoute("POST", "/campaigns/{id}/cancel"),
    FuzzRoute("GET", "/campaigns/{id}/calls.csv"),
    FuzzRoute("GET", "/campaigns/{id}/report.html"),
]


@pytest.fixture(scope="module")
def existing(stack) -> dict[str, str]:
    return {"leg": live_call(stack), "campaign": empty_campaign(stack)}


@pytest.fixture
def writes_nothing(stack):
    """Around all of a test's examples: hypothesis runs them inside one call of the test."""
    with nothing_written(stack):
        yield


@pytest.mark.parametrize("route", FUZZ_ROUTES, ids=lambda route: f"{route.method} {route.template}")
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_every_route_refuses_hostile_ids_and_nesting_and_writes_nothing(stack, existing, writes_nothing, route, data):
    raw_id = data.draw(hostile_ids, "id")
    headers: dict[str, str] = {}
    body = None
    if route.body is not None:
        if route.on_existing and data.draw(st.booleans(), "aimed at the live call or the existing campaign"):
            raw_id = existing["campaign" if route.template.startswith("/campaigns") else "leg"]
        body = data.draw(nested | st.builds(_with_long_id, st.just(route.body), long_ids, st.integers(0, 3)), "body")
        if route.body == "callback" and data.draw(st.booleans(), "with a valid ACS token"):
            headers = callback_headers(stack)
    path = route.template.replace("{leg}", existing["leg"]).replace("{id}", quote(raw_id, safe=""))

    answer = requests.request(route.method, stack.app_url + path, data=dumps(body), headers=headers, timeout=15)

    if request_line_bytes(route.method, path) > MAX_REQUEST_LINE_BYTES:
        assert_refused_by_host(answer)
    elif not answer.content and "/" in raw_id:
        assert answer.status_code in (404, 405)  # a slash in the id changes which route matches: the host answers
    else:
        assert_seed_error(answer)
