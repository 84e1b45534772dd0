"""shared/telemetry.py: which exporters the settings ask for, the invocation and ACS spans with the log context's
ids, the trace context a queue message or callback URL carries, the span lines of the console exporter and the
counters. Spans and counters go to an in-memory exporter and reader (`providers_for_tests`)."""

from __future__ import annotations

import json

import pytest
from opentelemetry import trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, TraceFlags

from shared import telemetry
from shared.calls.context import CallContext
from shared.calls.legs import CallLeg
from shared.logs import add_to_log_context, log_context
from shared.queue_messages import json_object

LEG_ID = "6bb56bdc-557e-42c1-872c-3e52b0deffc9"
SENDER = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


@pytest.fixture
def spans() -> InMemorySpanExporter:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with telemetry.providers_for_tests(provider, MeterProvider()):
        yield exporter


@pytest.mark.parametrize(("env", "expected"), [
    ({}, []),
    ({"APPLICATIONINSIGHTS_CONNECTION_STRING": " "}, []),
    ({"APPLICATIONINSIGHTS_CONNECTION_STRING": "InstrumentationKey=00000000-0000-0000-0000-000000000000"},
     ["azure-monitor"]),
    ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, ["otlp"]),
    ({"OTEL_TRACES_EXPORTER": "console"}, ["console"]),
    ({"OTEL_TRACES_EXPORTER": "otlp"}, []),  # the OTLP exporter needs an endpoint
    ({"APPLICATIONINSIGHTS_CONNECTION_STRING": "InstrumentationKey=x", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c",
      "OTEL_TRACES_EXPORTER": "Console"}, ["azure-monitor", "otlp", "console"]),
])  # fmt: skip
def test_the_settings_name_the_exporters(env, expected):
    assert telemetry.exporters_for(env) == expected


def test_without_exporters_nothing_is_set_up(monkeypatch):
    monkeypatch.setattr(telemetry, "_configured", None)
    assert telemetry.configure_telemetry({}) == []
    assert not isinstance(trace.get_tracer_provider(), TracerProvider)
    assert telemetry.current_traceparent() is None
    assert telemetry.with_trace('{"a": 1}') == '{"a": 1}'


def test_a_message_sent_in_a_span_carries_its_traceparent_and_the_receiver_reads_it(spans):
    with telemetry._tracer().start_as_current_span("sender") as sender:
        text = telemetry.with_trace(json.dumps({"callLegId": LEG_ID}))
    context = sender.get_span_context()
    traceparent = f"00-{context.trace_id:032x}-{context.span_id:016x}-{context.trace_flags:02x}"
    assert json.loads(text) == {"callLegId": LEG_ID, "traceparent": traceparent}
    assert telemetry.traceparent_in(text) == traceparent
    assert telemetry.traceparent_in(text.encode()) == traceparent
    assert json_object(text) == {"callLegId": LEG_ID}  # the message's own parser never sees it


@pytest.mark.parametrize("text", [
    '{"callLegId": "x"}', '{"traceparent": "00-zz-yy-01"}', '{"traceparent": 7}', '["traceparent"]', '"traceparent"',
    '{"traceparent": "00-00000000000000000000000000000000-0000000000000000-01"}', "not json \"traceparent\"",
])  # fmt: skip
def test_a_missing_or_bad_traceparent_is_ignored(text):
    assert telemetry.traceparent_in(text) is None


def test_only_json_objects_get_a_traceparent(spans):
    with telemetry._tracer().start_as_current_span("sender"):
        assert telemetry.with_trace("[1, 2]") == "[1, 2]"
        assert telemetry.with_trace("plain text") == "plain text"
        assert telemetry.with_trace(f'{{"traceparent": "{SENDER}"}}') == f'{{"traceparent": "{SENDER}"}}'


