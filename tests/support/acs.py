"""Small helpers for emulator integration tests that talk raw HTTP (signed with the app's HmacAuth)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import requests

from tests.support.callback_sink import CallbackSink
from tests.support.emulator_process import RunningEmulator

CALLER_ID = "+18005550100"


def phone(number: str) -> dict:
    return {"kind": "phoneNumber", "phoneNumber": {"value": number}}


def unique_number() -> str:
    """A phone number no other test uses (so no magic number or script applies)."""
    return "+1999" + str(uuid.uuid4().int)[:7]


def repeatability_headers(request_id: str | None = None, first_sent: datetime | None = None) -> dict:
    sent = (first_sent or datetime.now(UTC)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    return {"Repeatability-Request-ID": request_id or str(uuid.uuid4()), "Repeatability-First-Sent": sent}


def create_call(
    emulator: RunningEmulator, callback_url: str, target: str | dict, **extra: object
) -> requests.Response:
    body = {
        "targets": [phone(target) if isinstance(target, str) else target],
        "sourceCallerIdNumber": {"value": CALLER_ID},
        "callbackUri": callback_url,
        **extra,
    }
    return emulator.api("POST", "/calling/callConnections", json_body=body)


def connected_call(emulator: RunningEmulator, sink: CallbackSink, target: str | None = None, **extra: object) -> str:
    """Create a call to `target` (a fresh number by default), wait for CallConnected, return its id."""
    response = create_call(emulator, sink.new_url(), target or unique_number(), **extra)
    assert response.status_code == 201, response.text
    call_id = response.json()["callConnectionId"]
    sink.wait_for_event("CallConnected", call_connection_id=call_id)
    return call_id


def action(emulator: RunningEmulator, call_id: str, name: str, body: dict | None = None, **kw) -> requests.Response:
    """POST /calling/callConnections/{id}:{name} (or .../participants:{name} when name starts with 'participants')."""
    separator = "/" if name.startswith("participants") else ":"
    return emulator.api("POST", f"/calling/callConnections/{call_id}{separator}{name}",
                        json_body=body if body is not None else {}, **kw)


def event_types(sink: CallbackSink, call_id: str) -> list[str]:
    return [e["type"].removeprefix("Microsoft.Communication.") for e in sink.events(call_id)]
