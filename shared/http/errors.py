"""Every HTTP error the app gives: the seed's body `{"code": "...", "message": "..."}`.

`error_for` turns whatever went wrong below the handler into one of these, so handlers never write error
bodies by hand and no upstream detail that could hold a secret reaches the caller.
"""

from __future__ import annotations

import functools
import json
import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import azure.functions as func

from shared import bounded_json
from shared.callautomation import CallAutomationError, CallNotFoundError, ThrottledError
from shared.calls.acs_events import InvalidCallbackBodyError
from shared.calls.callback_auth import CallbackAuthError, KeysUnavailableError
from shared.calls.callback_binding import CallbackRejectedError
from shared.calls.errors import CallEndedError, CallNotConnectedError
from shared.calls.requests import ValidationError
from shared.calls.store import CallLegNotFoundError, ConcurrentUpdateError
from shared.campaigns.store import CampaignExistsError, CampaignNotFoundError
from shared.fields import UnknownFieldError
from shared.ids import is_call_leg_id, is_campaign_id
from shared.lines import LinesBusyError
from shared.logs import log_context
from shared.settings import ConfigurationError
from shared.telemetry import CALLBACKS_UNAUTHORIZED, SpanKind, count, invocation_span, mark_failed

logger = logging.getLogger(__name__)


@dataclass
class ApiError(Exception):
    status_code: int
    code: str
    message: str
    headers: dict[str, str] = field(default_factory=dict)

    def to_response(self) -> func.HttpResponse:
        return json_response({"code": self.code, "message": self.message}, self.status_code, self.headers)


def call_not_found(call_id: str) -> ApiError:
    shown = call_id if len(call_id) <= 64 and call_id.isprintable() else call_id[:64].encode("unicode_escape").decode()
    return ApiError(404, "CallNotFound", f"No call leg with id {shown!r}.")


def call_ended(call_id: str) -> ApiError:
    return ApiError(409, "CallEnded", f"Call leg {call_id!r} has ended.")


def call_not_connected(call_id: str, state: str) -> ApiError:
    return ApiError(409, "CallNotConnected", f"Call leg {call_id!r} is not connected yet (state {state}).")


def _unauthorized(_: Exception) -> ApiError:
    count(CALLBACKS_UNAUTHORIZED)
    return ApiError(401, "Unauthorized", "The callback token is missing or invalid.")


def _callback_rejected(exc: CallbackRejectedError) -> ApiError:
    if exc.status_code == 401:
        return _unauthorized(exc)
    return ApiError(403, "Forbidden", "The callback's events are not about this call leg.")


def _lines_busy(exc: LinesBusyError) -> ApiError:
    retry_after = str(max(1, math.ceil(exc.retry_after)))
    return ApiError(429, "LinesBusy", "Every line of the caller number is in use; try again later.",
                    {"Retry-After": retry_after})


def _throttled(exc: ThrottledError) -> ApiError:
    retry_after = str(max(1, math.ceil(exc.retry_after or 1)))
    return ApiError(429, "Throttled", "ACS is throttling requests; try again later.", {"Retry-After": retry_after})


def _upstream(exc: CallAutomationError) -> ApiError:
    if exc.status_code is None or exc.status_code >= 500:
        return ApiError(
            503, "UpstreamUnavailable", "ACS Call Automation is unavailable; try again later.", {"Retry-After": "5"}
        )
    return ApiError(502, "UpstreamRejected", f"ACS rejected the request ({exc.status_code}, code {exc.code}).")


def _configuration(exc: ConfigurationError) -> ApiError:
    logger.error("Configuration problem: %s", exc)
    return ApiError(500, "ConfigurationError", "The app is not configured correctly; see its logs.")


