"""Repeatable requests (§7.2): `Repeatability-Request-ID` + `Repeatability-First-Sent`.

A replay of the same id with the same request within the 5-minute window returns the original result
(`Repeatability-Result: accepted`) without executing again; a different request with the same id is 400;
a First-Sent outside the window is 412; malformed headers (or only one of the two) are 400. An original that
ended in 5xx is executed again. `decide` is pure; `RepeatabilityCache` holds the entries and expires them.
"""

from __future__ import annotations

import hashlib
import uuid
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime

from . import errors
from .config import REPEATABILITY_MAX_ENTRIES, REPEATABILITY_WINDOW_SECONDS
from .errors import AcsError

REQUEST_ID_HEADER = "Repeatability-Request-ID"
FIRST_SENT_HEADER = "Repeatability-First-Sent"


@dataclass
class Stored:
    fingerprint: str
    stored_at: float  # monotonic-ish seconds, the same clock `now_seconds` uses
    status: int | None = None  # None while the original is still running
    body: bytes = b""
    call_connection_id: str | None = None


@dataclass(frozen=True)
class Decision:
    """What to do with a request: `execute` it (tracking `request_id` if set) or `replay` a stored result."""

    request_id: str | None
    replay: Stored | None = None

    @property
    def execute(self) -> bool:
        return self.replay is None


def fingerprint(method: str, path: str, body: bytes) -> str:
    return hashlib.sha256(method.encode() + b"\n" + path.encode("utf-8", "replace") + b"\n" + body).hexdigest()


def parse_first_sent(value: str) -> datetime:
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        parsed = None
    if parsed is None or parsed.tzinfo is None or not value.rstrip().endswith("GMT"):
        raise errors.repeatability_malformed(f"{FIRST_SENT_HEADER} must be an IMF-fixdate in GMT")
    return parsed


def decide(
    headers: Mapping[str, str], request_fingerprint: str, stored: Stored | None, now: datetime
) -> Decision:
    """Decide about one request; raise AcsError (400/409/412) for rejected ones.

    `stored` is the entry already held for the request id, if any (callers look it up by `request_id_of`).
    """
    request_id = headers.get(REQUEST_ID_HEADER)
    first_sent = headers.get(FIRST_SENT_HEADER)
    if request_id is None and first_sent is None:
        return Decision(None)
    if request_id is None or first_sent is None:
        raise errors.repeatability_malformed(f"{REQUEST_ID_HEADER} and {FIRST_SENT_HEADER} must be sent together")
    key = normalise_request_id(request_id)
    sent = parse_first_sent(first_sent)
    if abs((now - sent).total_seconds()) > REPEATABILITY_WINDOW_SECONDS:
        raise errors.repeatability_outside_window()
    if stored is None:
        return Decision(key)
    if stored.fingerprint != request_fingerprint:
        raise errors.repeatability_mismatch()
    if stored.status is None:
        raise errors.repeatability_in_progress()
    if stored.status >= 500:
        return Decision(key)  # the original failed on our side: run it again
    return Decision(key, replay=stored)


def normalise_request_id(value: str) -> str:
    try:
        return str(uuid.UUID(value.strip()))
    except (ValueError, AttributeError):
        raise errors.repeatability_malformed(f"{REQUEST_ID_HEADER} must be a UUID") from None


def request_id_of(headers: Mapping[str, str]) -> str | None:
    """The normalised request id, or None when absent or malformed (decide() reports those)."""
    value = headers.get(REQUEST_ID_HEADER)
    if value is None:
        return None
    try:
        return normalise_request_id(value)
    except AcsError:
        return None


class RepeatabilityCache:
    """Entries by request id, expiring `REPEATABILITY_WINDOW_SECONDS` after they were stored; size-bounded."""

    def __init__(
        self, window_seconds: float = REPEATABILITY_WINDOW_SECONDS, max_entries: int = REPEATABILITY_MAX_ENTRIES
    ) -> None:
        self._window = window_seconds
        self._max = max_entries
        self._entries: OrderedDict[str, Stored] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def _expire(self, now_seconds: float) -> None:
        while self._entries:
            key, oldest = next(iter(self._entries.items()))
            if now_seconds - oldest.stored_at <= self._window and len(self._entries) <= self._max:
                break
            del self._entries[key]

    def get(self, request_id: str | None, now_seconds: float) -> Stored | None:
        self._expire(now_seconds)
        return self._entries.get(request_id) if request_id else None

    def begin(self, request_id: str, request_fingerprint: str, now_seconds: float) -> None:
        self._entries.pop(request_id, None)
        self._entries[request_id] = Stored(request_fingerprint, now_seconds)
        self._expire(now_seconds)

    def complete(self, request_id: str, status: int, body: bytes, call_connection_id: str | None) -> None:
        entry = self._entries.get(request_id)
        if entry is not None:
            entry.status, entry.body, entry.call_connection_id = status, body, call_connection_id

    def abandon(self, request_id: str) -> None:
        self._entries.pop(request_id, None)

    def clear(self) -> None:
        self._entries.clear()
