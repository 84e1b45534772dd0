"""The documented input limits, at and past their edges, on every route: JSON nested deeper than 32 levels,
ids no call or campaign can have (up to the host's request-line limit, and past it), ids of 100,000 characters
in bodies and queue messages. Each is refused with a 4xx (the seed's error body when the app answers) and
writes nothing."""

import base64
import json
import uuid

import pytest
import requests

from devhost.http_server import MAX_REQUEST_LINE_BYTES
from shared.bounded_json import MAX_DEPTH
from tests.e2e.hostile_support import (
    ID_ROUTES,
    NUMBER,
    PLAN,
    PLAY,
    Route,
    arrays,
    assert_refused_by_host,
    assert_seed_error,
    callback_event,
    callback_headers,
    dumps,
    empty_campaign,
    live_call,
    longest_id,
    nothing_written,
    objects,
    request_line_bytes,
)

LONG = 100_000


@pytest.fixture(scope="module")
def targets(stack) -> dict[str, str]:
    """A live call leg and an existing campaign: bodies sent to them get past the id checks."""
    return {"leg": live_call(stack), "campaign": empty_campaign(stack)}


@pytest.fixture
def writes_nothing(stack):
    with nothing_written(stack):
        yield


def _json_routes(targets) -> list[tuple[str, dict]]:
    leg, campaign = targets["leg"], targets["campaign"]
    return [
        ("/calls", {}),
        (f"/calls/{leg}/PlayAudio", {}),
        (f"/calls/{leg}/participants", {}),
        (f"/calls/{leg}/CancelMediaProcessing", {}),
        ("/campaigns", {}),
        (f"/campaigns/{campaign}/recipients", {}),
        (f"/callbacks/{leg}", "token"),
    ]


# -- nesting -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        arrays(MAX_DEPTH + 1),
        arrays(20_000),
        objects(10_000),  # 60 KB: still under the smallest body limit (64 KiB)
        '{"targets": ' + arrays(20_000) + "}",
        '{"recipients": [' + objects(5_000) + "]}",
        "[" * 20_000,
    ],
    ids=["33", "arrays-20000", "objects-10000", "under-a-field", "in-a-list", "unclosed"],
)
def test_json_nested_too_deeply_is_a_400_on_every_json_route(stack, targets, writes_nothing, body):
    for path, headers in _json_routes(targets):
        headers = callback_headers(stack) if headers == "token" else headers
        answer = stack.post(path, data=body, headers=headers)

        error = assert_seed_error(answer, 400, "InvalidRequest")
        assert "nested too deeply" in error["message"], (path, error)


def test_a_body_at_the_depth_limit_is_not_refused_for_its_depth(stack, targets):
    body = json.dumps({"targets": [NUMBER], "subject": "x", "plan": json.loads(arrays(MAX_DEPTH - 1))})

    error = assert_seed_error(stack.post("/calls", data=body), 400)
    assert "nested" not in error["message"]  # refused for what the plan is, not for how deep it is


def test_a_callback_token_with_a_deeply_nested_header_is_a_401(stack, targets, writes_nothing):
    # The header is parsed before any signature is checked, so this reaches json.loads from anyone (PyJWT catches
    # the RecursionError itself).
    header = base64.urlsafe_b64encode(arrays(20_000).encode()).rstrip(b"=").decode()
    headers = callback_headers(stack, token=header + ".e30.x")

    answer = stack.post(f"/callbacks/{targets['leg']}", callback_event(), headers=headers)

    assert_seed_error(answer, 401, "Unauthorized")


# -- ids in the URL ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw_id",
    [
        "not-a-leg",
        str(uuid.uuid4()).upper(),
        "a" * 37,
        "x" * 1_025,  # longer than any Table key may be
        "'\"#?\\ %é\u202e\x01" * 60,
        "..",
    ],
    ids=["word", "upper-guid", "37", "1025", "table-key-characters", "dots"],
)
def test_ids_no_call_or_campaign_can_have_are_answered_by_the_app(stack, targets, writes_nothing, raw_id):
    for route in ID_ROUTES:
        answer = requests.request(
            route.method, stack.app_url + route.path(raw_id, targets["leg"]), data=dumps(route.body), timeout=15
        )

        if raw_id == ".." and not answer.content:
            assert answer.status_code in (404, 405)  # `..` changes which route matches: the host's own answer
            continue
        assert_seed_error(answer, route.status, route.code)


@pytest.mark.parametrize("route", ID_ROUTES, ids=lambda route: f"{route.method} {route.template}")
def test_the_longest_id_the_host_lets_through_reaches_the_app_and_one_more_byte_does_not(
    stack, targets, writes_nothing, route: Route
):
    longest = longest_id(route, targets["leg"])

    for length in (longest, longest + 1, 30_000, LONG):
        path = route.path("a" * length, targets["leg"])
        answer = requests.request(route.method, stack.app_url + path, data=dumps(route.body), timeout=15)

        if request_line_bytes(route.method, path) <= MAX_REQUEST_LINE_BYTES:
            assert_seed_error(answer, route.status, route.code)
        else:
            assert_refused_by_host(answer)


