"""A call leg, its states, and how each ACS event changes it.

Everything here is pure: `apply_acs_event` takes a leg and an event and returns what happened (timeline
entries, events for the caller's webhook, follow-up actions). Storage and HTTP live elsewhere.

ACS delivers callbacks at least once and in any order, so a leg keeps the facts that matter (when it was
first seen connected, which ending event ranks first, the keys pressed) rather than the last event's word:
the same events in any order leave the same leg.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from shared.calls.acs_events import AcsEvent
from shared.calls.subscriber_events import (
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
# When several ending events arrive (ACS sends CreateCallFailed, then CallDisconnected), the one ranked first
# explains the end, whichever came first.
_ENDING_EVENTS = {"CreateCallFailed": 0, "AnswerFailed": 0, "ConnectFailed": 0, "CallDisconnected": 1}
RECONCILED = "Reconciled"  # the end the app records when ACS no longer knows a call it never told us ended
_ENDING_RANKS = {**_ENDING_EVENTS, RECONCILED: 2}
# Events ACS sends only about a call that is connected: any of them proves the callee answered, even when the
# CallConnected event itself is late or lost.
_CONNECTED_EVIDENCE = frozenset({
    "CallConnected", "PlayStarted", "PlayCompleted", "PlayFailed", "PlayCanceled", "RecognizeCompleted",
    "RecognizeFailed", "RecognizeCanceled", "ContinuousDtmfRecognitionToneReceived", "AddParticipantSucceeded",
    "AddParticipantFailed", "RemoveParticipantSucceeded", "CancelAddParticipantSucceeded",
})
MAX_PRESSES_KEPT = 200


@dataclass
class Operation:
    """A media or participant action the caller asked for, followed until ACS reports its result."""

    id: str
    kind: str  # playAudio | cancelMediaProcessing | inviteParticipant | removeParticipant
    operation_context: str | None = None
    status: str = "notStarted"  # notStarted | running | completed | failed
    result: dict[str, Any] | None = None
    participant: str | None = None
    invitation_id: str | None = None  # ACS's id for a ringing invitation, so it can be cancelled


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
    acs_correlation_id: str | None = None  # ACS's id for the call in its own logs (what ACS support asks for)
    # The trace the leg was created in (W3C traceparent): its callback URL carries it, so ACS's callbacks join it.
    traceparent: str | None = None
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
    # Sent in the callback URL and checked on every callback, so only ACS (which got the URL) can post events
    # about this leg. Never shown or logged.
    callback_token: str | None = None
    last_heard_at: str | None = None  # when an ACS event about this leg was last applied
    # What the call achieved, and its plan's progress (see call_flow).
    plan: dict[str, Any] | None = None
    flow_step: str | None = None
    prompts_asked: int = 0
    outcome: str | None = None
    outcome_code: dict[str, Any] | None = None
    digits: str | None = None
    choice: dict[str, str] | None = None  # a poll's answer, {key, label}: derived from `decision`
    voicemail_left: bool = False  # the plan's voicemail played to its end
    answered_at: str | None = None  # the earliest sign that the callee answered
    # The first decisive thing the plan heard (a key it offered, the prompt played): {outcome, code, time, eventId}.
    decision: dict[str, Any] | None = None
    # Keys pressed, as [source ("ask" | "tone"), sort key, keys]; `digits` is derived from them.
    presses: list[list[Any]] = field(default_factory=list)
    pacing: dict[str, Any] | None = None  # the line (and campaign seat) the call holds: a lines.Grant
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

    def find_invitation(self, invitation_id: str | None) -> Operation | None:
        if not invitation_id:
            return None
        return next((op for op in self.operations.values() if op.invitation_id == invitation_id), None)

    def ringing_invitation(self, participant: str) -> Operation | None:
        """The invitation of `participant` that ACS has not answered yet, if any."""
        return next(
            (
                op
                for op in self.operations.values()
                if op.kind == "inviteParticipant" and op.participant == participant and op.invitation_id
                and op.status not in _FINAL_STATUSES
            ),
            None,
        )

    def advance_to(self, state: LegState) -> bool:
        """Move forward only: a late event never moves a leg back (terminated is final)."""
        if _STATE_ORDER[state] <= _STATE_ORDER[self.state]:
            return False
        self.state = state
        return True


@dataclass(frozen=True)
class CallEnded:
    """How a campaign call ended, as the campaign records it: carried in its `campaign-results` message, so
    recording it needs no read of the leg."""

    outcome: str
    outcome_code: dict[str, Any] | None = None
    started_at: str | None = None
    answered_at: str | None = None
    ended_at: str | None = None
    digits: str | None = None
    choice: dict[str, str] | None = None
    voicemail_left: bool = False

    @classmethod
    def of(cls, leg: CallLeg) -> CallEnded:
        return cls(leg.outcome or "failed", leg.outcome_code, leg.created_at or None, leg.answered_at,
                   leg.ended_at, leg.digits, leg.choice, leg.voicemail_left)

    def to_dict(self) -> dict[str, Any]:
        return {"outcome": self.outcome, "outcomeCode": self.outcome_code, "startedAt": self.started_at,
                "answeredAt": self.answered_at, "endedAt": self.ended_at, "digits": self.digits,
                "choice": self.choice, "voicemailLeft": self.voicemail_left}

    @classmethod
    def from_dict(cls, value: Any) -> CallEnded | None:
        """None unless `value` is a well-formed `to_dict` (the message is then read as one without it)."""
        if not isinstance(value, dict) or not isinstance(value.get("outcome"), str):
            return None
        code = value.get("outcomeCode")
        texts = {name: value.get(name) for name in ("startedAt", "answeredAt", "endedAt", "digits")}
        if not (code is None or isinstance(code, dict)) or any(
            text is not None and not isinstance(text, str) for text in texts.values()
        ):
            return None
        choice = value.get("choice")
        if choice is not None and not (
            isinstance(choice, dict) and all(isinstance(choice.get(k), str) for k in ("key", "label"))
        ):
            choice = None  # a malformed choice is dropped, not the whole result
        return cls(value["outcome"], code, texts["startedAt"], texts["answeredAt"], texts["endedAt"],
                   texts["digits"], {"key": choice["key"], "label": choice["label"]} if choice else None,
                   value.get("voicemailLeft") is True)


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
    """Change `leg` by one ACS event, and say what that means for the timeline and the caller.

    The leg's state only moves forward, but the facts behind it are kept whatever the order: a CallConnected
    arriving after CallDisconnected still records that the callee answered. The state event for the caller
    is left to `state_changes`, once the outcome is settled.
    """
    outcome = EventOutcome()
    time = event.time or now
    details: dict[str, Any] = {"acsEventId": event.id}
    if event.result:
        details["result"] = event.result.to_dict()
    leg.last_heard_at = now
    leg.server_call_id = leg.server_call_id or _text(event.data.get("serverCallId"))
    if event.name in _CONNECTED_EVIDENCE or _roster_has_a_target(leg, event):
        _note_answered(leg, time, outcome)

    if event.name == "CallConnected":
        outcome.timeline.append(TimelineEntry(time, "callConnected", details))
    elif event.name in _ENDING_EVENTS:
        _note_end(leg, event.name, event.result.to_dict() if event.result else {}, time)
        outcome.timeline.append(
            TimelineEntry(time, "callEnded" if event.name == "CallDisconnected" else "callFailed", details)
        )
    elif event.name == "ParticipantsUpdated":
        _apply_participants(leg, event, time, outcome)
    elif event.name in ("PlayStarted", "PlayCompleted", "PlayFailed", "PlayCanceled"):
        _apply_play(leg, event, time, details, outcome)
    elif event.name == "ContinuousDtmfRecognitionToneReceived":
        _apply_tone(leg, event, time, outcome)
    elif event.name.startswith(("AddParticipant", "RemoveParticipant", "CancelAddParticipant")):
        _apply_participant_result(leg, event, time, details, outcome)
    elif event.name.startswith("Recognize"):
        tones = (event.data.get("dtmfResult") or {}).get("tones")
        if tones:
            details["tones"] = list(tones)
        outcome.timeline.append(TimelineEntry(time, event.name[0].lower() + event.name[1:], details))
    else:
        outcome.timeline.append(TimelineEntry(time, "acsEvent", {**details, "type": event.name}))
    return outcome


def end_leg(leg: CallLeg, reason: str, result: dict[str, Any], time: str) -> bool:
    """Record an end the app decided itself (e.g. reconciliation with ACS); True if the leg was live."""
    was_ended = leg.is_ended
    _note_end(leg, reason, result, time)
    return not was_ended


def state_changes(leg: CallLeg, before: LegSnapshot, source_id: str) -> list[Notification]:
    """The CallLegStateChanged event the caller gets when an event moved the leg, or corrected how it ended
    (a late event changed the outcome or the reason of an ended call)."""
    if leg.state is before.state and not (leg.is_ended and LegSnapshot.of(leg) != before):
        return []
    return [state_notification(leg, source_id)]


@dataclass(frozen=True)
class LegSnapshot:
    """What the caller is told about a leg's state: compared before and after an event."""

    state: LegState
    outcome: str | None
    end_reason: str | None

    @classmethod
    def of(cls, leg: CallLeg) -> LegSnapshot:
        return cls(leg.state, leg.outcome, (leg.end_reason or {}).get("event"))


