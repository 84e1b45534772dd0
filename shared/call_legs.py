"""A call leg, its states, and how each ACS event changes it.

Everything here is pure: `apply_acs_event` takes a leg and an event and returns what happened (timeline
entries, events for the caller's webhook, follow-up actions). Storage and HTTP live elsewhere.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from .acs_events import AcsEvent
from .subscriber_events import (
    CALL_LEG_STATE_CHANGED,
    DTMF_RECEIVED,
    INVITE_PARTICIPANT_RESULT,
    PARTICIPANTS_UPDATED,
    PLAY_AUDIO_RESULT,
    REMOVE_PARTICIPANT_RESULT,
    Notification,
    participant_entry,
    result_info,
    tone_2021,
)


class LegState(StrEnum):
    ESTABLISHING = "establishing"
    ESTABLISHED = "established"
    TERMINATING = "terminating"
    TERMINATED = "terminated"


_STATE_ORDER = {state: rank for rank, state in enumerate(LegState)}

# The caller opts into these with requestedCallEvents; state changes and operation results always go out.
OPTIONAL_CALL_EVENTS = ("participantsUpdated", "dtmfReceived")

_FINAL_STATUSES = frozenset({"completed", "failed"})
_ENDING_EVENTS = frozenset({"CallDisconnected", "CreateCallFailed", "AnswerFailed", "ConnectFailed"})


@dataclass
class Operation:
    """A media or participant action the caller asked for, followed until ACS reports its result."""

    id: str
    kind: str  # playAudio | cancelMediaProcessing | inviteParticipant | removeParticipant
    operation_context: str | None = None
    status: str = "notStarted"  # notStarted | running | completed | failed
    result: dict[str, Any] | None = None
    participant: str | None = None


@dataclass
class CallLeg:
    call_leg_id: str
    targets: list[str]
    callback_uri: str | None = None
    requested_call_events: list[str] = field(default_factory=list)
    source: str | None = None
    caller_id: str | None = None
    subject: str | None = None
    state: LegState = LegState.ESTABLISHING
    acs_call_connection_id: str | None = None
    server_call_id: str | None = None
    participants: list[str] = field(default_factory=list)
    participants_sequence: int = 0
    operations: dict[str, Operation] = field(default_factory=dict)
    created_at: str = ""
    updated_at: str = ""
    ended_at: str | None = None
    end_reason: dict[str, Any] | None = None
    idempotency_key: str | None = None
    acs_request_id: str | None = None
    acs_first_sent: str | None = None
    # What the call achieved, and its plan's progress (see call_flow).
    plan: dict[str, Any] | None = None
    flow_step: str | None = None
    prompts_asked: int = 0
    outcome: str | None = None
    outcome_code: dict[str, Any] | None = None
    digits: str | None = None
    answered_at: str | None = None
    # Set when the leg is one attempt of a campaign recipient.
    campaign_id: str | None = None
    recipient: str | None = None
    attempt: int = 0
    etag: str | None = None  # of the stored entity this leg was read from

    @property
    def is_ended(self) -> bool:
        return self.state is LegState.TERMINATED

    def wants(self, call_event: str) -> bool:
        return call_event.lower() in (e.lower() for e in self.requested_call_events)

    def advance_to(self, state: LegState) -> bool:
        """Move forward only: a late event never moves a leg back (terminated is final)."""
        if _STATE_ORDER[state] <= _STATE_ORDER[self.state]:
            return False
        self.state = state
        return True


@dataclass(frozen=True)
class TimelineEntry:
    time: str
    kind: str
    details: dict[str, Any]
    key: str = field(default_factory=lambda: uuid.uuid4().hex)


@dataclass
class EventOutcome:
    timeline: list[TimelineEntry] = field(default_factory=list)
    notifications: list[Notification] = field(default_factory=list)
    start_dtmf_for: list[str] = field(default_factory=list)  # participants to start continuous DTMF on


def state_notification(leg: CallLeg, source_id: str) -> Notification:
    data: dict[str, Any] = {"callLegId": leg.call_leg_id, "callState": leg.state.value}
    if leg.server_call_id:
        data["conversationId"] = leg.server_call_id
    if leg.end_reason:
        data["reason"] = leg.end_reason
    if leg.outcome and leg.is_ended:
        data["outcome"] = leg.outcome
    return Notification.for_leg(leg.call_leg_id, CALL_LEG_STATE_CHANGED, "callState", data, source_id)


def apply_acs_event(leg: CallLeg, event: AcsEvent, now: str) -> EventOutcome:
    """Change `leg` by one ACS event, and say what that means for the timeline and the caller."""
    outcome = EventOutcome()
    time = event.time or now
    details: dict[str, Any] = {"acsEventId": event.id}
    if event.result:
        details["result"] = event.result.to_dict()

    if event.name == "CallConnected":
        if leg.advance_to(LegState.ESTABLISHED):
            leg.server_call_id = event.data.get("serverCallId") or leg.server_call_id
            outcome.notifications.append(state_notification(leg, event.id))
            if leg.wants("dtmfReceived"):
                outcome.start_dtmf_for = list(leg.targets)
        outcome.timeline.append(TimelineEntry(time, "callConnected", details))
    elif event.name in _ENDING_EVENTS:
        if leg.advance_to(LegState.TERMINATED):
            leg.ended_at = time
            leg.end_reason = {"event": event.name, **(event.result.to_dict() if event.result else {})}
            leg.participants = []
            outcome.notifications.append(state_notification(leg, event.id))
        outcome.timeline.append(
            TimelineEntry(time, "callEnded" if event.name == "CallDisconnected" else "callFailed", details)
        )
    elif event.name == "ParticipantsUpdated":
        _apply_participants(leg, event, time, outcome)
    elif event.name in ("PlayStarted", "PlayCompleted", "PlayFailed", "PlayCanceled"):
        _apply_play(leg, event, time, details, outcome)
    elif event.name == "ContinuousDtmfRecognitionToneReceived":
        _apply_tone(leg, event, time, outcome)
    elif event.name.startswith(("AddParticipant", "RemoveParticipant")):
        _apply_participant_result(leg, event, time, details, outcome)
    elif event.name.startswith("Recognize"):
        tones = (event.data.get("dtmfResult") or {}).get("tones")
        if tones:
            details["tones"] = list(tones)
        outcome.timeline.append(TimelineEntry(time, event.name[0].lower() + event.name[1:], details))
    else:
        outcome.timeline.append(TimelineEntry(time, "acsEvent", {**details, "type": event.name}))
    return outcome


def _apply_participants(leg: CallLeg, event: AcsEvent, time: str, outcome: EventOutcome) -> None:
    sequence = event.data.get("sequenceNumber")
    if leg.is_ended or not isinstance(sequence, int) or sequence <= leg.participants_sequence:
        return  # stale or late: an older roster must not overwrite a newer one
    roster = []
    for participant in event.data.get("participants") or []:
        identifier = participant.get("identifier") if isinstance(participant, dict) else None
        raw_id = identifier.get("rawId") if isinstance(identifier, dict) else None
        if isinstance(raw_id, str):
            roster.append(raw_id)
    joined = [p for p in roster if p not in leg.participants]
    left = [p for p in leg.participants if p not in roster]
    leg.participants = roster
    leg.participants_sequence = sequence
    for participant in joined:
        outcome.timeline.append(TimelineEntry(time, "participantJoined", {"participant": participant}))
    for participant in left:
        outcome.timeline.append(TimelineEntry(time, "participantLeft", {"participant": participant}))
    if leg.wants("participantsUpdated"):
        data = {"callLegId": leg.call_leg_id, "participants": [participant_entry(p) for p in roster]}
        outcome.notifications.append(
            Notification.for_leg(leg.call_leg_id, PARTICIPANTS_UPDATED, "participantsUpdated", data, event.id)
        )


def _apply_play(leg: CallLeg, event: AcsEvent, time: str, details: dict[str, Any], outcome: EventOutcome) -> None:
    operation = leg.operations.get(event.operation_context or "")
    if operation is not None:
        details["operationId"] = operation.id
    kind = {
        "PlayStarted": "playStarted",
        "PlayCompleted": "playCompleted",
        "PlayFailed": "playFailed",
        "PlayCanceled": "playCanceled",
    }[event.name]
    outcome.timeline.append(TimelineEntry(time, kind, details))
    if operation is None or operation.status in _FINAL_STATUSES:
        return
    if event.name == "PlayStarted":
        operation.status = "running"
        return
    # As the 2021 service did, a cancelled play is "completed" with result 8508.
    data = _finish_operation(leg, operation, "failed" if event.name == "PlayFailed" else "completed", event)
    outcome.notifications.append(Notification.for_leg(leg.call_leg_id, PLAY_AUDIO_RESULT, "playAudio", data, event.id))


def _finish_operation(leg: CallLeg, operation: Operation, status: str, event: AcsEvent) -> dict[str, Any]:
    """Record an operation's result; returns the data of the event that tells the caller."""
    operation.status = status
    operation.result = result_info(event.result)
    return {
        "callLegId": leg.call_leg_id,
        "id": operation.id,
        "operationContext": operation.operation_context,
        "status": operation.status,
        "resultInfo": operation.result,
    }


