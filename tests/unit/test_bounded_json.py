"""Bounded JSON parsing: nesting is measured without recursion and refused past MAX_DEPTH, everything else is
json.loads; plus the parsers of outside JSON that use it."""

import base64
import json
import time

import azure.functions as func
import pytest

from shared import bounded_json
from shared.bounded_json import MAX_DEPTH, JsonTooDeepError, deeper_than
from shared.calls.acs_events import InvalidCallbackBodyError, parse_callback_body
from shared.calls.callback_auth import CallbackAuthError, CallbackTokenVerifier
from shared.calls.event_delivery import Delivery, InvalidDeliveryMessageError
from shared.calls.requests import ValidationError
from shared.http.errors import ApiError, read_json
from shared.queue_messages import message_json


def arrays(depth: int) -> str:
    return "[" * depth + "]" * depth


def objects(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


@pytest.mark.parametrize("shape", [arrays, objects])
def test_the_limit_is_inclusive(shape):
    assert bounded_json.loads(shape(MAX_DEPTH)) is not None
    with pytest.raises(JsonTooDeepError, match="nested too deeply"):
        bounded_json.loads(shape(MAX_DEPTH + 1))


@pytest.mark.parametrize(
    "text",
    [
        json.dumps({"a": "[" * 100}),  # brackets inside strings do not count
        json.dumps({"a": "\\\"[[[[" * 50}),  # nor after escaped quotes and backslashes
        json.dumps(["x"] * 10_000),  # width is not depth
        json.dumps({"b": [{"c": [1, {"d": []}]}] * 40}),
    ],
)
def test_wide_documents_and_brackets_in_strings_are_fine(text):
    assert bounded_json.loads(text) == json.loads(text)


@pytest.mark.parametrize(
    "text",
    [
        arrays(20_000),
        objects(20_000),
        "[" * 20_000,  # never closed
        '{"targets": ' + arrays(5_000) + "}",
        "[" * 40 + '"unterminated',
    ],
)
def test_deep_documents_are_refused_before_json_loads_sees_them(text, monkeypatch):
    seen = []
    monkeypatch.setattr(bounded_json.json, "loads", lambda text: seen.append(text))

    with pytest.raises(JsonTooDeepError):
        bounded_json.loads(text)
    assert seen == []


@pytest.mark.parametrize(
    "text",
    [
        "]" + "[" * 10_000,  # json.loads stops at the stray bracket: what follows is never parsed
        '"' + "[" * 10_000,  # an unterminated string swallows the rest
        '"' + '\\"' * 200_000,  # a quote that never closes is scanned once, not once per quote
    ],
)
def test_what_json_loads_never_reads_is_not_counted(text):
    start = time.monotonic()
    with pytest.raises(ValueError) as error:
        bounded_json.loads(text)

    assert not isinstance(error.value, JsonTooDeepError)
    assert time.monotonic() - start < 2


def test_the_scan_is_linear_in_the_size_of_the_document():
    big = json.dumps({"recipients": [f"+1312555{i % 10_000:04d}" for i in range(150_000)]})  # ~2.4 MB

    start = time.monotonic()
    assert not deeper_than(big, MAX_DEPTH)
    assert time.monotonic() - start < 1


def test_bytes_are_decoded_as_json_loads_decodes_them():
    assert bounded_json.loads(b'\xef\xbb\xbf{"a": [1]}') == {"a": [1]}
    assert bounded_json.loads('{"a": [1]}'.encode("utf-16")) == {"a": [1]}
    with pytest.raises(JsonTooDeepError):
        bounded_json.loads(arrays(100).encode("utf-32"))
    with pytest.raises(ValueError):
        bounded_json.loads(b"\xff\xfe\x00garbage")


def test_a_recursion_error_the_scan_missed_is_still_a_json_error(monkeypatch):
    def recurse(text):
        raise RecursionError

    monkeypatch.setattr(bounded_json.json, "loads", recurse)

    with pytest.raises(JsonTooDeepError):
        bounded_json.loads("[]")


# -- the parsers of outside JSON ---------------------------------------------------------------------------


def test_http_bodies_nested_too_deeply_are_a_400():
    request = func.HttpRequest("POST", "http://x/calls", body=arrays(20_000).encode())

    with pytest.raises(ApiError) as error:
        read_json(request)

    assert (error.value.status_code, error.value.code) == (400, "InvalidRequest")
    assert "nested too deeply" in error.value.message


def test_callback_bodies_nested_too_deeply_are_refused():
    with pytest.raises(InvalidCallbackBodyError, match="nested too deeply"):
        parse_callback_body(objects(20_000).encode())


def test_queue_messages_nested_too_deeply_are_invalid():
    with pytest.raises(ValidationError, match="nested too deeply"):
        message_json(func.QueueMessage(body=arrays(20_000).encode()))
    with pytest.raises(InvalidDeliveryMessageError, match="nested too deeply"):
        Delivery.from_message(objects(20_000))


def _token_with_header(header: str) -> str:
    encoded = base64.urlsafe_b64encode(header.encode()).rstrip(b"=").decode()
    return f"{encoded}.e30.c2ln"


@pytest.mark.parametrize("header", [arrays(20_000), objects(10_000), '{"alg": "RS256", "kid": ' + arrays(5_000) + "}"])
def test_a_token_header_nested_too_deeply_is_refused_before_any_key_lookup(header):
    # PyJWT parses the header with json.loads before any signature is checked, so anyone can send one; it turns
    # the RecursionError into a DecodeError itself (2.15), which this guards against a version that does not.
    verifier = CallbackTokenVerifier("http://127.0.0.1:9/keys", audience="aud", issuer="iss")  # never fetched

    with pytest.raises(CallbackAuthError):
        verifier.verify(f"Bearer {_token_with_header(header)}")


def test_a_callback_event_string_over_4096_characters_is_refused_and_4096_is_not():
    def event(message: str) -> bytes:
        data = {"resultInformation": {"code": 500, "subCode": 0, "message": message}}
        return json.dumps([{"id": "e1", "type": "Microsoft.Communication.PlayFailed", "data": data}]).encode()

    assert parse_callback_body(event("m" * 4096))[0].result.message == "m" * 4096
    with pytest.raises(InvalidCallbackBodyError, match="longer than 4096"):
        parse_callback_body(event("m" * 4097))