def _note_answered(leg: CallLeg, time: str, outcome: EventOutcome) -> None:
    leg.answered_at = time if leg.answered_at is None else earliest(leg.answered_at, time)
    if leg.advance_to(LegState.ESTABLISHED) and leg.wants("dtmfReceived"):
        outcome.start_dtmf_for = list(leg.targets)


def _note_end(leg: CallLeg, name: str, result: dict[str, Any], time: str) -> None:
    """The first-ranked ending event explains the end; among equals, the earliest."""
    candidate = (_ENDING_RANKS.get(name, 9), instant(time))
    if leg.end_reason is not None and leg.ended_at is not None:
        current = (_ENDING_RANKS.get(leg.end_reason.get("event", ""), 9), instant(leg.ended_at))
        if current <= candidate:
            leg.advance_to(LegState.TERMINATED)
            return
    leg.end_reason = {"event": name, **result}
    leg.ended_at = time
    leg.participants = []
    leg.advance_to(LegState.TERMINATED)


def _roster_has_a_target(leg: CallLeg, event: AcsEvent) -> bool:
    return event.name == "ParticipantsUpdated" and any(raw_id in leg.targets for raw_id in _roster(event))


def _roster(event: AcsEvent) -> list[str]:
    roster = []
    for participant in event.data.get("participants") or []:
        identifier = participant.get("identifier") if isinstance(participant, dict) else None
        raw_id = identifier.get("rawId") if isinstance(identifier, dict) else None
        if isinstance(raw_id, str):
            roster.append(raw_id)
    return roster


