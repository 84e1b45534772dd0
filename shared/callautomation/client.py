"""The app's client for ACS Call Automation (GA REST API) over `requests`.

One method per operation the app needs. Every call is signed (HMAC or Entra ID), bounded by a timeout, and
retried only when repeating it cannot do anything twice.
"""

from __future__ import annotations

import functools
import json
import logging
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit

import requests
from requests.auth import AuthBase
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

from shared.callautomation.auth import EntraIdAuth, HmacAuth, http_date
from shared.callautomation.connection_string import parse_connection_string
from shared.callautomation.errors import CallAutomationError, ServiceUnavailableError, error_for_status
from shared.callautomation.identifiers import phone_number_model, raw_id_of, to_acs_identifier
from shared.callautomation.models import AddParticipantResult, CallConnection, CallParticipant
from shared.http_environment import new_session
from shared.telemetry import add_span_attributes, client_span

logger = logging.getLogger(__name__)
T = TypeVar("T")

DEFAULT_API_VERSION = "2025-05-15"  # newest stable GA version in the REST specs
_IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "DELETE"})
# The service refused these before doing anything, so even a non-repeatable request can be sent again.
_REFUSED_STATUSES = frozenset({429, 503})
_TRANSIENT_STATUSES = frozenset({500, 502, 504})


