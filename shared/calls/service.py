"""The seed's operations, carried out on ACS Call Automation with every call leg kept in Table storage.

Handlers parse a request and call one method here; this module decides what is allowed, talks to ACS through
the client, and records what happened.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

from shared.callautomation import CallAutomationClient, CallAutomationError, ThrottledError, file_source
from shared.callautomation.client import new_repeatability
from shared.callautomation.identifiers import is_phone_number
from shared.calls.acs_events import AcsEvent
from shared.calls.callback_binding import check_callback_token, check_events_belong, new_callback_token
from shared.calls.errors import CallEndedError, CallNotConnectedError
from shared.calls.event_delivery import EventDeliverer
from shared.calls.flow import (
    Action,
    AskForKey,
    HangUp,
    Invite,
    Play,
    apply_event,
    settle_outcome,
)
from shared.calls.legs import (
    CallEnded,
    CallLeg,
    LegSnapshot,
    LegState,
    Operation,
    TimelineEntry,
    end_leg,
    instant,
    state_changes,
)
from shared.calls.messages.campaign_results import CampaignResultMessage
from shared.calls.messages.in_process import LINE_FREED, PLAN_STEP, LineFreedMessage, PlanStepMessage
from shared.calls.plans import CallPlan
from shared.calls.requests import CancelMediaRequest, CreateCallRequest, InviteParticipantsRequest, PlayAudioRequest
from shared.calls.store import CallLegExistsError, CallLegStore, ConcurrentUpdateError, DuplicateEventError, utc_now
from shared.fields import ValidationError
from shared.lines import Grant, LineKeeper, Lines, LinesBusyError, Wanted
from shared.logs import add_to_log_context
from shared.storage.clients import CAMPAIGN_RESULTS_QUEUE, EVENT_DELIVERY_QUEUE
from shared.storage.outbox import Outbox, OutboxMessage

logger = logging.getLogger(__name__)

# Idempotency keys map to call leg ids through this namespace, so one key can only ever name one leg.
_IDEMPOTENCY_NAMESPACE = uuid.UUID("9c1d3c4e-8a7b-4e0f-b6a5-2f1e0d9c8b7a")
_MAX_EVENT_ATTEMPTS = 20
# ACS recognises a repeated create call for 5 minutes after its first sending (Repeatability-First-Sent); after
# that it would refuse the old headers, and new ones could place a second call. We stop 30 s short, for clock skew.
REPEATABILITY_WINDOW_SECONDS = 270


LINES_BUSY_RETRY_SECONDS = 5.0


def campaign_result_message(leg: CallLeg) -> OutboxMessage:
    """Tells the campaign that one of its calls ended (see campaigns.CampaignService.record_result)."""
    message = CampaignResultMessage(leg.campaign_id, leg.recipient, leg.call_leg_id, CallEnded.of(leg))  # type: ignore[arg-type]
    return CAMPAIGN_RESULTS_QUEUE, message.to_message()


def _once_only(caused: OutboxMessage) -> bool:
    """Whether sending this twice would be heard or seen twice: a plan step that plays or invites, an event for
    the caller. A hang-up (ACS ends a call once), a campaign result and a freed line (their receivers recognise
    a repeat) may go out again."""
    queue, text = caused
    if queue == PLAN_STEP:
        return not PlanStepMessage.from_message(text).is_hang_up
    return queue == EVENT_DELIVERY_QUEUE


def _repeatability_expired(leg: CallLeg, now: str) -> bool:
    """Whether ACS would no longer recognise a repeat of this leg's create call request."""
    try:
        first_sent = parsedate_to_datetime(leg.acs_first_sent or "")
    except (TypeError, ValueError):
        return False
    return (instant(now) - first_sent).total_seconds() > REPEATABILITY_WINDOW_SECONDS