def instant(text: str) -> datetime:
    """An event or stored time as a comparable instant (ACS writes 7 fractional digits, we write 6)."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return datetime.max.replace(tzinfo=UTC)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def earliest(first: str, second: str) -> str:
    return first if instant(first) <= instant(second) else second


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _apply_participants(leg: CallLeg, event: AcsEvent, time: str, outcome: EventOutcome) -> None:
    sequence = event.data.get("sequenceNumber")
    if leg.is_ended or not isinstance(sequence, int) or sequence <= leg.participants_sequence:
        return  # stale or late: an older roster must not overwrite a newer one
    roster = _roster(event)
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
    return _operation_data(leg, operation)


def _operation_data(leg: CallLeg, operation: Operation) -> dict[str, Any]:
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
    # Ordered by ACS's sequence id, so keys read the same whatever order their events arrived in.
    order = f"{sequence_id:012d}" if isinstance(sequence_id, int) and sequence_id >= 0 else f"~{time}"
    record_press(leg, "tone", order, key_of(tone))
    if leg.wants("dtmfReceived"):
        data = {"callLegId": leg.call_leg_id, "toneInfo": {"sequenceId": sequence_id, "tone": tone_2021(tone)}}
        outcome.notifications.append(Notification.for_leg(leg.call_leg_id, DTMF_RECEIVED, "dtmf", data, event.id))


def record_press(leg: CallLeg, source: str, order: str, keys: str) -> None:
    if keys and len(leg.presses) < MAX_PRESSES_KEPT:
        leg.presses.append([source, order, keys])


def pressed(leg: CallLeg, source: str) -> str | None:
    """The keys pressed, from recognize results ("ask") or continuous recognition ("tone"), in order."""
    keys = "".join(keys for kind, _, keys in sorted(leg.presses, key=lambda p: p[1]) if kind == source)
    return keys or None


def key_of(tone: Any) -> str:
    """ACS's tone name ("one", "pound") as the key on the phone ("1", "#")."""
    return _TONE_KEYS.get(str(tone).lower(), str(tone).upper())


_TONE_KEYS = {
    "zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6", "seven": "7",
    "eight": "8", "nine": "9", "asterisk": "*", "pound": "#",
}  # fmt: skip
INVITE_CANCELLED = {"code": 487, "subcode": 0, "message": "The invitation was cancelled before it was answered."}


def _apply_participant_result(
    leg: CallLeg, event: AcsEvent, time: str, details: dict[str, Any], outcome: EventOutcome
) -> None:
    identifier = event.data.get("participant")
    participant = identifier.get("rawId") if isinstance(identifier, dict) else None
    details["participant"] = participant
    succeeded = event.name.endswith("Succeeded")
    inviting = event.name.startswith("AddParticipant")
    if event.name.startswith("CancelAddParticipant"):
        # Removing someone whose invitation still rang cancelled the invitation: the removal is done, and
        # the invitation ends unanswered.
        kind = "inviteCancelled" if succeeded else "inviteCancelFailed"
        invitation = leg.find_invitation(_text(event.data.get("invitationId")))
        if succeeded and invitation is not None and invitation.status not in _FINAL_STATUSES:
            invitation.status, invitation.result = "failed", dict(INVITE_CANCELLED)
            data = _operation_data(leg, invitation)
            data["participants"] = [participant_entry(invitation.participant)["identifier"]]
            outcome.notifications.append(
                Notification.for_leg(leg.call_leg_id, INVITE_PARTICIPANT_RESULT, "inviteParticipantResult", data,
                                     event.id)
            )
        participant = participant or (invitation.participant if invitation else None)
    else:
        kind = ("invite" if inviting else "remove") + ("Succeeded" if succeeded else "Failed")
    outcome.timeline.append(TimelineEntry(time, kind, details))
    operation = leg.operations.get(event.operation_context or "")
    if operation is None or operation.status in _FINAL_STATUSES:
        return
    data = _finish_operation(leg, operation, "completed" if succeeded else "failed", event)
    data["participants"] = [participant_entry(participant)["identifier"]] if participant else []
    event_type, suffix = (
        (INVITE_PARTICIPANT_RESULT, "inviteParticipantResult")
        if operation.kind == "inviteParticipant"
        else (REMOVE_PARTICIPANT_RESULT, "removeParticipantResult")
    )
    outcome.notifications.append(Notification.for_leg(leg.call_leg_id, event_type, suffix, data, event.id))