def _acs_request(operation: str) -> Callable[[Callable[..., T]], Callable[..., T]]:
    """One CLIENT span per operation (its retries included), with the call connection it is about."""

    def decorate(method: Callable[..., T]) -> Callable[..., T]:
        @functools.wraps(method)
        def run(self: CallAutomationClient, *args: Any, **kwargs: Any) -> T:
            connection_id = kwargs.get("call_connection_id", args[0] if args and operation != "createCall" else None)
            with client_span(f"ACS {operation}", callConnectionId=connection_id if isinstance(connection_id, str)
                             else None, **{"server.address": self.endpoint_host, "acs.operation": operation}):
                return method(self, *args, **kwargs)

        return run

    return decorate


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry. Delays double from `backoff`; Retry-After wins when the service sends it."""

    max_attempts: int = 4
    backoff: float = 0.5
    max_backoff: float = 8.0
    max_retry_after: float = 10.0  # a longer wait is the caller's decision: we raise ThrottledError instead

    def delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return retry_after
        return min(self.backoff * 2 ** (attempt - 1), self.max_backoff)


class CallAutomationClient:
    """Client for one ACS resource.

    `credential` is the base64 access key (HMAC), an azure-identity credential (Entra ID, e.g. managed
    identity), or any `requests` AuthBase.
    """

    def __init__(
        self,
        endpoint: str,
        credential: str | AuthBase | Any,
        *,
        api_version: str = DEFAULT_API_VERSION,
        timeout: float | tuple[float, float] = (5.0, 15.0),
        retry: RetryPolicy | None = None,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not endpoint:
            raise ValueError("endpoint is required")
        self._endpoint = endpoint.rstrip("/")
        self._auth = _auth_for(credential)
        self._api_version = api_version
        self._timeout = timeout
        self._retry = retry or RetryPolicy()
        self._session = session or new_session()
        self._sleep = sleep

    @classmethod
    def from_connection_string(cls, connection_string: str, **kwargs: Any) -> CallAutomationClient:
        parsed = parse_connection_string(connection_string)
        return cls(parsed.endpoint, parsed.access_key, **kwargs)

    @property
    def endpoint_host(self) -> str:
        """The resource's host name (no key, no path): what a health check may show."""
        return urlsplit(self._endpoint).netloc

    def __enter__(self) -> CallAutomationClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._session.close()

    # -- calls ----------------------------------------------------------------------------------------

    @_acs_request("createCall")
    def create_call(
        self,
        targets: Sequence[str | Mapping[str, Any]],
        callback_uri: str,
        *,
        source_caller_id: str | None = None,
        source_display_name: str | None = None,
        source: str | None = None,
        operation_context: str | None = None,
        repeatability: tuple[str, str] | None = None,
        cognitive_services_endpoint: str | None = None,
    ) -> CallConnection:
        """Place an outbound call; the answer (CallConnected or CreateCallFailed) arrives at `callback_uri`.

        `repeatability` is a (Repeatability-Request-ID, Repeatability-First-Sent) pair to reuse: sending the same
        pair and body again within ACS's 5-minute window never places a second call.
        """
        body: dict[str, Any] = {
            "targets": [to_acs_identifier(t) for t in targets],
            "callbackUri": callback_uri,
        }
        if source_caller_id:
            body["sourceCallerIdNumber"] = phone_number_model(source_caller_id)
        if source_display_name:
            body["sourceDisplayName"] = source_display_name
        if source:
            body["source"] = {"id": raw_id_of(source)}
        if cognitive_services_endpoint:
            # ACS speaks text prompts (text sources, recognize prompts) through this Azure AI services resource.
            body["callIntelligenceOptions"] = {"cognitiveServicesEndpoint": cognitive_services_endpoint}
        _put_optional(body, operationContext=operation_context)
        response = self._send(
            "POST", "/calling/callConnections", body=body, repeatable=True, repeatability=repeatability
        )
        connection = CallConnection.from_wire(response.json())
        add_span_attributes(callConnectionId=connection.call_connection_id, correlationId=connection.correlation_id)
        return connection

    @_acs_request("getCall")
    def get_call(self, call_connection_id: str) -> CallConnection:
        response = self._send("GET", _call_path(call_connection_id))
        return CallConnection.from_wire(response.json())

    @_acs_request("hangUp")
    def hang_up(self, call_connection_id: str, *, for_everyone: bool = True) -> None:
        """End the call for everyone (`:terminate`), or only take the app out of it (DELETE)."""
        if for_everyone:
            self._send("POST", _call_path(call_connection_id) + ":terminate", repeatable=True)
        else:
            self._send("DELETE", _call_path(call_connection_id))

    # -- media ----------------------------------------------------------------------------------------

    @_acs_request("play")
    def play(
        self,
        call_connection_id: str,
        sources: Sequence[Mapping[str, Any]],
        *,
        play_to: Iterable[str | Mapping[str, Any]] = (),
        loop: bool = False,
        interrupt: bool = False,
        operation_context: str | None = None,
        operation_callback_uri: str | None = None,
    ) -> None:
        """Play `sources` (see `file_source`, `text_source`) to everyone, or to `play_to`."""
        body: dict[str, Any] = {
            "playSources": list(sources),
            "playTo": [to_acs_identifier(p) for p in play_to],
            "playOptions": {"loop": loop},
            "interruptCallMediaOperation": interrupt,
        }
        _put_optional(body, operationContext=operation_context, operationCallbackUri=operation_callback_uri)
        self._send("POST", _call_path(call_connection_id) + ":play", body=body)

    @_acs_request("cancelAllMediaOperations")
    def cancel_media(self, call_connection_id: str) -> None:
        """Cancel every playing and queued media operation (PlayCanceled / RecognizeCanceled follow)."""
        self._send("POST", _call_path(call_connection_id) + ":cancelAllMediaOperations")

    @_acs_request("recognize")
    def recognize_dtmf(
        self,
        call_connection_id: str,
        target: str | Mapping[str, Any],
        *,
        prompt: Mapping[str, Any] | None = None,
        max_tones: int = 1,
        stop_tones: Sequence[str] = (),
        initial_silence_timeout: int = 5,
        inter_tone_timeout: int = 2,
        interrupt_prompt: bool = True,
        operation_context: str | None = None,
        operation_callback_uri: str | None = None,
    ) -> None:
        """Collect DTMF from `target`, optionally after a prompt; RecognizeCompleted/Failed follows."""
        body: dict[str, Any] = {
            "recognizeInputType": "dtmf",
            "recognizeOptions": {
                "targetParticipant": to_acs_identifier(target),
                "interruptPrompt": interrupt_prompt,
                "initialSilenceTimeoutInSeconds": initial_silence_timeout,
                "dtmfOptions": {
                    "maxTonesToCollect": max_tones,
                    "interToneTimeoutInSeconds": inter_tone_timeout,
                    "stopTones": list(stop_tones),
                },
            },
        }
        if prompt is not None:
            body["playPrompt"] = dict(prompt)
        _put_optional(body, operationContext=operation_context, operationCallbackUri=operation_callback_uri)
        self._send("POST", _call_path(call_connection_id) + ":recognize", body=body)

    def start_continuous_dtmf(
        self, call_connection_id: str, target: str | Mapping[str, Any], *, operation_context: str | None = None
    ) -> None:
        """Report every key `target` presses as ContinuousDtmfRecognitionToneReceived."""
        self._continuous_dtmf(call_connection_id, target, "start", operation_context)

    def stop_continuous_dtmf(
        self, call_connection_id: str, target: str | Mapping[str, Any], *, operation_context: str | None = None
    ) -> None:
        self._continuous_dtmf(call_connection_id, target, "stop", operation_context)

    @_acs_request("continuousDtmfRecognition")
    def _continuous_dtmf(
        self, call_connection_id: str, target: str | Mapping[str, Any], verb: str, operation_context: str | None
    ) -> None:
        body: dict[str, Any] = {"targetParticipant": to_acs_identifier(target)}
        _put_optional(body, operationContext=operation_context)
        self._send("POST", _call_path(call_connection_id) + f":{verb}ContinuousDtmfRecognition", body=body)

    # -- participants ---------------------------------------------------------------------------------

    @_acs_request("addParticipant")
    def add_participant(
        self,
        call_connection_id: str,
        participant: str | Mapping[str, Any],
        *,
        source_caller_id: str | None = None,
        invitation_timeout: int | None = None,
        operation_context: str | None = None,
        operation_callback_uri: str | None = None,
    ) -> AddParticipantResult:
        """Invite someone; AddParticipantSucceeded/Failed follows. Phone numbers need `source_caller_id`."""
        body: dict[str, Any] = {"participantToAdd": to_acs_identifier(participant)}
        if source_caller_id:
            body["sourceCallerIdNumber"] = phone_number_model(source_caller_id)
        _put_optional(
            body,
            invitationTimeoutInSeconds=invitation_timeout,
            operationContext=operation_context,
            operationCallbackUri=operation_callback_uri,
        )
        response = self._send("POST", _call_path(call_connection_id) + "/participants:add", body=body, repeatable=True)
        answer = _json_or_empty(response)
        participant_body = answer.get("participant")
        return AddParticipantResult(
            invitation_id=answer.get("invitationId"),
            participant=CallParticipant.from_wire(participant_body) if participant_body else None,
            operation_context=answer.get("operationContext"),
        )

    @_acs_request("removeParticipant")
    def remove_participant(
        self,
        call_connection_id: str,
        participant: str | Mapping[str, Any],
        *,
        operation_context: str | None = None,
        operation_callback_uri: str | None = None,
    ) -> None:
        body: dict[str, Any] = {"participantToRemove": to_acs_identifier(participant)}
        _put_optional(body, operationContext=operation_context, operationCallbackUri=operation_callback_uri)
        self._send("POST", _call_path(call_connection_id) + "/participants:remove", body=body, repeatable=True)

    @_acs_request("cancelAddParticipant")
    def cancel_add_participant(
        self, call_connection_id: str, invitation_id: str, *, operation_context: str | None = None
    ) -> None:
        body: dict[str, Any] = {"invitationId": invitation_id}
        _put_optional(body, operationContext=operation_context)
        self._send(
            "POST",
            _call_path(call_connection_id) + "/participants:cancelAddParticipant",
            body=body,
            repeatable=True,
        )

    @_acs_request("listParticipants")
    def list_participants(self, call_connection_id: str) -> list[CallParticipant]:
        participants: list[CallParticipant] = []
        path: str | None = _call_path(call_connection_id) + "/participants"
        while path:
            page = self._send("GET", path).json()
            participants.extend(CallParticipant.from_wire(p) for p in page.get("value", []))
            path = page.get("nextLink")
        return participants

    @_acs_request("getParticipant")
    def get_participant(self, call_connection_id: str, participant: str | Mapping[str, Any]) -> CallParticipant:
        raw_id = quote(raw_id_of(participant), safe="")
        response = self._send("GET", _call_path(call_connection_id) + f"/participants/{raw_id}")
        return CallParticipant.from_wire(response.json())

    # -- transport ------------------------------------------------------------------------------------

    def _send(
        self,
        method: str,
        path: str,
        *,
        body: Mapping[str, Any] | None = None,
        repeatable: bool = False,
        repeatability: tuple[str, str] | None = None,
    ) -> requests.Response:
        url = path if path.startswith("http") else f"{self._endpoint}{path}"
        params = None if "api-version=" in url else {"api-version": self._api_version}
        # Serialize once: the HMAC hash must cover exactly the bytes that go on the wire.
        data = json.dumps(body, separators=(",", ":")).encode() if body is not None else b""
        headers = {
            "Accept": "application/json",
            "Content-Type": "application/json",
            "x-ms-client-request-id": str(uuid.uuid4()),
        }
        if repeatable:
            # Same headers on every retry, so ACS recognises a repeat and does not act twice.
            request_id, first_sent = repeatability or new_repeatability()
            headers["Repeatability-Request-ID"] = request_id
            headers["Repeatability-First-Sent"] = first_sent
        safe_to_repeat = repeatable or method in _IDEMPOTENT_METHODS

        for attempt in range(1, self._retry.max_attempts + 1):
            last_attempt = attempt == self._retry.max_attempts
            try:
                response = self._session.request(
                    method, url, params=params, data=data, headers=headers, auth=self._auth, timeout=self._timeout
                )
            except requests.RequestException as exc:
                if last_attempt or not (safe_to_repeat or _nothing_was_sent(exc)):
                    raise ServiceUnavailableError(
                        f"ACS could not be reached ({type(exc).__name__}) for {method} {path.split('?')[0]}."
                    ) from exc
                delay = self._retry.delay(attempt, None)
                cause = type(exc).__name__
            else:
                if response.status_code < 400:
                    return response
                error = _error_from(response)
                retryable = response.status_code in _REFUSED_STATUSES or (
                    safe_to_repeat and response.status_code in _TRANSIENT_STATUSES
                )
                too_long = error.retry_after is not None and error.retry_after > self._retry.max_retry_after
                if last_attempt or not retryable or too_long:
                    raise error
                delay = self._retry.delay(attempt, error.retry_after)
                cause = f"ACS answered {response.status_code}"
            logger.info("Retrying %s %s in %.2fs (attempt %d): %s", method, path.split("?")[0], delay, attempt + 1,
                        cause)
            self._sleep(delay)
        raise AssertionError("unreachable")  # the loop always returns or raises


