"""One call's trace on the local stack: a `create-call` message that carries another service's trace context, the
call's ACS requests, ACS's callbacks and the deliveries of its events are spans of that one trace, each naming the
call leg (and, once ACS named them, its call connection and correlation ids).

The app under devhost prints every span as a line (`OTEL_TRACES_EXPORTER=console`, see conftest); this reads them
back from its output."""

from __future__ import annotations

import json
import secrets
import time

from shared.telemetry import SPAN_LINE_PREFIX

ANSWERS = "+15005550006"  # the emulator's magic number: answers (and presses 1)


def spans_of(output: str, trace_id: str) -> list[dict]:
    spans = []
    for line in output.splitlines():
        _, found, rest = line.partition(SPAN_LINE_PREFIX + "{")
        if found:
            span = json.loads("{" + rest)
            if span["traceId"] == trace_id:
                spans.append(span)
    return spans


def test_one_calls_spans_share_the_senders_trace_and_name_the_call(stack):
    trace_id, sender_span = secrets.token_hex(16), secrets.token_hex(8)
    key = f"otel-{secrets.token_hex(4)}"
    message = {"targets": [ANSWERS], "callbackUri": stack.subscriber_url, "idempotencyKey": key,
               "plan": {"prompt": {"text": "Your appointment is tomorrow at 9."}},
               "traceparent": f"00-{trace_id}-{sender_span}-01"}
    stack.queue("create-call").send_message(json.dumps(message))

    deadline = time.monotonic() + 30
    while True:
        spans = spans_of(stack.app.output(), trace_id)
        names = {span["name"] for span in spans}
        ended = [s for s in spans if s["name"] == "deliver_event" and s["status"] != "ERROR"
                 and s["attributes"].get("callLegId")]
        if {"create_call_from_queue", "ACS createCall", "acs_callback"} <= names and len(ended) >= 2:
            break
        assert time.monotonic() < deadline, f"spans of the trace so far: {sorted(names)}"
        time.sleep(0.2)

    placing = next(s for s in spans if s["name"] == "create_call_from_queue")
    leg_id = placing["attributes"]["callLegId"]
    leg = stack.get_call(leg_id)
    connection_id = leg["acsCallConnectionId"]
    correlation_id = stack.leg_row(leg_id)["acs_correlation_id"]
    assert placing["kind"] == "CONSUMER" and placing["parentId"] == sender_span  # the sender's trace went on
    assert placing["attributes"]["callConnectionId"] == connection_id
    assert placing["attributes"]["correlationId"] == correlation_id

    create = next(s for s in spans if s["name"] == "ACS createCall")
    assert create["kind"] == "CLIENT" and create["parentId"] == placing["spanId"]
    assert create["attributes"] | {"callLegId": leg_id, "callConnectionId": connection_id,
                                   "correlationId": correlation_id} == create["attributes"]

    # ACS posts to the callback URL the leg got when it was placed: its traceparent names the placing span.
    callbacks = [s for s in spans if s["name"] == "acs_callback"]
    assert {s["kind"] for s in callbacks} == {"SERVER"}
    assert {s["parentId"] for s in callbacks} == {placing["spanId"]}
    assert {s["attributes"]["http.response.status_code"] for s in callbacks} == {200}
    for span in callbacks:
        assert span["attributes"] | {"callLegId": leg_id, "callConnectionId": connection_id,
                                     "correlationId": correlation_id} == span["attributes"]

    # The plan's steps are ACS requests of the callback that decided them; the deliveries follow the callbacks.
    assert {s["parentId"] for s in spans if s["name"] == "ACS play"} <= {s["spanId"] for s in callbacks}
    assert any(s["name"] == "ACS play" for s in spans)
    deliveries = [s for s in spans if s["name"] == "deliver_event"]
    by_id = {s["spanId"]: s for s in spans}
    assert all(by_id[s["parentId"]]["name"] in ("acs_callback", "deliver_event") for s in deliveries
               if s["parentId"] in by_id)
    assert {s["attributes"]["callLegId"] for s in spans if s["kind"] in ("SERVER", "CONSUMER")} == {leg_id}
