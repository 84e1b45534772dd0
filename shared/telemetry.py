"""Traces and metrics (OpenTelemetry): where they go, the spans of an invocation and of each ACS request, the trace
context that queue messages and ACS callbacks carry, and the app's counters.

- `configure_telemetry()` (once, from function_app.py) picks the exporters from the app settings: Azure Monitor
  with `APPLICATIONINSIGHTS_CONNECTION_STRING`, OTLP with `OTEL_EXPORTER_OTLP_ENDPOINT`, and one line per span on
  stdout with `OTEL_TRACES_EXPORTER=console` (local use). With none of them nothing is set up, and every span and
  counter below is OpenTelemetry's no-op.
- `invocation_span` (opened by the edges, inside their `log_context`) and `client_span` (each ACS request) carry
  the ids of the log context (`callLegId`, `campaignId`, `callConnectionId`, `correlationId`) as attributes.
- A trace goes on across queues as a W3C `traceparent` in the JSON of every message the app sends (`with_trace`),
  and across ACS as `traceparent` in the leg's callback URL, fixed when the leg is created.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.context import Context
from opentelemetry.trace import Link, Span, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from shared.logs import current_log_context, install_private_logging

logger = logging.getLogger(__name__)

NAME = "acs-call-automation"
SPAN_LINE_PREFIX = "span "  # how the console exporter's lines start (devstack shows them; tests find them)
TRACEPARENT = "traceparent"
_TRACEPARENT = re.compile(r"00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}\Z")
_PROPAGATOR = TraceContextTextMapPropagator()

_tracer_provider: Any = None  # None: the global one (set by configure_telemetry, or the Functions worker)
_meter_provider: Any = None
_instruments: dict[int, dict[str, Any]] = {}
_configured: list[str] | None = None


# -- where telemetry goes ---------------------------------------------------------------------------------------


def _setting(env: Mapping[str, str], name: str) -> str | None:
    return env.get(name, "").strip() or None


def exporters_for(env: Mapping[str, str]) -> list[str]:
    """The exporters the settings ask for: `azure-monitor`, `otlp`, `console` (none: no telemetry, no cost)."""
    exporters = []
    if _setting(env, "APPLICATIONINSIGHTS_CONNECTION_STRING"):
        exporters.append("azure-monitor")
    if _setting(env, "OTEL_EXPORTER_OTLP_ENDPOINT") or _setting(env, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        exporters.append("otlp")
    if "console" in (_setting(env, "OTEL_TRACES_EXPORTER") or "").lower().split(","):
        exporters.append("console")
    return exporters


def configure_telemetry(env: Mapping[str, str] | None = None) -> list[str]:
    """Set up the exporters `exporters_for` names, once per process; returns them."""
    global _configured
    if _configured is not None:
        return _configured
    env = os.environ if env is None else env
    exporters = exporters_for(env)
    _configured = exporters
    if not exporters:
        return exporters
    span_processors, metric_readers, log_processors = _processors(exporters)
    if "azure-monitor" in exporters:
        if _sdk_already_configured():
            # PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY: the Python worker configured Azure Monitor before
            # importing the app; configuring it again would export everything twice.
            for processor in span_processors:
                trace.get_tracer_provider().add_span_processor(processor)  # type: ignore[attr-defined]
        else:
            from azure.monitor.opentelemetry import configure_azure_monitor

            configure_azure_monitor(
                # The exporter takes its identity from APPLICATIONINSIGHTS_AUTHENTICATION_STRING, as the host does.
                connection_string=_setting(env, "APPLICATIONINSIGHTS_CONNECTION_STRING"),
                span_processors=span_processors,
                metric_readers=metric_readers,
                log_record_processors=log_processors,
            )
    else:
        _configure_sdk(span_processors, metric_readers, log_processors)
    install_private_logging()  # the exporters' log handler masks and redacts like every other one
    return exporters


def _sdk_already_configured() -> bool:
    from opentelemetry.sdk.trace import TracerProvider

    return isinstance(trace.get_tracer_provider(), TracerProvider)


def _processors(exporters: list[str]) -> tuple[list[Any], list[Any], list[Any]]:
    spans: list[Any] = []
    readers: list[Any] = []
    logs: list[Any] = []
    if "otlp" in exporters:
        from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
        from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        spans.append(BatchSpanProcessor(OTLPSpanExporter()))
        readers.append(PeriodicExportingMetricReader(OTLPMetricExporter()))
        logs.append(BatchLogRecordProcessor(OTLPLogExporter()))
    if "console" in exporters:
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor

        # At once and one line each: a local trace is read as it happens, and grep finds a call's spans.
        spans.append(SimpleSpanProcessor(ConsoleSpanExporter(formatter=span_line)))
    return spans, readers, logs


def _configure_sdk(span_processors: list[Any], metric_readers: list[Any], log_processors: list[Any]) -> None:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider

    resource = Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME") or NAME})
    provider = TracerProvider(resource=resource)
    for processor in span_processors:
        provider.add_span_processor(processor)
    trace.set_tracer_provider(provider)
    if metric_readers:
        metrics.set_meter_provider(MeterProvider(resource=resource, metric_readers=metric_readers))
    if log_processors:
        from opentelemetry._logs import set_logger_provider
        from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler

        logger_provider = LoggerProvider(resource=resource)
        for processor in log_processors:
            logger_provider.add_log_record_processor(processor)
        set_logger_provider(logger_provider)
        logging.getLogger().addHandler(LoggingHandler(logger_provider=logger_provider))


def span_line(span: Any) -> str:
    """One finished span as one line: `span {"name", "kind", "traceId", "spanId", "parentId", "links",
    "status", "ms", "attributes"}`."""
    context = span.get_span_context()
    parent = span.parent
    body = {
        "name": span.name,
        "kind": span.kind.name,
        "traceId": f"{context.trace_id:032x}",
        "spanId": f"{context.span_id:016x}",
        "parentId": f"{parent.span_id:016x}" if parent is not None else None,
        "links": [f"{link.context.trace_id:032x}-{link.context.span_id:016x}" for link in span.links],
        "status": span.status.status_code.name,
        "ms": round((span.end_time - span.start_time) / 1e6, 1) if span.end_time and span.start_time else None,
        "attributes": dict(span.attributes or {}),
    }
    return SPAN_LINE_PREFIX + json.dumps(body, default=str) + "\n"


@contextmanager
def providers_for_tests(tracer_provider: Any, meter_provider: Any) -> Iterator[None]:
    """Spans and counters go to these providers inside (an in-memory exporter and reader), not the global ones."""
    global _tracer_provider, _meter_provider
    saved = _tracer_provider, _meter_provider
    _tracer_provider, _meter_provider = tracer_provider, meter_provider
    try:
        yield
    finally:
        _tracer_provider, _meter_provider = saved


def _tracer() -> trace.Tracer:
    return trace.get_tracer(NAME, tracer_provider=_tracer_provider)


# -- trace context across queues and ACS ------------------------------------------------------------------------


def current_traceparent() -> str | None:
    """The W3C traceparent of the current span; None when there is none (no telemetry, or outside a span)."""
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    value = carrier.get(TRACEPARENT)
    return value if value and _TRACEPARENT.match(value) else None


def context_of(traceparent: object) -> Context | None:
    """The trace context a traceparent names; None for anything that is not a valid one (ignored, never an error)."""
    if not isinstance(traceparent, str) or not _TRACEPARENT.match(traceparent):
        return None
    context = _PROPAGATOR.extract({TRACEPARENT: traceparent})
    return context if trace.get_current_span(context).get_span_context().is_valid else None


def with_trace(text: str) -> str:
    """A queue message's text with the current traceparent added to its JSON object (unchanged when there is no
    current span, or the text is not a JSON object)."""
    traceparent = current_traceparent()
    if traceparent is None or not text.startswith("{"):
        return text
    try:
        body = json.loads(text)
    except ValueError:
        return text
    if not isinstance(body, dict) or TRACEPARENT in body:
        return text
    return json.dumps({**body, TRACEPARENT: traceparent})


def traceparent_in(text: str | bytes) -> str | None:
    """The traceparent a message's JSON object carries (None without one, or when it is not valid)."""
    raw = text.decode("utf-8", errors="replace") if isinstance(text, bytes) else text
    if f'"{TRACEPARENT}"' not in raw:
        return None  # the common case without telemetry: no parse
    try:
        body = json.loads(raw)
    except ValueError:
        return None
    value = body.get(TRACEPARENT) if isinstance(body, dict) else None
    return value if context_of(value) is not None else None


