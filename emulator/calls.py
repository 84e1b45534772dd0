"""The call model and its state machine: connecting → connected → disconnected.

Pure data and transitions; every method that changes state takes `now`. Timers and events live in
`service`, which drives these objects.
"""

from __future__ import annotations

import asyncio
import base64
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from . import errors
from .config import EVENTS_PER_CALL_LOG
from .identifiers import Identifier
from .media import MediaOperation


class CallState(StrEnum):
    CONNECTING = "connecting"
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"


TRANSITIONS: dict[CallState, frozenset[CallState]] = {
    CallState.CONNECTING: frozenset({CallState.CONNECTED, CallState.DISCONNECTED}),
    CallState.CONNECTED: frozenset({CallState.DISCONNECTED}),
    CallState.DISCONNECTED: frozenset(),
}


class InvalidTransition(Exception):
    pass


@dataclass
class Invitation:
    """A pending participants:add (or transfer) to a callee who has not answered yet."""

    id: str
    target: Identifier
    operation_context: str | None
    callback_uri: str | None
    timers: list[asyncio.TimerHandle] = field(default_factory=list)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


@dataclass
class Call:
    id: str
    server_call_id: str
    correlation_id: str
    api_version: str
    callback_uri: str
    targets: list[Identifier]
    source: Identifier | None
    caller_id: str | None  # sourceCallerIdNumber value
    source_display_name: str | None
    operation_context: str | None
    created_at: datetime
    state: CallState = CallState.CONNECTING
    connected_at: datetime | None = None
    ended_at: datetime | None = None
    end_reason: dict[str, Any] | None = None
    participants: dict[str, Identifier] = field(default_factory=dict)  # rawId → identifier, in join order
    invitations: dict[str, Invitation] = field(default_factory=dict)
    sequence_number: int = 0
    tone_sequence_id: int = 0
    listening_started: bool = False  # first :recognize / :startContinuousDtmfRecognition seen
    continuous_dtmf: dict[str, Any] | None = None  # {"operationContext", "callbackUri"} while active
    media_current: MediaOperation | None = None
    media_queue: deque[MediaOperation] = field(default_factory=deque)
    media_log: deque[MediaOperation] = field(default_factory=lambda: deque(maxlen=50))
    events: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=EVENTS_PER_CALL_LOG))
    timers: set[asyncio.TimerHandle] = field(default_factory=set)
    tasks: set[asyncio.Task] = field(default_factory=set)
    pending_callees: int = 0  # createCall targets still ringing
    callee_scripts: dict[str, Any] = field(default_factory=dict)  # rawId → callees.Script of who answered
    drop_callbacks_after: int | None = None  # events numbered above this are never sent; None = send all
    callbacks_emitted: int = 0
    callbacks_dropped: int = 0

    @classmethod
    def new(
        cls,
        *,
        api_version: str,
        callback_uri: str,
        targets: list[Identifier],
        source: Identifier | None,
        caller_id: str | None,
        source_display_name: str | None,
        operation_context: str | None,
        now: datetime,
    ) -> Call:
        call_id = str(uuid.uuid4())
        # Real serverCallIds are base64 of a conversation URL.
        server_call_id = base64.b64encode(f"https://emulator.local/conv/{call_id}?i=0".encode()).decode()
        return cls(
            id=call_id,
            server_call_id=server_call_id,
            correlation_id=str(uuid.uuid4()),
            api_version=api_version,
            callback_uri=callback_uri,
            targets=targets,
            source=source,
            caller_id=caller_id,
            source_display_name=source_display_name,
            operation_context=operation_context,
            created_at=now,
            pending_callees=len(targets),
        )

    # --- state machine ------------------------------------------------------------------------------------
    def _move(self, to: CallState) -> None:
        if to not in TRANSITIONS[self.state]:
            raise InvalidTransition(f"{self.state} → {to}")
        self.state = to

    def connect(self, now: datetime) -> None:
        self._move(CallState.CONNECTED)
        self.connected_at = now

    def disconnect(self, now: datetime, code: int, sub_code: int, message: str) -> None:
        self._move(CallState.DISCONNECTED)
        self.ended_at = now
        self.end_reason = {"code": code, "subCode": sub_code, "message": message}

    @property
    def live(self) -> bool:
        return self.state != CallState.DISCONNECTED

    def require_live(self) -> None:
        """Ended calls are gone for the API: 404 8522."""
        if not self.live:
            raise errors.call_not_found()

    def require_established(self) -> None:
        """Mid-call actions need a connected call: 404 when ended, 400 8501 while connecting."""
        self.require_live()
        if self.state != CallState.CONNECTED:
            raise errors.call_not_established()

    # --- participants -------------------------------------------------------------------------------------
    def join(self, participant: Identifier) -> None:
        self.participants[participant.raw_id] = participant

    def leave(self, raw_id: str) -> Identifier:
        try:
            return self.participants.pop(raw_id)
        except KeyError:
            raise errors.participant_not_found() from None

    def participant(self, raw_id: str) -> Identifier:
        try:
            return self.participants[raw_id]
        except KeyError:
            raise errors.participant_not_found() from None

    def next_sequence_number(self) -> int:
        self.sequence_number += 1
        return self.sequence_number

    def next_tone_sequence_id(self) -> int:
        self.tone_sequence_id += 1
        return self.tone_sequence_id

    # --- lost callbacks -----------------------------------------------------------------------------------
    def count_callback(self) -> bool:
        """Count one more event of this call; True when the drop rule says it must not be sent."""
        self.callbacks_emitted += 1
        drop = self.drop_callbacks_after is not None and self.callbacks_emitted > self.drop_callbacks_after
        if drop:
            self.callbacks_dropped += 1
        return drop

    def callbacks_view(self) -> dict[str, Any]:
        return {
            "dropAfter": self.drop_callbacks_after,
            "eventsEmitted": self.callbacks_emitted,
            "eventsDropped": self.callbacks_dropped,
        }

    # --- views --------------------------------------------------------------------------------------------
    def properties(self) -> dict[str, Any]:
        """CallConnectionProperties as the REST API returns them."""
        body: dict[str, Any] = {
            "callConnectionId": self.id,
            "serverCallId": self.server_call_id,
            "targets": [t.to_wire() for t in self.targets],
            "callConnectionState": str(self.state),
            "callbackUri": self.callback_uri,
            "correlationId": self.correlation_id,
        }
        if self.caller_id:
            body["sourceCallerIdNumber"] = {"value": self.caller_id}
        if self.source_display_name is not None:
            body["sourceDisplayName"] = self.source_display_name
        if self.source is not None:
            body["source"] = self.source.to_wire()
        return body

    def summary(self) -> dict[str, Any]:
        """Compact record for /emulator/calls/history (survives eviction)."""
        return {
            "callConnectionId": self.id,
            "state": str(self.state),
            "callerId": self.caller_id,
            "targets": [t.raw_id for t in self.targets],
            "createdAt": _iso(self.created_at),
            "connectedAt": _iso(self.connected_at),
            "endedAt": _iso(self.ended_at),
            "endReason": self.end_reason,
        }

    def detail(self) -> dict[str, Any]:
        """Everything the control API shows for one call."""
        return {
            **self.summary(),
            "apiVersion": self.api_version,
            "callbackUri": self.callback_uri,
            "serverCallId": self.server_call_id,
            "correlationId": self.correlation_id,
            "participants": [p.to_wire() for p in self.participants.values()],
            "pendingInvitations": [
                {"invitationId": i.id, "target": i.target.raw_id} for i in self.invitations.values()
            ],
            "continuousDtmf": self.continuous_dtmf is not None,
            "callbacks": self.callbacks_view(),
            "media": {
                "current": self.media_current.summary() if self.media_current else None,
                "queued": [op.summary() for op in self.media_queue],
                "recent": [op.summary() for op in self.media_log],
            },
            "events": [
                {
                    "id": e["event"]["id"],
                    "type": e["event"]["type"],
                    "time": e["event"]["time"],
                    "data": e["event"]["data"],
                    "delivery": e["delivery"].to_json(),
                }
                for e in self.events
            ],
        }