def call_leg_id_for(idempotency_key: str | None) -> str:
    return str(uuid.uuid5(_IDEMPOTENCY_NAMESPACE, idempotency_key)) if idempotency_key else str(uuid.uuid4())


@dataclass
class CallService:
    store: CallLegStore
    acs: CallAutomationClient
    outbox: Outbox
    callback_base_url: str
    default_caller_id: str | None = None
    cognitive_services_endpoint: str | None = None  # Azure AI services for text-to-speech prompts
    reconcile_after_seconds: float = 300.0  # a live leg ACS has not told us about for this long is checked
    dispatcher: LineKeeper | None = None  # lines: calls take one, and a freed one is handed on

    # -- create and end ---------------------------------------------------------------------------------

    def place_call(
        self,
        request: CreateCallRequest,
        *,
        plan: dict[str, Any] | None = None,
        campaign: tuple[str, str, int] | None = None,
        grant: Grant | None = None,
    ) -> CallLeg:
        """Record the leg, then ask ACS to place the call. The same idempotency key never places two calls.

        `plan` (a stored CallPlan) overrides the request's; `campaign` is (campaign id, recipient, attempt) when
        the call is one attempt of a campaign recipient, and `grant` the line the campaign gave it. A call with a
        phone caller id and no grant takes a line of its caller number here (LinesBusyError when all are busy).
        """
        leg = self._new_leg(request)
        if plan is not None:
            leg.plan = plan
        if campaign is not None:
            leg.campaign_id, leg.recipient, leg.attempt = campaign
        add_to_log_context(callLegId=leg.call_leg_id, campaignId=leg.campaign_id)
        taken = None if grant is not None else self._take_line(leg)
        leg.pacing = (grant or taken).to_dict() if (grant or taken) else None
        try:
            self.store.create(
                leg,
                [TimelineEntry(leg.created_at, "callRequested", {"targets": leg.targets})],
                # A call holding a line is watched through it (Lines.due_for_check); others are listed.
                check_after=None if leg.pacing else time.time() + self.reconcile_after_seconds,
            )
        except CallLegExistsError:
            if taken is not None:
                self._lines().release(taken)  # the leg has its own line from the first time
            stored = self.store.get(leg.call_leg_id)
            if grant is not None and stored.pacing and Grant.from_dict(stored.pacing) != grant:
                self._line_freed(grant, stored.campaign_id)  # a racing repeat's line goes on to someone else
            leg = stored
            if leg.acs_call_connection_id or leg.is_ended:
                return leg  # placed (or failed) before: a repeat changes nothing
            # A previous attempt stopped before ACS answered. Sending the same repeatability headers again
            # lets ACS recognise it if it did place the call.
            if _repeatability_expired(leg, utc_now()):
                # Nothing tells us whether ACS ever got the first request. Asking again could call the person
                # twice, so the leg ends instead (README: "Poison, and messages that come back late").
                self.fail_leg(
                    leg.call_leg_id,
                    "RepeatabilityWindowPassed",
                    0,
                    "The call was not confirmed by ACS within its 5-minute repeatability window; it is not placed "
                    "again, so that nobody is called twice.",
                )
                return self.store.get(leg.call_leg_id)
        logger.info("Placing call leg %s to %s", leg.call_leg_id, ", ".join(leg.targets))  # numbers masked in logs
        try:
            connection = self.acs.create_call(
                leg.targets,
                self.callback_url(leg),
                source_caller_id=leg.caller_id if any(is_phone_number(t) for t in leg.targets) else None,
                source=leg.source,
                operation_context=leg.call_leg_id,
                repeatability=(leg.acs_request_id, leg.acs_first_sent),
                cognitive_services_endpoint=self.cognitive_services_endpoint,
            )
        except CallAutomationError as error:
            self._forget_or_fail(leg, request, error)
            raise

        # A blind merge of the two ids (no read, no ETag): nothing else ever writes them, and an event saved
        # meanwhile from an older read fails its ETag and is applied again on top.
        leg.acs_call_connection_id = connection.call_connection_id
        leg.server_call_id = leg.server_call_id or connection.server_call_id
        add_to_log_context(callConnectionId=connection.call_connection_id)
        entry = TimelineEntry(utc_now(), "callPlaced", {"acsCallConnectionId": connection.call_connection_id})
        self.store.record_placed(leg, entry)
        return leg

    def _take_line(self, leg: CallLeg) -> Grant | None:
        """A line of the caller number, for a call placed outside a campaign."""
        if self.dispatcher is None or not leg.caller_id or not any(is_phone_number(t) for t in leg.targets):
            return None
        grant = self._lines().acquire(Wanted(holder=leg.call_leg_id, caller_ids=[leg.caller_id]))
        if grant is None:
            raise LinesBusyError(leg.caller_id, LINES_BUSY_RETRY_SECONDS)
        return grant

    def _lines(self) -> Lines:
        assert self.dispatcher is not None
        return self.dispatcher.lines

    def leg_id_for(self, request: CreateCallRequest) -> str:
        return call_leg_id_for(request.idempotency_key)

    def callback_url(self, leg: CallLeg) -> str:
        """Where ACS posts this leg's events. The token makes it this leg's alone (ACS keeps query strings)."""
        url = f"{self.callback_base_url}/callbacks/{leg.call_leg_id}"
        return f"{url}?token={leg.callback_token}" if leg.callback_token else url

    def _new_leg(self, request: CreateCallRequest) -> CallLeg:
        request_id, first_sent = new_repeatability()
        now = utc_now()
        return CallLeg(
            call_leg_id=call_leg_id_for(request.idempotency_key),
            targets=list(request.targets),
            callback_uri=request.callback_uri,
            requested_call_events=list(request.requested_call_events),
            source=request.source,
            caller_id=request.alternate_caller_id or self.default_caller_id,
            subject=request.subject,
            created_at=now,
            updated_at=now,
            idempotency_key=request.idempotency_key,
            plan=request.plan.to_dict() if request.plan else None,
            acs_request_id=request_id,
            acs_first_sent=first_sent,
            callback_token=new_callback_token(),
        )

    def _forget_or_fail(self, leg: CallLeg, request: CreateCallRequest, error: CallAutomationError) -> None:
        """ACS did not place the call. Without an idempotency key the caller simply retries, so the leg is
        removed (a rejected request writes nothing); with one, a definite refusal is recorded so a repeated
        message does not try again."""
        if not request.idempotency_key:
            self.store.delete(leg.call_leg_id)
            if leg.pacing and not leg.campaign_id:
                self._lines().release(Grant.from_dict(leg.pacing))  # nothing was placed: the line is free again
        elif not error.is_transient:
            self.fail_leg(leg.call_leg_id, "CreateCallRejected", error.status_code or 0, error.message)

    def fail_leg(self, call_leg_id: str, reason: str, code: int, message: str) -> CallLeg:
        """End a leg that ACS never took on (or that the app gave up on), with the reason recorded and the
        caller told (idempotent)."""
        return self.end_leg(call_leg_id, reason, {"code": code, "subCode": 0, "message": message}, "callFailed")

    def end_leg(
        self, call_leg_id: str, reason: str, result: dict[str, Any], kind: str, *, answered: bool = False
    ) -> CallLeg:
        """End a leg by the app's own decision: recorded with `reason`, its outcome settled from what it saw
        (`answered`: ACS said the callee is on the line), the caller told and (for a campaign call) the campaign
        too. A repeat changes nothing."""
        before: dict[str, LegSnapshot] = {}

        def end(current: CallLeg) -> bool:
            before["leg"] = LegSnapshot.of(current)
            if not end_leg(current, reason, result, utc_now()):
                return False
            if answered:
                current.answered_at = current.answered_at or utc_now()
            settle_outcome(current, CallPlan.from_dict(current.plan) if current.plan else None)
            return True

        def entries(current: CallLeg, changed: bool) -> list[TimelineEntry]:
            details = {"reason": reason, "message": result.get("message")}
            return [TimelineEntry(utc_now(), kind, details)] if changed else []

        leg, changed = self.store.update(call_leg_id, end, entries)
        if changed:
            if not leg.pacing:
                self.store.unwatch(call_leg_id)
            if leg.pacing:
                self._line_freed(Grant.from_dict(leg.pacing), leg.campaign_id)
            notifications = state_changes(leg, before["leg"], f"{reason}:{call_leg_id}")
            messages = EventDeliverer.outbox_messages(
                call_leg_id, leg.callback_uri, [n.to_cloud_event() for n in notifications]
            )
            if leg.campaign_id:
                messages.append(campaign_result_message(leg))
            self.outbox.send(messages)
        return leg

    def hang_up(self, call_leg_id: str) -> CallLeg:
        leg = self._live_leg(call_leg_id)
        self.acs.hang_up(leg.acs_call_connection_id, for_everyone=True)
        leg, _ = self.store.update(
            call_leg_id,
            lambda current: current.advance_to(LegState.TERMINATING),
            lambda current, _: [TimelineEntry(utc_now(), "hangUpRequested", {})],
        )
        return leg

    # -- media ------------------------------------------------------------------------------------------

    def play_audio(self, call_leg_id: str, request: PlayAudioRequest, *, operation_id: str | None = None) -> Operation:
        """Play a file. Given an `operation_id` (a queue message's), a repeat returns the first play unchanged."""
        leg = self._connected_leg(call_leg_id)
        op_id = str(uuid.uuid5(_IDEMPOTENCY_NAMESPACE, operation_id)) if operation_id else str(uuid.uuid4())
        if op_id in leg.operations and leg.operations[op_id].status != "failed":
            return leg.operations[op_id]  # played before; a failed try (ACS was unavailable) is tried again
        operation = Operation(id=op_id, kind="playAudio", operation_context=request.operation_context)
        # Recorded before ACS is asked, so the result event always finds its operation.
        self._record_operation(call_leg_id, operation, {"audioFileUri": request.audio_file_uri, "loop": request.loop})
        try:
            self.acs.play(
                leg.acs_call_connection_id,
                [file_source(request.audio_file_uri, cache_id=request.resource_id)],
                loop=request.loop,
                operation_context=operation.id,
            )
        except CallAutomationError as error:
            self._operation_failed(call_leg_id, operation, error)
            raise
        return operation

    def cancel_media(self, call_leg_id: str, request: CancelMediaRequest) -> Operation:
        leg = self._connected_leg(call_leg_id)
        operation = Operation(
            id=str(uuid.uuid4()), kind="cancelMediaProcessing", operation_context=request.operation_context
        )
        self.acs.cancel_media(leg.acs_call_connection_id)
        operation.status = "completed"
        operation.result = {"code": 202, "subcode": 0, "message": "Media processing was cancelled."}
        self._record_operation(call_leg_id, operation, {})
        return operation

    # -- participants -----------------------------------------------------------------------------------

    def invite(self, call_leg_id: str, request: InviteParticipantsRequest) -> list[Operation]:
        leg = self._connected_leg(call_leg_id)
        caller_id = request.alternate_caller_id or leg.caller_id or self.default_caller_id
        if any(is_phone_number(p) for p in request.participants) and not caller_id:
            raise ValidationError("alternateCallerId", "is required to invite a phone number.")
        operations = []
        for participant in request.participants:
            operation = Operation(
                id=str(uuid.uuid4()),
                kind="inviteParticipant",
                operation_context=request.operation_context,
                participant=participant,
            )
            self._record_operation(call_leg_id, operation, {"participant": participant})
            try:
                invitation = self.acs.add_participant(
                    leg.acs_call_connection_id,
                    participant,
                    source_caller_id=caller_id if is_phone_number(participant) else None,
                    operation_context=operation.id,
                )
            except CallAutomationError as error:
                self._operation_failed(call_leg_id, operation, error)
                raise
            if invitation.invitation_id:
                self._note_invitation(call_leg_id, operation.id, invitation.invitation_id)
            operations.append(operation)
        return operations

    def _note_invitation(self, call_leg_id: str, operation_id: str, invitation_id: str) -> None:
        """Kept so that removing the invitee while it still rings can cancel the invitation."""

        def note(current: CallLeg) -> None:
            if operation_id in current.operations:
                current.operations[operation_id].invitation_id = invitation_id

        self.store.update(call_leg_id, note)

    def remove(self, call_leg_id: str, participant: str) -> Operation:
        """Remove a participant; one whose invitation still rings has the invitation cancelled instead."""
        leg = self._connected_leg(call_leg_id)
        ringing = leg.ringing_invitation(participant)
        operation = Operation(id=str(uuid.uuid4()), kind="removeParticipant", participant=participant)
        details: dict[str, Any] = {"participant": participant}
        if ringing is not None:
            details["cancelsInvitation"] = ringing.id
        self._record_operation(call_leg_id, operation, details)
        try:
            if ringing is not None and ringing.invitation_id:
                self.acs.cancel_add_participant(
                    leg.acs_call_connection_id, ringing.invitation_id, operation_context=operation.id
                )
            else:
                self.acs.remove_participant(leg.acs_call_connection_id, participant, operation_context=operation.id)
        except CallAutomationError as error:
            self._operation_failed(call_leg_id, operation, error)
            raise
        return operation

    # -- reading ----------------------------------------------------------------------------------------

    def describe(self, call_leg_id: str) -> dict[str, Any]:
        leg = self.store.get(call_leg_id)
        return {
            "callLegId": leg.call_leg_id,
            "state": leg.state.value,
            "targets": leg.targets,
            "source": leg.source,
            "alternateCallerId": leg.caller_id,
            "subject": leg.subject,
            "callbackUri": leg.callback_uri,
            "requestedCallEvents": leg.requested_call_events,
            "participants": leg.participants,
            "createdAt": leg.created_at,
            "updatedAt": leg.updated_at,
            "endedAt": leg.ended_at,
            "endReason": leg.end_reason,
            "acsCallConnectionId": leg.acs_call_connection_id,
            "answeredAt": leg.answered_at,
            "outcome": leg.outcome,
            "outcomeCode": leg.outcome_code,
            "digits": leg.digits,
            "plan": leg.plan,
            "campaignId": leg.campaign_id,
            "attempt": leg.attempt or None,
            "operations": [
                {
                    "id": op.id,
                    "kind": op.kind,
                    "status": op.status,
                    "operationContext": op.operation_context,
                    "resultInfo": op.result,
                    **({"participant": op.participant} if op.participant else {}),
                }
                for op in leg.operations.values()
            ],
            "timeline": self.store.timeline(call_leg_id),
        }

    # -- ACS callbacks ----------------------------------------------------------------------------------

    def receive_callback(self, call_leg_id: str, token: str | None, events: list[AcsEvent]) -> bool:
        """Apply the events of one ACS callback, once each, after checking they are about this leg
        (CallbackRejectedError otherwise, with nothing written). False when the leg is unknown."""
        leg = self.store.find(call_leg_id)
        if leg is None:
            logger.warning("Callback with %d event(s) for unknown call leg %s", len(events), call_leg_id[:64])
            return False
        check_callback_token(leg, token)
        check_events_belong(leg, events)
        add_to_log_context(campaignId=leg.campaign_id, callConnectionId=leg.acs_call_connection_id or (
            events[0].call_connection_id if events else None))
        for event in events:
            leg = self.apply_callback_event(call_leg_id, event, known=leg)
        return True

    def apply_callback_event(
        self, call_leg_id: str, event: AcsEvent, *, known: CallLeg | None = None
    ) -> CallLeg | None:
        """Apply one ACS event exactly once; the leg as saved (None when the leg is unknown: the event is dropped
        and logged). `known` is the leg as just read or saved, which saves reading it again; if it is out of
        date, its ETag says so and the leg is read afresh."""
        for attempt in range(_MAX_EVENT_ATTEMPTS):
            leg = known if attempt == 0 and known is not None else self.store.find(call_leg_id)
            if leg is None:
                logger.warning("Callback event %s (%s) for unknown call leg %s", event.id, event.name, call_leg_id)
                return None
            check_events_belong(leg, [event])  # again: another event may have taught the leg its ids meanwhile
            was_ended, outcome_before = leg.is_ended, leg.outcome
            # Callbacks can overtake ACS's answer to create call: learn the connection id from the event.
            leg.acs_call_connection_id = leg.acs_call_connection_id or event.call_connection_id
            effects = apply_event(leg, event, utc_now())
            caused = EventDeliverer.outbox_messages(
                call_leg_id, leg.callback_uri, [n.to_cloud_event() for n in effects.changes.notifications]
            )
            if leg.campaign_id and leg.is_ended and (not was_ended or leg.outcome != outcome_before):
                caused.append(campaign_result_message(leg))  # the end, or a late event correcting its outcome
            if leg.is_ended and not was_ended and leg.pacing:
                freed = LineFreedMessage(Grant.from_dict(leg.pacing))  # the line goes on at once, not a hop later
                caused.append((LINE_FREED, freed.to_message()))
            caused += [(PLAN_STEP, PlanStepMessage(action).to_message()) for action in effects.actions]
            # Only what must not go out twice needs marking as sent once it went (one more write).
            steps = any(_once_only(item) for item in caused)
            try:
                self.store.save(leg, effects.changes.timeline, acs_event_id=event.id, caused=caused, sent=not steps)
            except ConcurrentUpdateError:
                continue  # another event of this call got there first; apply ours to the newer state
            except DuplicateEventError:
                logger.info("ACS event %s was applied before", event.id)
                self._send_unsent(leg, event.id)
                return None
            if leg.is_ended and not was_ended and not leg.pacing:
                self.store.unwatch(call_leg_id)  # reconciliation need not look at it any more (see create)
            for participant in effects.changes.start_dtmf_for:
                self._start_dtmf(leg, participant)
            self._follow_up(leg, caused)
            if steps:
                self.store.mark_sent(call_leg_id, event.id)
            return leg
        raise ConcurrentUpdateError(call_leg_id)

    def _carry_out(self, leg: CallLeg, action: Action) -> None:
        """One step of the leg's plan. A failure is recorded, not raised: the event itself was applied."""
        call_id = leg.acs_call_connection_id or ""
        try:
            if isinstance(action, Play):
                self.acs.play(call_id, [action.prompt.play_source()], operation_context=action.context)
            elif isinstance(action, AskForKey):
                self.acs.recognize_dtmf(
                    call_id,
                    leg.targets[0],
                    prompt=action.prompt.play_source(),
                    max_tones=1,
                    initial_silence_timeout=action.timeout_seconds,
                    operation_context=action.context,
                )
            elif isinstance(action, Invite):
                caller_id = leg.caller_id if is_phone_number(action.participant) else None
                self.acs.add_participant(
                    call_id, action.participant, source_caller_id=caller_id, operation_context="plan:escalation"
                )
            elif isinstance(action, HangUp):
                self.acs.hang_up(call_id)
        except (CallAutomationError, ValueError) as error:
            logger.warning("Plan step %s on %s failed: %s", type(action).__name__, leg.call_leg_id, error)
            self.store.append_timeline(
                leg.call_leg_id,
                [TimelineEntry(utc_now(), "planStepFailed", {"step": type(action).__name__, "error": str(error)})],
            )
            if not isinstance(action, HangUp):
                self._carry_out(leg, HangUp())  # never leave a callee on a silent line

    def _send_unsent(self, leg: CallLeg, acs_event_id: str) -> None:
        """A repeat of an applied event: the first try may have died before sending what it caused. What may go
        out twice is sent again; the rest only if it was never marked sent."""
        caused, done = self.store.caused_by(leg.call_leg_id, acs_event_id)
        again = [item for item in caused if not (done and _once_only(item))]
        if again:
            self._follow_up(leg, again)
        if not done and any(_once_only(item) for item in again):
            self.store.mark_sent(leg.call_leg_id, acs_event_id)

    def _follow_up(self, leg: CallLeg, caused: list[OutboxMessage]) -> None:
        """Send the queue messages an event caused, hand on the line of a call that ended, and carry out the
        plan steps it decided."""
        self.outbox.send([(queue, text) for queue, text in caused if queue not in (PLAN_STEP, LINE_FREED)])
        for _, text in (item for item in caused if item[0] == LINE_FREED):
            self._line_freed(LineFreedMessage.from_message(text).grant, leg.campaign_id)
        for _, text in (item for item in caused if item[0] == PLAN_STEP):
            self._carry_out(leg, PlanStepMessage.from_message(text).action)

    def _line_freed(self, grant: Grant, campaign_id: str | None) -> None:
        if self.dispatcher is None:
            return
        try:
            self.dispatcher.line_freed(grant, campaign_id)
        except Exception:  # the call is over either way; a line not handed on lapses, and the pump starts others
            logger.exception("Handing on the line of call leg %s failed", grant.holder)

    def _start_dtmf(self, leg: CallLeg, participant: str) -> None:
        try:
            self.acs.start_continuous_dtmf(leg.acs_call_connection_id or "", participant)
        except (CallAutomationError, ValueError) as error:
            logger.warning("Could not start DTMF recognition on %s: %s", leg.call_leg_id, error)
            self.store.append_timeline(
                leg.call_leg_id, [TimelineEntry(utc_now(), "dtmfRecognitionFailed", {"participant": participant})]
            )

    # -- helpers ----------------------------------------------------------------------------------------

    def _live_leg(self, call_leg_id: str) -> CallLeg:
        leg = self.store.get(call_leg_id)
        if leg.is_ended:
            raise CallEndedError(call_leg_id)
        if not leg.acs_call_connection_id:
            raise CallNotConnectedError(call_leg_id, leg.state.value)
        return leg

    def _connected_leg(self, call_leg_id: str) -> CallLeg:
        leg = self._live_leg(call_leg_id)
        if leg.state is not LegState.ESTABLISHED:
            raise CallNotConnectedError(call_leg_id, leg.state.value)
        return leg

    def _record_operation(self, call_leg_id: str, operation: Operation, details: dict[str, Any]) -> None:
        def add(current: CallLeg) -> None:
            current.operations[operation.id] = operation

        self.store.update(
            call_leg_id,
            add,
            lambda current, _: [
                TimelineEntry(utc_now(), f"{operation.kind}Requested", {"operationId": operation.id, **details})
            ],
        )

    def _operation_failed(self, call_leg_id: str, operation: Operation, error: CallAutomationError) -> None:
        def fail(current: CallLeg) -> None:
            recorded = current.operations.get(operation.id)
            if recorded is not None:
                recorded.status = "failed"
                recorded.result = {"code": error.status_code or 0, "subcode": 0, "message": error.message}

        kind = "throttled" if isinstance(error, ThrottledError) else "rejected"
        self.store.update(
            call_leg_id,
            fail,
            lambda current, _: [
                TimelineEntry(
                    utc_now(),
                    f"{operation.kind}Failed",
                    {"operationId": operation.id, "why": kind, "status": error.status_code},
                )
            ],
        )