# -- spans ------------------------------------------------------------------------------------------------------


@contextmanager
def invocation_span(
    name: str, kind: SpanKind, *, carried: str | None = None, headers: Mapping[str, str] | None = None
) -> Iterator[Span]:
    """The span of one invocation, named after its function. Its parent is the trace context the input carried
    (a queue message's or callback URL's `traceparent`), else the host's current span, else a W3C `traceparent`
    header; a host span that is not the parent is linked. Under the host's own span it is INTERNAL: the host's
    span is the request already, and a second SERVER span would count every request twice. On the way out it
    takes the log context's ids."""
    ambient = trace.get_current_span().get_span_context()
    parent = context_of(carried)
    links = []
    if parent is not None:
        if ambient.is_valid:
            links.append(Link(ambient))
    elif ambient.is_valid:
        kind = SpanKind.INTERNAL
    elif headers:
        parent = context_of(_header(headers, TRACEPARENT))
    with _tracer().start_as_current_span(name, context=parent, kind=kind, links=links) as span:
        try:
            yield span
        finally:
            span.set_attributes(current_log_context())


def _header(headers: Mapping[str, str], name: str) -> str | None:
    try:
        return headers.get(name)
    except Exception:  # a header mapping of an unexpected kind: no trace context, never a failed request
        return None