def _apply_tone(leg: CallLeg, event: AcsEvent, time: str, outcome: EventOutcome) -> None:
    tone = event.data.get("tone")
    sequence_id = event.data.get("sequenceId")
    outcome.timeline.append(
        TimelineEntry(time, "dtmfReceived", {"tone": tone, "sequenceId": sequence_id, "acsEventId": event.id})
    )
    if leg.wants("dtmfReceived"):
        data = {"callLegId": leg.call_leg_id, "toneInfo": {"sequenceId": sequence_id, "tone": tone_2021(tone)}}
        outcome.notifications.append(Notification.for_leg(leg.call_leg_id, DTMF_RECEIVED, "dtmf", data, event.id))


def _apply_participant_result(
    leg: CallLeg, event: AcsEvent, time: str, details: dict[str, Any], outcome: EventOutcome
) -> None:
    identifier = event.data.get("participant")
    participant = identifier.get("rawId") if isinstance(identifier, dict) else None
    details["participant"] = participant
    succeeded = event.name.endswith("Succeeded")
    inviting = event.name.startswith("AddParticipant")
    kind = ("invite" if inviting else "remove") + ("Succeeded" if succeeded else "Failed")
    outcome.timeline.append(TimelineEntry(time, kind, details))
    operation = leg.operations.get(event.operation_context or "")
    if operation is None or operation.status in _FINAL_STATUSES:
        return
    data = _finish_operation(leg, operation, "completed" if succeeded else "failed", event)
    data["participants"] = [participant_entry(participant)["identifier"]] if participant else []
    event_type, suffix = (
        (INVITE_PARTICIPANT_RESULT, "inviteParticipantResult")
        if inviting
        else (REMOVE_PARTICIPANT_RESULT, "removeParticipantResult")
    )
    outcome.notifications.append(Notification.for_leg(leg.call_leg_id, event_type, suffix, data, event.id))
