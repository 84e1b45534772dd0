"""HTTP parsing and dispatch for the ACS API (`/calling/...`); no call behaviour lives here.

The pipeline of every API request, in order (like Azurite's):
dispatch (which operation) → api-version → authenticate → injected fault → repeatability → parse body →
handler (one line into `CallService`) → response, recorded in the request log.
Paths are matched on the raw request target, so percent-encoded rawIds (`4%3A%2B1425...`) survive.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote

from aiohttp import web

from . import bodies, errors, repeatability
from .auth import AuthFailure, verify_request
from .config import SUPPORTED_API_VERSIONS
from .errors import AcsError
from .state import EmulatorState

log = logging.getLogger("emulator.routes")

_CALL_ID = r"[^/:?#]+"


@dataclass(frozen=True)
class Operation:
    name: str
    call_id: str | None = None
    participant: str | None = None  # decoded rawId


# (method, pattern on the raw path, operation name). Colon actions may arrive percent-encoded (%3A).
_ROUTES: list[tuple[str, re.Pattern[str], str]] = [
    ("POST", re.compile(r"^/calling/callConnections$"), "createCall"),
    ("GET", re.compile(rf"^/calling/callConnections/(?P<call>{_CALL_ID})$"), "getCall"),
    ("DELETE", re.compile(rf"^/calling/callConnections/(?P<call>{_CALL_ID})$"), "hangUp"),
    ("GET", re.compile(rf"^/calling/callConnections/(?P<call>{_CALL_ID})/participants$"), "listParticipants"),
    ("GET", re.compile(rf"^/calling/callConnections/(?P<call>{_CALL_ID})/participants/(?P<participant>[^/?#]+)$"),
     "getParticipant"),
]
_CALL_ACTIONS = {
    "terminate": "terminate",
    "transferToParticipant": "transferToParticipant",
    "play": "play",
    "cancelAllMediaOperations": "cancelAllMediaOperations",
    "recognize": "recognize",
    "startContinuousDtmfRecognition": "startContinuousDtmfRecognition",
    "stopContinuousDtmfRecognition": "stopContinuousDtmfRecognition",
    "sendDtmfTones": "sendDtmfTones",
}
_PARTICIPANT_ACTIONS = {"add": "addParticipant", "remove": "removeParticipant",
                        "cancelAddParticipant": "cancelAddParticipant"}
_ACTION = re.compile(rf"^/calling/callConnections/(?P<call>{_CALL_ID})(?P<sub>/participants)?:(?P<action>[A-Za-z]+)$")

REPEATABLE = frozenset({"createCall", "terminate", "transferToParticipant", "sendDtmfTones", "addParticipant",
                        "removeParticipant", "cancelAddParticipant"})
NO_BODY = frozenset({"getCall", "hangUp", "listParticipants", "getParticipant", "terminate",
                     "cancelAllMediaOperations"})
OPERATION_NAMES = frozenset({r[2] for r in _ROUTES} | set(_CALL_ACTIONS.values()) | set(_PARTICIPANT_ACTIONS.values()))


def dispatch(method: str, raw_path: str) -> Operation:
    """Which operation a request is; 404 for unknown paths, 405 for a wrong method."""
    path = raw_path.replace("%3A", ":").replace("%3a", ":")
    matched_path = False
    for route_method, pattern, name in _ROUTES:
        match = pattern.match(path)
        if match:
            matched_path = True
            if route_method == method:
                groups = match.groupdict()
                participant = unquote(groups["participant"]) if groups.get("participant") else None
                return Operation(name, unquote(groups["call"]) if "call" in groups else None, participant)
    match = _ACTION.match(path)
    if match:
        actions = _PARTICIPANT_ACTIONS if match["sub"] else _CALL_ACTIONS
        name = actions.get(match["action"])
        if name is not None:
            if method != "POST":
                raise errors.method_not_allowed(method)
            return Operation(name, unquote(match["call"]))
    if matched_path:
        raise errors.method_not_allowed(method)
    raise errors.resource_not_found(raw_path)


@dataclass
class Result:
    status: int
    body: Any = None  # JSON-able, or None for an empty body
    call_id: str | None = None


Handler = Callable[[EmulatorState, Operation, dict[str, Any], str], Result]


def _create_call(state: EmulatorState, op: Operation, body: dict, api_version: str) -> Result:
    call = state.service.create_call(bodies.create_call(body), api_version)
    return Result(201, call.properties(), call.id)


def _call_id(op: Operation) -> str:
    assert op.call_id is not None
    return op.call_id


HANDLERS: dict[str, Handler] = {
    "createCall": _create_call,
    "getCall": lambda s, op, b, v: Result(200, s.service.get_call(_call_id(op)).properties()),
    "hangUp": lambda s, op, b, v: Result(204, s.service.hang_up(_call_id(op))),
    "terminate": lambda s, op, b, v: Result(204, s.service.terminate(_call_id(op))),
    "listParticipants": lambda s, op, b, v: Result(200, s.service.list_participants(_call_id(op))),
    "getParticipant": lambda s, op, b, v: Result(
        200, s.service.get_participant(_call_id(op), op.participant or "")),
    "addParticipant": lambda s, op, b, v: Result(
        202, s.service.add_participant(_call_id(op), bodies.add_participant(b))),
    "removeParticipant": lambda s, op, b, v: Result(
        202, s.service.remove_participant(_call_id(op), bodies.remove_participant(b))),
    "cancelAddParticipant": lambda s, op, b, v: Result(
        202, s.service.cancel_add_participant(_call_id(op), bodies.cancel_add_participant(b))),
    "transferToParticipant": lambda s, op, b, v: Result(
        202, s.service.transfer(_call_id(op), bodies.transfer(b))),
    "play": lambda s, op, b, v: Result(202, s.service.play(_call_id(op), bodies.play(b))),
    "cancelAllMediaOperations": lambda s, op, b, v: Result(202, s.service.cancel_all_media(_call_id(op))),
    "recognize": lambda s, op, b, v: Result(202, s.service.recognize(_call_id(op), bodies.recognize(b))),
    "startContinuousDtmfRecognition": lambda s, op, b, v: Result(
        200, s.service.start_continuous_dtmf(_call_id(op), bodies.continuous_dtmf(b))),
    "stopContinuousDtmfRecognition": lambda s, op, b, v: Result(
        200, s.service.stop_continuous_dtmf(_call_id(op), bodies.continuous_dtmf(b))),
    "sendDtmfTones": lambda s, op, b, v: Result(202, s.service.send_dtmf(_call_id(op), bodies.send_dtmf(b))),
}
assert set(HANDLERS) == OPERATION_NAMES


def _api_version(raw_query: str) -> str:
    try:
        values = parse_qs(raw_query, keep_blank_values=True).get("api-version")
    except ValueError:
        values = None
    if not values or not values[0]:
        raise errors.missing_api_version()
    if values[0] not in SUPPORTED_API_VERSIONS:
        raise errors.unsupported_api_version(values[0], SUPPORTED_API_VERSIONS)
    return values[0]


_SAFE_HEADER_VALUE = re.compile(r"^[\x21-\x7e]{1,256}$")


def _response(request: web.Request, status: int, body: Any, *, chain_id: str, headers: dict[str, str]) -> web.Response:
    out = {"X-Microsoft-Skype-Chain-ID": chain_id, "X-Cache": "CONFIG_NOCACHE", **headers}
    client_request_id = request.headers.get("x-ms-client-request-id", "")
    if _SAFE_HEADER_VALUE.match(client_request_id):  # echo, but never reflect odd bytes into a header
        out["x-ms-client-request-id"] = client_request_id
    if body is None:
        return web.Response(status=status, headers=out)
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return web.Response(status=status, body=raw, headers=out, content_type="application/json", charset="utf-8")


@dataclass
class _Trace:
    """What the request log records about one request, filled in as the pipeline goes."""

    operation: str | None = None
    call_id: str | None = None
    repeatability_result: str | None = None


async def handle_api(request: web.Request) -> web.Response:
    """Every `/calling/...` API request goes through here."""
    state: EmulatorState = request.app["state"]
    received_at = state.clock()  # the arrival, as the client sent it: before the body, auth and injected delays
    trace = _Trace()
    try:
        response = await _pipeline(request, state, trace)
    except Exception:
        log.exception("unexpected error handling %s %s", request.method, request.raw_path[:200])
        error = errors.internal_error()
        response = _response(request, error.status, error.body(), chain_id=str(uuid.uuid4()), headers={})
    state.record_request(
        request, response.status, trace.operation, trace.call_id,
        repeatability.request_id_of(request.headers), trace.repeatability_result, received_at,
    )
    return response


async def _read_body(request: web.Request) -> bytes:
    try:
        return await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise AcsError(413, "RequestEntityTooLarge", "The request body is too large.") from None


async def _pipeline(request: web.Request, state: EmulatorState, trace: _Trace) -> web.Response:
    raw_target = request.raw_path
    raw_path, _, raw_query = raw_target.partition("?")
    tracked: str | None = None
    try:
        op = dispatch(request.method, raw_path)
        trace.operation, trace.call_id = op.name, op.call_id
        api_version = _api_version(raw_query)
        raw_body = await _read_body(request)
        try:
            verify_request(
                method=request.method,
                raw_target=raw_target,
                headers=request.headers,
                body=raw_body,
                access_key=state.config.access_key,
                now=state.clock(),
                clock_skew_seconds=state.config.clock_skew_seconds,
            )
        except AuthFailure as failure:
            raise errors.denied(str(failure)) from None

        # Injected faults act like a gateway in front of the service: nothing runs and nothing is remembered
        # for repeatability, so a client's retry with the same Repeatability-Request-ID executes normally.
        fault = state.faults.take(op.name)
        if fault is not None:
            if fault.delay_ms:
                await state.sleep(fault.delay_ms / 1000)
            if fault.status:
                raise errors.injected_fault(fault.status, fault.retry_after_seconds)

        if op.name in REPEATABLE:
            fingerprint = repeatability.fingerprint(request.method, raw_path, raw_body)
            now_s = state.monotonic()
            stored = state.repeatability.get(repeatability.request_id_of(request.headers), now_s)
            try:
                decision = repeatability.decide(request.headers, fingerprint, stored, state.clock())
            except AcsError:
                trace.repeatability_result = "rejected"
                raise
            if decision.replay is not None:
                replay = decision.replay
                trace.call_id = replay.call_connection_id or trace.call_id
                trace.repeatability_result = "replayed"
                return _response(request, replay.status or 200, replay.body or None,
                                 chain_id=_chain_id(state, trace.call_id),
                                 headers={"Repeatability-Result": "accepted"})
            if decision.request_id is not None:
                tracked = decision.request_id
                state.repeatability.begin(tracked, fingerprint, now_s)
                trace.repeatability_result = "accepted"

        body = {} if op.name in NO_BODY else bodies.parse_json_object(raw_body)
        result = HANDLERS[op.name](state, op, body, api_version)
        trace.call_id = result.call_id or trace.call_id
        payload = None if result.body is None else json.dumps(result.body).encode()
        if tracked is not None:
            state.repeatability.complete(tracked, result.status, payload or b"", trace.call_id)
        headers = {"Repeatability-Result": "accepted"} if tracked else {}
        return _response(request, result.status, payload, chain_id=_chain_id(state, trace.call_id), headers=headers)
    except AcsError as error:
        headers = dict(error.headers)
        if tracked is not None:
            # A 4xx answer is the original's result and replays as is; a 5xx one would run again.
            state.repeatability.complete(tracked, error.status, json.dumps(error.body()).encode(), trace.call_id)
            headers.setdefault("Repeatability-Result", "accepted")
        return _response(request, error.status, error.body(), chain_id=_chain_id(state, trace.call_id),
                         headers=headers)
    except BaseException:
        if tracked is not None:
            state.repeatability.abandon(tracked)
        raise


def _chain_id(state: EmulatorState, call_id: str | None) -> str:
    call = state.service.calls.get(call_id) if call_id else None
    return call.correlation_id if call is not None else str(uuid.uuid4())


async def handle_openid_configuration(request: web.Request) -> web.Response:
    state: EmulatorState = request.app["state"]
    return web.json_response(state.signer.openid_configuration(state.base_url(request)))


async def handle_keys(request: web.Request) -> web.Response:
    state: EmulatorState = request.app["state"]
    return web.json_response(state.signer.jwks())


def add_routes(app: web.Application) -> None:
    app.router.add_get("/calling/.well-known/acsopenidconfiguration", handle_openid_configuration)
    app.router.add_get("/calling/keys", handle_keys)
    app.router.add_route("*", "/calling{tail:.*}", handle_api)