def new_repeatability() -> tuple[str, str]:
    """A fresh (Repeatability-Request-ID, Repeatability-First-Sent) pair."""
    return str(uuid.uuid4()), http_date(datetime.now(UTC))


def _auth_for(credential: str | AuthBase | Any) -> AuthBase:
    if isinstance(credential, AuthBase):
        return credential
    if isinstance(credential, str):
        return HmacAuth(credential)
    if hasattr(credential, "get_token"):
        return EntraIdAuth(credential)
    raise TypeError("credential must be an access key, an azure-identity credential or a requests AuthBase")


def _call_path(call_connection_id: str) -> str:
    if not call_connection_id or not isinstance(call_connection_id, str):
        raise ValueError("call_connection_id is required")
    return f"/calling/callConnections/{quote(call_connection_id, safe='')}"


def _put_optional(body: dict[str, Any], **fields: Any) -> None:
    body.update({name: value for name, value in fields.items() if value is not None})


def _json_or_empty(response: requests.Response) -> dict[str, Any]:
    try:
        answer = response.json()
    except ValueError:
        return {}
    return answer if isinstance(answer, dict) else {}


def _error_from(response: requests.Response) -> CallAutomationError:
    """The typed error for an ACS error answer (`{"error": {"code", "message"}}`)."""
    error = _json_or_empty(response).get("error")
    code = message = None
    if isinstance(error, dict):
        code = str(error.get("code")) if error.get("code") is not None else None
        message = error.get("message") if isinstance(error.get("message"), str) else None
    text = message or response.reason or "ACS returned an error."
    return error_for_status(
        response.status_code,
        f"ACS answered {response.status_code}: {text}",
        code=code,
        retry_after=_retry_after(response.headers.get("Retry-After")),
    )


def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header: delta-seconds or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - datetime.now(UTC)).total_seconds())


def _nothing_was_sent(exc: requests.RequestException) -> bool:
    """True when the connection itself failed, so the service cannot have seen the request."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(reason, NewConnectionError | ConnectTimeoutError)
