"""One exception tree for everything that can go wrong talking to ACS.

Callers act on a few children (not found, conflict, throttled, unreachable); everything else is the root.
Messages carry ACS's own error text and never a secret.
"""

from __future__ import annotations


class CallAutomationError(Exception):
    """ACS answered with an error, or could not be reached.

    `status_code` is the HTTP status (None when nothing came back); `code` is ACS's error code string
    (for call errors the numeric subcode, e.g. "8522").
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        code: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.code = code
        self.retry_after = retry_after

    @property
    def is_transient(self) -> bool:
        """True when trying again later may succeed: unreachable, throttled or a server error."""
        return self.status_code is None or self.status_code >= 500 or self.status_code == 429


class InvalidRequestError(CallAutomationError):
    """400: ACS rejected the request body or arguments."""


class AuthenticationError(CallAutomationError):
    """401/403: the key, token or identity was refused."""


class CallNotFoundError(CallAutomationError):
    """404: the call (or participant) does not exist or has ended."""


class ConflictError(CallAutomationError):
    """409/412: conflicting actions, or a repeatability precondition failed."""


class ThrottledError(CallAutomationError):
    """429: too many requests or too many active calls; `retry_after` says when to try again, if known."""


class ServiceUnavailableError(CallAutomationError):
    """5xx after retries, or ACS could not be reached at all (`status_code` None)."""


_ERRORS_BY_STATUS: dict[int, type[CallAutomationError]] = {
    400: InvalidRequestError,
    401: AuthenticationError,
    403: AuthenticationError,
    404: CallNotFoundError,
    409: ConflictError,
    412: ConflictError,
    429: ThrottledError,
}


def error_for_status(
    status_code: int, message: str, *, code: str | None = None, retry_after: float | None = None
) -> CallAutomationError:
    """The typed error for an HTTP status, as azure-core's `map_error` does."""
    if status_code >= 500:
        error_type: type[CallAutomationError] = ServiceUnavailableError
    else:
        error_type = _ERRORS_BY_STATUS.get(status_code, CallAutomationError)
    return error_type(message, status_code=status_code, code=code, retry_after=retry_after)