# -- ids in bodies -----------------------------------------------------------------------------------------


CSV = {"Content-Type": "text/csv"}
BODY_CASES = {  # name: (path, body, headers, status); {leg} and {campaign} are the live call and campaign
    "campaignId": ("/campaigns", {"campaignId": "c" * LONG, "plan": PLAN, "callerIds": [NUMBER]}, {}, 400),
    "callerId": ("/campaigns", {"campaignId": "ok", "plan": PLAN, "callerIds": ["+1" + "8" * LONG]}, {}, 400),
    "first-recipient": (
        "/campaigns", {"plan": PLAN, "callerIds": [NUMBER], "recipients": ["+1" + "3" * LONG]}, {}, 400
    ),
    "campaign-zone": ("/campaigns", {"plan": PLAN, "callerIds": [NUMBER], "timeZone": "Z" * LONG}, {}, 400),
    "recipient": ("/campaigns/{campaign}/recipients", {"recipients": ["+1" + "3" * LONG]}, {}, 400),
    "recipient-zone": (
        "/campaigns/{campaign}/recipients", {"recipients": [{"phoneNumber": NUMBER, "timeZone": "Z" * LONG}]}, {}, 400
    ),
    "recipient-zone-300": (
        "/campaigns/{campaign}/recipients", {"recipients": [{"phoneNumber": NUMBER, "timeZone": "Z" * 300}]}, {}, 400
    ),
    "csv-zone": ("/campaigns/{campaign}/recipients", f"phoneNumber,timeZone\n{NUMBER},{'Z' * LONG}\n", CSV, 400),
    "csv-number": ("/campaigns/{campaign}/recipients", f"phoneNumber\n+1{'3' * LONG}\n", CSV, 400),
    "target": ("/calls", {"targets": ["8:acs:" + "u" * 60_000]}, {}, 400),
    "target-model": ("/calls", {"targets": [{"rawId": "8:acs:" + "u" * 60_000}]}, {}, 400),
    "idempotencyKey": ("/calls", {"targets": [NUMBER], "idempotencyKey": "k" * 60_000}, {}, 400),
    "target-over-64KiB": ("/calls", {"targets": ["+1" + "2" * LONG]}, {}, 413),  # refused for its size first
    "participant": ("/calls/{leg}/participants", {"participants": ["8:acs:" + "u" * 60_000]}, {}, 400),
    "operationContext": ("/calls/{leg}/PlayAudio", {**PLAY, "operationContext": "o" * 60_000}, {}, 400),
    "event-id": ("/callbacks/{leg}", callback_event(id="e" * LONG), "token", 400),
    "event-type": ("/callbacks/{leg}", callback_event(type="Microsoft.Communication." + "T" * LONG), "token", 400),
    "event-message": (
        "/callbacks/{leg}",
        callback_event(type="Microsoft.Communication.PlayFailed",
                       data={"operationContext": "x", "resultInformation": {"code": 500, "message": "m" * LONG}}),
        "token",
        400,
    ),
    "event-connection-id": ("/callbacks/{leg}", callback_event(data={"callConnectionId": "c" * LONG}), "token", 400),
}


@pytest.mark.parametrize("case", BODY_CASES)
def test_ids_of_100000_characters_in_bodies_are_refused(stack, targets, writes_nothing, case):
    path, body, headers, status = BODY_CASES[case]
    headers = callback_headers(stack) if headers == "token" else headers

    answer = stack.post(path.format(**targets), data=dumps(body), headers=headers)

    assert_seed_error(answer, status)


# -- queue messages ----------------------------------------------------------------------------------------


def test_a_deeply_nested_queue_message_is_poisoned_by_the_app_with_its_reason(stack, writes_nothing):
    marker = str(uuid.uuid4())
    sent = stack.queue("create-call").send_message('{"subject": "' + marker + '", "targets": ' + arrays(20_000) + "}")

    stack.app.wait_for_output(f"Message {sent.id} moved to create-call-poison: message: is nested too deeply")


@pytest.mark.parametrize(
    ("route", "body", "named"),
    [
        ("/calls", {"targets": [NUMBER], "callbackUrl": "https://example.org/x"}, "callbackUrl"),
        ("/calls", {"targets": [NUMBER], "plan": {"prompt": {"txt": "Hello"}}}, "plan.prompt.txt"),
        ("/campaigns", {"plan": PLAN, "callerIds": [NUMBER], "pacing": {"maxCalls": 2}}, "pacing.maxCalls"),
    ],
)
def test_an_unknown_field_is_a_400_naming_it_and_nothing_is_written(stack, targets, writes_nothing, route, body, named):
    answer = stack.post(route, body)
    error = assert_seed_error(answer, 400, "UnknownField")
    assert f"`{named}`" in error["message"] and "did you mean" in error["message"]
