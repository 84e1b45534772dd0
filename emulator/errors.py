"""The catalogue of ACS-shaped errors: `{"error": {"code": "<string>", "message": "<string>"}}` (§8).

Handlers raise `AcsError` from one of the named constructors below; they never write error bodies by hand.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class AcsError(Exception):
    status: int
    code: str
    message: str
    headers: dict[str, str] = field(default_factory=dict)

    def body(self) -> dict:
        return {"error": {"code": self.code, "message": self.message}}

    def __str__(self) -> str:
        return f"{self.status} {self.code}: {self.message}"


def denied(reason: str) -> AcsError:
    # The reason is not a secret (e.g. "stale x-ms-date"); it helps developers, like Azurite's debug log.
    return AcsError(401, "Denied", "Denied by the resource provider.", {"x-emulator-auth-failure": reason})


def missing_api_version() -> AcsError:
    return AcsError(
        400,
        "MissingApiVersionParameter",
        "The api-version query parameter (?api-version=) is required for all requests.",
    )


def unsupported_api_version(version: str, supported: tuple[str, ...]) -> AcsError:
    shown = version if len(version) <= 40 else version[:40] + "..."
    return AcsError(
        400,
        "UnsupportedApiVersion",
        f"The api-version '{shown}' is not supported. Supported versions: {', '.join(supported)}.",
    )


def invalid_body(field_name: str, reason: str) -> AcsError:
    return AcsError(400, "8523", f"Invalid request: '{field_name}' {reason}.")


def invalid_json() -> AcsError:
    return AcsError(400, "8523", "Invalid request: the body is not valid JSON.")


def call_not_found() -> AcsError:
    return AcsError(404, "8522", "Call not found.")


def participant_not_found() -> AcsError:
    return AcsError(404, "8522", "Participant not found.")


def call_not_established() -> AcsError:
    return AcsError(400, "8501", "Action is not supported, call is not established.")


def active_calls_limit(limit: int) -> AcsError:
    return AcsError(429, "8530", f"Active calls limit reached: at most {limit} concurrent calls per caller id.")


def resource_not_found(path: str) -> AcsError:
    return AcsError(404, "NotFound", "The requested resource was not found.")


def method_not_allowed(method: str) -> AcsError:
    return AcsError(405, "MethodNotAllowed", f"The method {method[:16]} is not allowed on this resource.")


def repeatability_malformed(reason: str) -> AcsError:
    return AcsError(400, "BadRequest", reason, {"Repeatability-Result": "rejected"})


def repeatability_mismatch() -> AcsError:
    return AcsError(
        400,
        "BadRequest",
        "A request with the same Repeatability-Request-ID and a different body was already received.",
        {"Repeatability-Result": "rejected"},
    )


def repeatability_outside_window() -> AcsError:
    return AcsError(
        412,
        "PreconditionFailed",
        "Repeatability first sent header not within 5 minute window",
        {"Repeatability-Result": "rejected"},
    )


def repeatability_in_progress() -> AcsError:
    return AcsError(
        409,
        "Conflict",
        "The original request with this Repeatability-Request-ID is still being processed.",
        {"Repeatability-Result": "rejected"},
    )


def injected_fault(status: int, retry_after_seconds: float | None) -> AcsError:
    codes = {
        429: ("TooManyRequests", "Too many requests. Retry after the indicated time (emulator fault)."),
        500: ("InternalServerError", "Internal server error (emulator fault)."),
        503: ("ServiceUnavailable", "The service is unavailable (emulator fault)."),
    }
    code, message = codes.get(status, ("EmulatorFault", "Injected fault."))
    headers = {}
    if retry_after_seconds is not None:
        headers["Retry-After"] = str(max(0, round(retry_after_seconds)))
    return AcsError(status, code, message, headers)


def internal_error() -> AcsError:
    return AcsError(500, "InternalServerError", "Unexpected emulator error; see the emulator log.")
