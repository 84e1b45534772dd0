"""Every HTTP error the app gives: the seed's body `{"code": "...", "message": "..."}`.

`error_for` turns whatever went wrong below the handler into one of these, so handlers never write error
bodies by hand and no upstream detail that could hold a secret reaches the caller.
"""

from __future__ import annotations

import functools
import json
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import azure.functions as func

from . import bounded_json
from .acs_events import InvalidCallbackBodyError
from .api_models import ValidationError
from .call_leg_store import CallLegNotFoundError, ConcurrentUpdateError
from .callautomation import CallAutomationError, CallNotFoundError, ThrottledError
from .callback_auth import CallbackAuthError, KeysUnavailableError
from .callback_binding import CallbackRejectedError
from .campaign_store import CampaignExistsError, CampaignNotFoundError
from .fields import UnknownFieldError
from .lines import LinesBusyError
from .settings import ConfigurationError

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


def error_for(exc: Exception) -> ApiError:
    """The answer for an exception raised while handling a request."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, UnknownFieldError):
        return ApiError(400, "UnknownField", exc.message)
    if isinstance(exc, ValidationError):
        return ApiError(400, "InvalidRequest", f"Invalid field '{exc.field}': {exc.message}")
    if isinstance(exc, CallbackAuthError):
        return ApiError(401, "Unauthorized", "The callback token is missing or invalid.")
    if isinstance(exc, CallbackRejectedError):
        if exc.status_code == 401:
            return ApiError(401, "Unauthorized", "The callback token is missing or invalid.")
        return ApiError(403, "Forbidden", "The callback's events are not about this call leg.")
    if isinstance(exc, KeysUnavailableError):
        return ApiError(503, "KeysUnavailable", "The ACS signing keys could not be fetched.", {"Retry-After": "5"})
    if isinstance(exc, InvalidCallbackBodyError):
        return ApiError(400, "InvalidRequest", str(exc))
    if isinstance(exc, CampaignNotFoundError):
        return ApiError(404, "CampaignNotFound", "No campaign with this id.")
    if isinstance(exc, CampaignExistsError):
        return ApiError(409, "CampaignExists", "A campaign with this id exists already.")
    if isinstance(exc, LinesBusyError):
        retry_after = str(max(1, math.ceil(exc.retry_after)))
        return ApiError(429, "LinesBusy", "Every line of the caller number is in use; try again later.",
                        {"Retry-After": retry_after})
    if isinstance(exc, CallLegNotFoundError):
        return call_not_found(str(exc))
    if isinstance(exc, CallNotFoundError):
        return ApiError(404, "NotFound", "ACS does not know this call or participant (it may have ended).")
    if isinstance(exc, ThrottledError):
        retry_after = str(max(1, math.ceil(exc.retry_after or 1)))
        return ApiError(429, "Throttled", "ACS is throttling requests; try again later.", {"Retry-After": retry_after})
    if isinstance(exc, CallAutomationError):
        if exc.status_code is None or exc.status_code >= 500:
            return ApiError(
                503, "UpstreamUnavailable", "ACS Call Automation is unavailable; try again later.", {"Retry-After": "5"}
            )
        return ApiError(502, "UpstreamRejected", f"ACS rejected the request ({exc.status_code}, code {exc.code}).")
    if isinstance(exc, ConcurrentUpdateError):
        return ApiError(503, "Busy", "The call leg is being changed by many requests; try again.", {"Retry-After": "1"})
    if isinstance(exc, ConfigurationError):
        logger.error("Configuration problem: %s", exc)
        return ApiError(500, "ConfigurationError", "The app is not configured correctly; see its logs.")
    logger.exception("Unexpected error")
    return ApiError(500, "InternalError", "Something went wrong; the error was logged.")


def api_handler(handler: Callable[[func.HttpRequest], func.HttpResponse]) -> Callable[..., func.HttpResponse]:
    """Wrap an HTTP handler so anything it raises becomes the right `{"code", "message"}` answer."""

    @functools.wraps(handler)
    def wrapper(req: func.HttpRequest) -> func.HttpResponse:
        try:
            return handler(req)
        except Exception as exc:
            return error_for(exc).to_response()

    return wrapper


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
