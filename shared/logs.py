"""The app's log records: private (phone numbers masked, secrets removed) and carrying the ids they concern.

- `PrivateLogFilter` rewrites every record it sees: its message (arguments included, whatever their type), its
  traceback and stack text get phone numbers masked (`+14255550123` becomes `+1425***0123`, raw ids and
  URL-encoded numbers too) and anything that looks like a key, signature or token replaced by `[redacted]`.
- The ids of what an invocation is about (`callLegId`, `campaignId`, `callConnectionId`, and ACS's
  `correlationId`) are set once, by the
  edges (`log_context` in the queue handler and the HTTP handler) and by the call service as it learns them
  (`add_to_log_context`). The filter puts them on each record as attributes (what OpenTelemetry exports as
  customDimensions) and at the end of its message as ` [callLegId=... campaignId=...]` (what the Functions host
  sends to Application Insights as `message`: the host's own pipeline drops record attributes).

`install_private_logging()` puts the filter on the root logger and on every handler the root logger has: the
Python worker's handler in Azure, devhost's stderr handler locally (both hosts configure logging before they
import the app, so the app's import is the moment to install it).
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

FIELDS = ("callLegId", "campaignId", "callConnectionId", "correlationId")
_ID_VALUE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}\Z")  # what an id may look like in a log line

_PHONE_NUMBER = re.compile(r"(?:\+|%2[Bb])\d{6,}")
_SECRETS = [
    # key=value settings and connection strings (storage and ACS), SAS signatures, query-string secrets
    re.compile(r"(?i)\b(AccountKey|SharedAccessKey|accesskey|sig|Signature|code|token|secret|password|client_secret)="
               r"[^;&\s\"',)]+"),
    re.compile(r"(?i)\b(Bearer|SharedKey|HMAC-SHA256)\s+[^\s\"',)]+"),  # Authorization header values
    re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}(?:\.[A-Za-z0-9_-]*)?"),  # JWTs
    re.compile(r"\bwhsec_[A-Za-z0-9+/=]+"),  # Standard Webhooks secrets
]


def mask_phone_numbers(text: str) -> str:
    """`+14255550123` becomes `+1425***0123`: enough to tell numbers apart in a log, not enough to call one."""

    def mask(match: re.Match[str]) -> str:
        number = match.group()
        prefix = 3 if number.startswith("%") else 1  # `%2B14255550123` keeps its encoding: `%2B1425***0123`
        return f"{number[:prefix + 4]}***{number[-4:]}"

    return _PHONE_NUMBER.sub(mask, text)


def recipient_label(recipient_id: str) -> str:
    """How a log names a campaign recipient: its number (masked by the filter like any other), or instead of its
    own id (a patient or appointment id is the recipient's data) a short hash of it, enough to follow it."""
    if _PHONE_NUMBER.fullmatch(recipient_id):
        return recipient_id
    return "id#" + hashlib.sha256(recipient_id.encode()).hexdigest()[:12]


def redact_secrets(text: str) -> str:
    """Keys, signatures and tokens replaced by `[redacted]` (the name before `=` is kept)."""
    for pattern in _SECRETS:
        text = pattern.sub(_redacted, text)
    return text


def _redacted(match: re.Match[str]) -> str:
    name = match.group(1) if match.re.groups else None
    if name is None:
        return "[redacted]"
    separator = "=" if match.group().startswith(f"{name}=") else " "
    return f"{name}{separator}[redacted]"


def private_text(text: str) -> str:
    """What may be logged or shown to an operator of `text`: phone numbers masked, secrets redacted."""
    return redact_secrets(mask_phone_numbers(text))


# -- the ids of what an invocation is about ---------------------------------------------------------------------

_context: ContextVar[dict[str, str] | None] = ContextVar("log_context", default=None)


def _clean(ids: dict[str, object]) -> dict[str, str]:
    return {name: value for name, value in ids.items()
            if name in FIELDS and isinstance(value, str) and _ID_VALUE.match(value)}


@contextmanager
def log_context(**ids: str | None) -> Iterator[None]:
    """Records logged inside carry these ids (and those of an enclosing context); values that are not ids are
    left out, so an id from outside (a route, a message) cannot bring anything else into a log line."""
    token = _context.set({**(_context.get() or {}), **_clean(ids)})
    try:
        yield
    finally:
        _context.reset(token)


def add_to_log_context(**ids: str | None) -> None:
    """Add ids learnt during an invocation (the leg a message places, its ACS call connection) for the rest of
    the enclosing `log_context`; without one, nothing happens."""
    current = _context.get()
    if current is not None:
        current.update(_clean(ids))


def current_log_context() -> dict[str, str]:
    return dict(_context.get() or {})


# -- the filter ---------------------------------------------------------------------------------------------------

_FORMATTER = logging.Formatter()


class PrivateLogFilter(logging.Filter):
    """Masks phone numbers and secrets in every record and adds the invocation's ids (see the module's doc)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "_private", False):
            return True  # a record passes the root logger and then each handler: rewritten once
        for name, value in (_context.get() or {}).items():
            if not getattr(record, name, None):
                setattr(record, name, value)  # an id given with `extra=` wins
        try:
            message = record.getMessage()
        except Exception:  # a call with the wrong arguments: keep what was meant, never the failure
            message = f"{record.msg} {record.args}"
        ids = " ".join(f"{name}={getattr(record, name)}" for name in FIELDS if _is_id(getattr(record, name, None)))
        record.msg = private_text(message) + (f" [{private_text(ids)}]" if ids else "")
        record.args = ()
        if record.exc_info and not record.exc_text:
            record.exc_text = _FORMATTER.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = private_text(record.exc_text)
        if record.stack_info:
            record.stack_info = private_text(record.stack_info)
        record._private = True
        return True


def _is_id(value: object) -> bool:
    return isinstance(value, str) and _ID_VALUE.match(value) is not None


def install_private_logging(root: logging.Logger | None = None) -> PrivateLogFilter:
    """Put the filter on the root logger and its handlers (once each); returns the filter."""
    root = root or logging.getLogger()
    private = next((f for f in root.filters if isinstance(f, PrivateLogFilter)), None) or PrivateLogFilter()
    for target in (root, *root.handlers):
        if not any(isinstance(f, PrivateLogFilter) for f in target.filters):
            target.addFilter(private)
    return private
