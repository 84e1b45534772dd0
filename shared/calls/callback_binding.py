"""Binding an ACS callback to the call leg it names.

A valid ACS token (callback_auth) proves a callback comes from ACS, but the token is the same for every call of
the resource: it says nothing about *which* call. Two more checks tie a callback to its leg:
- the callback URL carries the leg's own unguessable token, which only ACS received (in create call);
- every event must be about the leg's ACS call: its callConnectionId, and once known its serverCallId, match.
A mismatch is refused before anything is written, counted and logged (never with the token itself).
"""

from __future__ import annotations

import hmac
import logging
import secrets
from collections import Counter
from collections.abc import Iterable

from shared.calls.acs_events import AcsEvent
from shared.calls.legs import CallLeg

logger = logging.getLogger(__name__)

# Refused callbacks by reason, for this process (dashboards and tests read it; logs carry each one).
rejected_callbacks: Counter[str] = Counter()


class CallbackRejectedError(Exception):
    """The callback is not about this leg: 401 when the URL token is wrong, 403 when an event names another call."""

    def __init__(self, status_code: int, reason: str) -> None:
        super().__init__(reason)
        self.status_code = status_code
        self.reason = reason


def new_callback_token() -> str:
    return secrets.token_urlsafe(24)


def check_callback_token(leg: CallLeg, token: str | None) -> None:
    """Constant-time comparison, so the time to refuse says nothing about how much of a guess was right."""
    if leg.callback_token is None:
        return  # a leg placed before callback tokens existed: the event checks below still apply
    if not token or not hmac.compare_digest(token.encode(), leg.callback_token.encode()):
        raise _rejected(leg, 401, "token", "the callback URL's token is missing or wrong")


def check_events_belong(leg: CallLeg, events: Iterable[AcsEvent]) -> None:
    """Every event must be about the leg's ACS call (and all events of one callback about the same call)."""
    connection = leg.acs_call_connection_id
    for event in events:
        if not event.call_connection_id:
            raise _rejected(leg, 403, "no-connection", f"a {event.name} event names no call connection")
        if connection and event.call_connection_id != connection:
            raise _rejected(leg, 403, "other-call", f"a {event.name} event is about another call")
        connection = connection or event.call_connection_id
        server_call_id = event.data.get("serverCallId")
        if leg.server_call_id and server_call_id != leg.server_call_id:
            raise _rejected(leg, 403, "other-server-call", f"a {event.name} event is about another server call")


def note_rejected(reason: str, call_leg_id: str, message: str) -> None:
    rejected_callbacks[reason] += 1
    logger.warning("Refused a callback for call leg %r: %s", call_leg_id[:64], message)


def _rejected(leg: CallLeg, status_code: int, reason: str, message: str) -> CallbackRejectedError:
    note_rejected(reason, leg.call_leg_id, message)
    return CallbackRejectedError(status_code, message)