def test_an_invocation_continues_the_trace_its_input_carried_and_takes_the_log_contexts_ids(spans):
    with log_context(callLegId=LEG_ID), telemetry.invocation_span(
            "deliver_event", SpanKind.CONSUMER, carried=SENDER) as span:
        add_to_log_context(callConnectionId="401f3500-62cd-46d3-9b1d-2b2c3f1a0c11", correlationId="c0ffee-1")
        with telemetry.client_span("ACS play", **{"acs.operation": "play"}):
            pass
        assert span.is_recording()

    client, invocation = spans.get_finished_spans()
    assert (invocation.name, invocation.kind) == ("deliver_event", SpanKind.CONSUMER)
    assert f"{invocation.context.trace_id:032x}" == SENDER.split("-")[1]
    assert f"{invocation.parent.span_id:016x}" == SENDER.split("-")[2]
    assert dict(invocation.attributes) == {
        "callLegId": LEG_ID, "callConnectionId": "401f3500-62cd-46d3-9b1d-2b2c3f1a0c11", "correlationId": "c0ffee-1"}
    assert (client.kind, client.parent.span_id) == (SpanKind.CLIENT, invocation.context.span_id)
    assert dict(client.attributes) == {**invocation.attributes, "acs.operation": "play"}


def test_a_host_span_is_the_parent_without_carried_context_and_a_link_with_it(spans):
    host = SpanContext(0x1234, 0x5678, is_remote=True, trace_flags=TraceFlags(1))
    with trace.use_span(NonRecordingSpan(host)):
        with telemetry.invocation_span("get_call", SpanKind.SERVER, headers={"traceparent": SENDER}):
            pass
        with telemetry.invocation_span("acs_callback", SpanKind.SERVER, carried=SENDER):
            pass
    hosted, carried = spans.get_finished_spans()
    assert (hosted.context.trace_id, hosted.parent.span_id, hosted.links) == (0x1234, 0x5678, ())
    assert hosted.kind == SpanKind.INTERNAL  # the host's span is the request
    assert f"{carried.context.trace_id:032x}" == SENDER.split("-")[1]
    assert carried.kind == SpanKind.SERVER
    assert [link.context.span_id for link in carried.links] == [0x5678]


def test_without_a_host_span_a_traceparent_header_is_the_parent(spans):
    with telemetry.invocation_span("create_call", SpanKind.SERVER, headers={"traceparent": SENDER}):
        pass
    with telemetry.invocation_span("create_call", SpanKind.SERVER, headers={"traceparent": "garbage"}):
        pass
    from_header, fresh = spans.get_finished_spans()
    assert f"{from_header.parent.span_id:016x}" == SENDER.split("-")[2]
    assert fresh.parent is None


def test_the_console_exporter_prints_one_line_a_span(spans):
    with telemetry.invocation_span("acs_callback", SpanKind.SERVER, carried=SENDER), log_context(callLegId=LEG_ID):
        pass
    line = telemetry.span_line(spans.get_finished_spans()[0])
    assert line.startswith(telemetry.SPAN_LINE_PREFIX + "{") and line.endswith("}\n") and line.count("\n") == 1
    body = json.loads(line.removeprefix(telemetry.SPAN_LINE_PREFIX))
    assert {k: body[k] for k in ("name", "kind", "traceId", "parentId", "status")} == {
        "name": "acs_callback", "kind": "SERVER", "traceId": SENDER.split("-")[1], "parentId": SENDER.split("-")[2],
        "status": "UNSET"}


def test_a_legs_callback_url_carries_the_trace_it_was_created_in():
    context = CallContext(store=None, acs=None, outbox=None, callback_base_url="https://app.example")  # type: ignore[arg-type]
    leg = CallLeg(call_leg_id=LEG_ID, targets=[], callback_token="t0k", traceparent=SENDER)
    assert context.callback_url(leg) == f"https://app.example/callbacks/{LEG_ID}?token=t0k&traceparent={SENDER}"
    leg.traceparent = None
    assert context.callback_url(leg) == f"https://app.example/callbacks/{LEG_ID}?token=t0k"


def test_the_counters_count_with_their_attributes():
    reader = InMemoryMetricReader()
    with telemetry.providers_for_tests(TracerProvider(), MeterProvider(metric_readers=[reader])):
        telemetry.count(telemetry.CALLS_ENDED, outcome="confirmed")
        telemetry.count(telemetry.CALLS_ENDED, outcome="confirmed")
        telemetry.count(telemetry.CALLS_ENDED, outcome="busy")
        telemetry.count(telemetry.CALLBACKS_UNAUTHORIZED)
    found = {}
    for resource in reader.get_metrics_data().resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                for point in metric.data.data_points:
                    found[(metric.name, tuple(sorted(point.attributes.items())))] = point.value
    assert found == {
        ("calls.ended", (("outcome", "confirmed"),)): 2,
        ("calls.ended", (("outcome", "busy"),)): 1,
        ("callbacks.unauthorized", ()): 1,
    }
