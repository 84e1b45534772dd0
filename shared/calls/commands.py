"""Commands on a call leg: the seed's operations, carried out on ACS and recorded."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any

from shared.callautomation import CallAutomationError, ThrottledError, file_source
from shared.callautomation.client import new_repeatability
from shared.callautomation.identifiers import is_phone_number
from shared.calls.callback_binding import new_callback_token
from shared.calls.context import IDEMPOTENCY_NAMESPACE, CallContext, call_leg_id_for, campaign_result_message
from shared.calls.event_delivery import EventDeliverer
from shared.calls.flow import (
    settle_outcome,
)
from shared.calls.legs import (
    CallLeg,
    LegSnapshot,
    LegState,
    Operation,
    TimelineEntry,
    end_leg,
    state_changes,
)
from shared.calls.plans import CallPlan
from shared.calls.requests import CancelMediaRequest, CreateCallRequest, InviteParticipantsRequest, PlayAudioRequest
from shared.calls.store import CallLegExistsError
from shared.clock import timestamp
from shared.fields import ValidationError
from shared.lines import Grant, LinesBusyError, Wanted
from shared.logs import add_to_log_context
from shared.telemetry import CALLS_ENDED, CALLS_PLACED, PACING_WAITS, count, current_traceparent

logger = logging.getLogger(__name__)

# ACS recognises a repeated create call for 5 minutes after its first sending (Repeatability-First-Sent); after
# that it would refuse the old headers, and new ones could place a second call. We stop 30 s short, for clock skew.
REPEATABILITY_WINDOW_SECONDS = 270

LINES_BUSY_RETRY_SECONDS = 5.0


def _repeatability_expired(leg: CallLeg, now: datetime) -> bool:
    """Whether ACS would no longer recognise a repeat of this leg's create call request."""
    try:
        first_sent = parsedate_to_datetime(leg.acs_first_sent or "")
    except (TypeError, ValueError):
        return False
    return (now - first_sent).total_seconds() > REPEATABILITY_WINDOW_SECONDS


class CallCommands(CallContext):
    """What callers ask of a call: place it, end it, play to it, change who is on it, read it."""

    # -- create and end -----------------------------------------------------------------------------------

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
                check_after=None if leg.pacing else timestamp(self.clock) + self.reconcile_after_seconds,
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
            if _repeatability_expired(leg, self.clock()):
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
        leg.acs_correlation_id = leg.acs_correlation_id or connection.correlation_id
        add_to_log_context(callConnectionId=connection.call_connection_id, correlationId=leg.acs_correlation_id)
        count(CALLS_PLACED, campaign="yes" if leg.campaign_id else "no")
        entry = TimelineEntry(self._now(), "callPlaced", {"acsCallConnectionId": connection.call_connection_id})
        self.store.record_placed(leg, entry)
        return leg

    def _take_line(self, leg: CallLeg) -> Grant | None:
        """A line of the caller number, for a call placed outside a campaign."""
        if self.dispatcher is None or not leg.caller_id or not any(is_phone_number(t) for t in leg.targets):
            return None
        grant = self._lines().acquire(Wanted(holder=leg.call_leg_id, caller_ids=[leg.caller_id]))
        if grant is None:
            count(PACING_WAITS, kind="call")
            raise LinesBusyError(leg.caller_id, LINES_BUSY_RETRY_SECONDS)
        return grant

    def leg_id_for(self, request: CreateCallRequest) -> str:
        return call_leg_id_for(request.idempotency_key)

    def _new_leg(self, request: CreateCallRequest) -> CallLeg:
        request_id, first_sent = new_repeatability()
        now = self._now()
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
            traceparent=current_traceparent(),
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
            if not end_leg(current, reason, result, self._now()):
                return False
            if answered:
                current.answered_at = current.answered_at or self._now()
            settle_outcome(current, CallPlan.from_dict(current.plan) if current.plan else None)
            return True

        def entries(current: CallLeg, changed: bool) -> list[TimelineEntry]:
            details = {"reason": reason, "message": result.get("message")}
            return [TimelineEntry(self._now(), kind, details)] if changed else []

        leg, changed = self.store.update(call_leg_id, end, entries)
        if changed:
            count(CALLS_ENDED, outcome=leg.outcome or "unknown")
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
            lambda current, _: [TimelineEntry(self._now(), "hangUpRequested", {})],
        )
        return leg

    # -- media ------------------------------------------------------------------------------------------

    def play_audio(self, call_leg_id: str, request: PlayAudioRequest, *, operation_id: str | None = None) -> Operation:
        """Play a file. Given an `operation_id` (a queue message's), a repeat returns the first play unchanged."""
        leg = self._connected_leg(call_leg_id)
        op_id = str(uuid.uuid5(IDEMPOTENCY_NAMESPACE, operation_id)) if operation_id else str(uuid.uuid4())
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

    def read(self, call_leg_id: str) -> tuple[CallLeg, list[dict[str, Any]]]:
        """The leg as recorded and its timeline (CallLegNotFoundError when there is none)."""
        return self.store.get(call_leg_id), self.store.timeline(call_leg_id)

    # -- helpers ----------------------------------------------------------------------------------------

    def _record_operation(self, call_leg_id: str, operation: Operation, details: dict[str, Any]) -> None:
        def add(current: CallLeg) -> None:
            current.operations[operation.id] = operation

        self.store.update(
            call_leg_id,
            add,
            lambda current, _: [
                TimelineEntry(self._now(), f"{operation.kind}Requested", {"operationId": operation.id, **details})
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
                    self._now(),
                    f"{operation.kind}Failed",
                    {"operationId": operation.id, "why": kind, "status": error.status_code},
                )
            ],
        )