@contextmanager
def client_span(name: str, **attributes: str | None) -> Iterator[Span]:
    """A CLIENT span around one request to ACS, with the log context's ids (and `attributes`, where given)."""
    with _tracer().start_as_current_span(name, kind=SpanKind.CLIENT) as span:
        span.set_attributes({**current_log_context(), **{k: v for k, v in attributes.items() if v}})
        yield span


def add_span_attributes(**attributes: str | None) -> None:
    """Ids learnt during a span (ACS's answer to create call), on the current span."""
    trace.get_current_span().set_attributes({name: value for name, value in attributes.items() if value})


def mark_failed(span: Span, description: str) -> None:
    span.set_status(Status(StatusCode.ERROR, description))


# -- counters ---------------------------------------------------------------------------------------------------

CALLS_PLACED = "calls.placed"
CALLS_ENDED = "calls.ended"
PACING_WAITS = "pacing.waits"
EVENT_DELIVERIES_FAILED = "event_deliveries.failed"
CALLBACKS_UNAUTHORIZED = "callbacks.unauthorized"

_COUNTERS = {
    CALLS_PLACED: "Calls ACS accepted to place",
    CALLS_ENDED: "Call legs that ended, by outcome",
    PACING_WAITS: "Calls or recipients that waited for a free line",
    EVENT_DELIVERIES_FAILED: "Events that could not be delivered to a callbackUri after every attempt",
    CALLBACKS_UNAUTHORIZED: "ACS callbacks refused with 401 (token or URL token invalid)",
}


def count(name: str, amount: int = 1, **attributes: str) -> None:
    """Add to one of the app's counters (a no-op without telemetry)."""
    provider = _meter_provider or metrics.get_meter_provider()
    instruments = _instruments.get(id(provider))
    if instruments is None:
        meter = metrics.get_meter(NAME, meter_provider=provider)
        instruments = {n: meter.create_counter(n, unit="1", description=d) for n, d in _COUNTERS.items()}
        _instruments[id(provider)] = instruments
    instruments[name].add(amount, attributes)