# The one place where what went wrong in the domain becomes an HTTP answer: the first class that matches wins
# (subclasses before their bases).
ANSWERS: list[tuple[type[Exception], Callable[[Any], ApiError]]] = [
    (ApiError, lambda exc: exc),
    (UnknownFieldError, lambda exc: ApiError(400, "UnknownField", exc.message)),
    (ValidationError, lambda exc: ApiError(400, "InvalidRequest", f"Invalid field '{exc.field}': {exc.message}")),
    (CallbackAuthError, _unauthorized),
    (CallbackRejectedError, _callback_rejected),
    (KeysUnavailableError, lambda _: ApiError(503, "KeysUnavailable", "The ACS signing keys could not be fetched.",
                                              {"Retry-After": "5"})),
    (InvalidCallbackBodyError, lambda exc: ApiError(400, "InvalidRequest", str(exc))),
    (CampaignNotFoundError, lambda _: ApiError(404, "CampaignNotFound", "No campaign with this id.")),
    (CampaignExistsError, lambda _: ApiError(409, "CampaignExists", "A campaign with this id exists already.")),
    (LinesBusyError, _lines_busy),
    (CallLegNotFoundError, lambda exc: call_not_found(str(exc))),
    (CallEndedError, lambda exc: call_ended(exc.call_leg_id)),
    (CallNotConnectedError, lambda exc: call_not_connected(exc.call_leg_id, exc.state)),
    (CallNotFoundError, lambda _: ApiError(404, "NotFound",
                                           "ACS does not know this call or participant (it may have ended).")),
    (ThrottledError, _throttled),
    (CallAutomationError, _upstream),
    (ConcurrentUpdateError, lambda _: ApiError(
        503, "Busy", "The call leg is being changed by many requests; try again.", {"Retry-After": "1"})),
    (ConfigurationError, _configuration),
]


def error_for(exc: Exception) -> ApiError:
    """The answer for an exception raised while handling a request."""
    for kind, answer in ANSWERS:
        if isinstance(exc, kind):
            return answer(exc)
    logger.exception("Unexpected error")
    return ApiError(500, "InternalError", "Something went wrong; the error was logged.")


def api_handler(handler: Callable[[func.HttpRequest], func.HttpResponse]) -> Callable[..., func.HttpResponse]:
    """Wrap an HTTP handler so anything it raises becomes the right `{"code", "message"}` answer, and what it logs
    carries the call leg or campaign its route names (shared/logs.py); each request is a SERVER span named after
    the handler, whose parent a `traceparent` query parameter (the callback URLs ACS posts to) may name."""

    @functools.wraps(handler)
    def wrapper(req: func.HttpRequest) -> func.HttpResponse:
        with log_context(**route_log_ids(req.route_params)), invocation_span(
            handler.__name__, SpanKind.SERVER, carried=req.params.get("traceparent"), headers=req.headers
        ) as span:
            try:
                response = handler(req)
            except Exception as exc:
                response = error_for(exc).to_response()
            span.set_attribute("http.request.method", req.method or "")
            span.set_attribute("http.response.status_code", response.status_code)
            if response.status_code >= 500:
                mark_failed(span, f"HTTP {response.status_code}")
            return response

    return wrapper


def route_log_ids(route_params: Mapping[str, str]) -> dict[str, str]:
    """The ids a route names, for log records; only values that are such ids (anything else is unknown anyway)."""
    ids = {}
    leg = route_params.get("callId") or route_params.get("callLegId")
    if is_call_leg_id(leg):
        ids["callLegId"] = leg
    if is_campaign_id(route_params.get("campaignId")):
        ids["campaignId"] = route_params["campaignId"]
    return ids


def json_response(body: object, status_code: int = 200, headers: dict[str, str] | None = None) -> func.HttpResponse:
    return func.HttpResponse(
        json.dumps(body), status_code=status_code, headers=headers or {}, mimetype="application/json"
    )


def read_json(req: func.HttpRequest, *, max_bytes: int = 64 * 1024, required: bool = True) -> object:
    """The request's JSON body; an ApiError for an empty, oversized, too deeply nested or malformed one."""
    body = req.get_body() or b""
    if len(body) > max_bytes:
        raise ApiError(413, "PayloadTooLarge", f"The body must be at most {max_bytes} bytes.")
    if not body.strip():
        if required:
            raise ApiError(400, "InvalidRequest", "A JSON body is required.")
        return None
    try:
        return bounded_json.loads(body)
    except bounded_json.JsonTooDeepError as error:
        raise ApiError(400, "InvalidRequest", f"The body is {error}.") from None
    except ValueError:  # UnicodeDecodeError included
        raise ApiError(400, "InvalidRequest", "The body is not valid JSON.") from None
