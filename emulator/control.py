"""The control API under `/emulator/` (no auth): health, reset, callee scripts, faults, inspection, test hooks."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from . import errors
from .callees import ScriptError, parse_drop_after, parse_scripts, target_key
from .config import SUPPORTED_API_VERSIONS
from .errors import AcsError
from .faults import parse_fault
from .routes import OPERATION_NAMES
from .state import EmulatorState


def _state(request: web.Request) -> EmulatorState:
    return request.app["state"]


def _error(status: int, message: str, code: str = "BadRequest") -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


def _acs_error(error: AcsError) -> web.Response:
    return web.json_response(error.body(), status=error.status)


async def _json(request: web.Request) -> Any:
    raw = await request.read()
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise web.HTTPBadRequest(text='{"error":{"code":"BadRequest","message":"The body is not valid JSON."}}',
                                 content_type="application/json") from None


def _limit(request: web.Request, default: int = 100) -> int:
    try:
        return max(1, min(10_000, int(request.query.get("limit", default))))
    except ValueError:
        return default


async def health(request: web.Request) -> web.Response:
    state = _state(request)
    return web.json_response({
        "status": "ok",
        "resourceId": state.config.resource_id,
        "issuer": state.config.issuer,
        "apiVersions": list(SUPPORTED_API_VERSIONS),
        "startedAt": state.started_at.isoformat(),
        "timeScale": state.config.time_scale,
        "tlsCertificate": str(state.tls_certificate) if state.tls_certificate else None,
    })


async def reset(request: web.Request) -> web.Response:
    _state(request).reset()
    return web.json_response({"status": "reset"})


# --- callees ------------------------------------------------------------------------------------------------


async def put_callee(request: web.Request) -> web.Response:
    target = request.match_info["target"]
    try:
        scripts = parse_scripts(await _json(request))
    except ScriptError as exc:
        return _error(400, str(exc))
    _state(request).callees.set(target, scripts)
    return web.json_response({"target": target_key(target), "attempts": [s.to_json() for s in scripts]})


async def get_callee(request: web.Request) -> web.Response:
    target = request.match_info["target"]
    scripts = _state(request).callees.get(target)
    if scripts is None:
        return _error(404, "No script is set for this target.", "NotFound")
    return web.json_response({"target": target_key(target), "attempts": [s.to_json() for s in scripts]})


async def delete_callee(request: web.Request) -> web.Response:
    _state(request).callees.delete(request.match_info["target"])
    return web.Response(status=204)


async def list_callees(request: web.Request) -> web.Response:
    book = _state(request).callees
    return web.json_response({"value": [
        {"target": key, "attempts": [s.to_json() for s in scripts], "callsMade": book.calls_made.get(key, 0)}
        for key, scripts in book.scripts.items()
    ]})


# --- faults -------------------------------------------------------------------------------------------------


async def add_fault(request: web.Request) -> web.Response:
    try:
        fault = parse_fault(await _json(request), OPERATION_NAMES)
    except ValueError as exc:
        return _error(400, str(exc))
    _state(request).faults.add(fault)
    return web.json_response({"id": fault.id, **fault.to_json()}, status=201)


async def list_faults(request: web.Request) -> web.Response:
    return web.json_response({"value": _state(request).faults.list()})


async def clear_faults(request: web.Request) -> web.Response:
    _state(request).faults.clear()
    return web.Response(status=204)


# --- inspection ---------------------------------------------------------------------------------------------


async def list_calls(request: web.Request) -> web.Response:
    calls = _state(request).service.calls.values()
    return web.json_response({"value": [c.summary() for c in calls]})


async def get_call(request: web.Request) -> web.Response:
    call = _state(request).service.calls.get(request.match_info["call_id"])
    if call is None:
        return _acs_error(errors.call_not_found())
    return web.json_response(call.detail())


async def history(request: web.Request) -> web.Response:
    return web.json_response({"value": [c.summary() for c in _state(request).service.history]})


async def stats(request: web.Request) -> web.Response:
    return web.json_response(_state(request).service.stats())


async def list_requests(request: web.Request) -> web.Response:
    state = _state(request)
    call_id = request.query.get("callConnectionId")
    operation = request.query.get("operation")
    rows = [
        r for r in state.requests
        if (call_id is None or r["callConnectionId"] == call_id) and (operation is None or r["operation"] == operation)
    ]
    return web.json_response({"value": rows[-_limit(request):]})


async def list_callbacks(request: web.Request) -> web.Response:
    state = _state(request)
    call_id = request.query.get("callConnectionId")
    rows = [d.to_json() for d in state.deliverer.log if call_id is None or d.call_connection_id == call_id]
    return web.json_response({"value": rows[-_limit(request, 1000):]})


# --- test hooks ---------------------------------------------------------------------------------------------


async def press_dtmf(request: web.Request) -> web.Response:
    body = await _json(request)
    tones = body.get("tones") if isinstance(body, dict) else None
    if isinstance(tones, list) and all(isinstance(t, str) for t in tones):
        tones = "".join(tones)
    if not isinstance(tones, str) or not tones or len(tones) > 100:
        return _error(400, "tones must be a string of DTMF keys such as \"12#\"")
    try:
        _state(request).service.press_keys(request.match_info["call_id"], tones)
    except ValueError as exc:
        return _error(400, str(exc))
    except AcsError as error:
        return _acs_error(error)
    return web.json_response({"pressed": tones}, status=202)


async def hang_up_participant(request: web.Request) -> web.Response:
    body = await _json(request)
    participant = body.get("participant") if isinstance(body, dict) else None
    if participant is not None and not isinstance(participant, str):
        return _error(400, "participant must be a rawId string")
    if participant and participant.startswith("+"):
        participant = "4:" + participant
    try:
        _state(request).service.participant_hangs_up(request.match_info["call_id"], participant)
    except AcsError as error:
        return _acs_error(error)
    return web.json_response({"hungUp": participant or "all"}, status=202)


_CALLBACKS_BODY = 'the body must be {"drop": true}, {"drop": false} or {"dropAfter": N}'


async def call_callbacks(request: web.Request) -> web.Response:
    """Lose (or stop losing) a live call's callbacks: the events are emitted and logged but never posted."""
    body = await _json(request)
    if not isinstance(body, dict) or len(body) != 1 or not set(body) <= {"drop", "dropAfter"}:
        return _error(400, _CALLBACKS_BODY)
    service = _state(request).service
    call_id = request.match_info["call_id"]
    try:
        if "dropAfter" in body:
            view = service.drop_callbacks(call_id, parse_drop_after(body["dropAfter"], "dropAfter"))
        elif body["drop"] is True:
            view = service.drop_callbacks(call_id, None)
        elif body["drop"] is False:
            view = service.deliver_callbacks(call_id)
        else:
            return _error(400, "drop must be true or false")
    except ScriptError as exc:
        return _error(400, str(exc))
    except AcsError as error:
        return _acs_error(error)
    return web.json_response({"callConnectionId": call_id, **view})


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/emulator/health", health)
    r.add_post("/emulator/reset", reset)
    r.add_get("/emulator/callees", list_callees)
    r.add_put("/emulator/callees/{target:.+}", put_callee)
    r.add_get("/emulator/callees/{target:.+}", get_callee)
    r.add_delete("/emulator/callees/{target:.+}", delete_callee)
    r.add_post("/emulator/faults", add_fault)
    r.add_get("/emulator/faults", list_faults)
    r.add_delete("/emulator/faults", clear_faults)
    r.add_get("/emulator/calls", list_calls)
    r.add_get("/emulator/calls/history", history)
    r.add_get("/emulator/calls/{call_id}", get_call)
    r.add_post("/emulator/calls/{call_id}/dtmf", press_dtmf)
    r.add_post("/emulator/calls/{call_id}/hangup", hang_up_participant)
    r.add_post("/emulator/calls/{call_id}/callbacks", call_callbacks)
    r.add_get("/emulator/stats", stats)
    r.add_get("/emulator/requests", list_requests)
    r.add_get("/emulator/callbacks", list_callbacks)
