"""ACS callbacks: checked against their leg, applied once each, their consequences sent and carried out."""

from __future__ import annotations

import logging

from shared.callautomation import CallAutomationError
from shared.calls.acs_events import AcsEvent
from shared.calls.callback_binding import check_callback_token, check_events_belong
from shared.calls.context import campaign_result_message
from shared.calls.event_delivery import EventDeliverer
from shared.calls.flow import (
    OPTED_OUT,
    apply_event,
)
from shared.calls.legs import (
    CallLeg,
    TimelineEntry,
)
from shared.calls.messages.in_process import (
    LINE_FREED,
    PLAN_STEP,
    SUPPRESS,
    LineFreedMessage,
    PlanStepMessage,
    SuppressMessage,
)
from shared.calls.plan_steps import PlanSteps
from shared.calls.store import ConcurrentUpdateError, DuplicateEventError
from shared.calls.suppressions import OPTED_OUT_REASON, opt_out_source
from shared.ids import is_phone_number
from shared.lines import Grant
from shared.logs import add_to_log_context
from shared.storage.clients import EVENT_DELIVERY_QUEUE
from shared.storage.outbox import OutboxMessage
from shared.telemetry import CALLS_ENDED, count

logger = logging.getLogger(__name__)

_MAX_EVENT_ATTEMPTS = 20


def _callee_number(leg: CallLeg) -> str | None:
    """The phone number the leg called, its phone target (a campaign's `recipient` is the recipient's id, which is
    not always a number, and a contact has several)."""
    number = (leg.targets or [""])[0].removeprefix("4:")
    return number if is_phone_number(number) else None


def _once_only(caused: OutboxMessage) -> bool:
    """Whether sending this twice would be heard or seen twice: a plan step that plays or invites, an event for
    the caller. A hang-up (ACS ends a call once), a campaign result and a freed line (their receivers recognise
    a repeat) may go out again."""
    queue, text = caused
    if queue == PLAN_STEP:
        return not PlanStepMessage.from_message(text).is_hang_up
    return queue == EVENT_DELIVERY_QUEUE


class CallbackProcessing(PlanSteps):
    """ACS's callbacks applied to their leg, once each, and what they cause sent and done."""

    def receive_callback(self, call_leg_id: str, token: str | None, events: list[AcsEvent]) -> bool:
        """Apply the events of one ACS callback, once each, after checking they are about this leg
        (CallbackRejectedError otherwise, with nothing written). False when the leg is unknown."""
        leg = self.store.find(call_leg_id)
        if leg is None:
            logger.warning("Callback with %d event(s) for unknown call leg %s", len(events), call_leg_id[:64])
            return False
        check_callback_token(leg, token)
        check_events_belong(leg, events)
        connection_id = leg.acs_call_connection_id or (events[0].call_connection_id if events else None)
        correlation_id = leg.acs_correlation_id or next(
            (e.data.get("correlationId") for e in events if isinstance(e.data.get("correlationId"), str)), None)
        add_to_log_context(campaignId=leg.campaign_id, callConnectionId=connection_id, correlationId=correlation_id)
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
            effects = apply_event(leg, event, self._now())
            caused = EventDeliverer.outbox_messages(
                call_leg_id, leg.callback_uri, [n.to_cloud_event() for n in effects.changes.notifications]
            )
            if leg.campaign_id and leg.is_ended and (not was_ended or leg.outcome != outcome_before):
                caused.append(campaign_result_message(leg))  # the end, or a late event correcting its outcome
            if leg.is_ended and not was_ended and leg.pacing:
                freed = LineFreedMessage(Grant.from_dict(leg.pacing))  # the line goes on at once, not a hop later
                caused.append((LINE_FREED, freed.to_message()))
            caused += [(PLAN_STEP, PlanStepMessage(action).to_message()) for action in effects.actions]
            if leg.outcome == OPTED_OUT and outcome_before != OPTED_OUT and (number := _callee_number(leg)):
                # Recorded as the press is learnt, not when the call ends: no call can slip in between.
                caused.append((SUPPRESS, SuppressMessage(number, leg.campaign_id, call_leg_id).to_message()))
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
            if leg.is_ended and not was_ended:
                count(CALLS_ENDED, outcome=leg.outcome or "unknown")
            if leg.is_ended and not was_ended and not leg.pacing:
                self.store.unwatch(call_leg_id)  # reconciliation need not look at it any more (see create)
            for participant in effects.changes.start_dtmf_for:
                self._start_dtmf(leg, participant)
            self._follow_up(leg, caused)
            if steps:
                self.store.mark_sent(call_leg_id, event.id)
            return leg
        raise ConcurrentUpdateError(call_leg_id)

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
        self.outbox.send([(queue, text) for queue, text in caused if queue not in (PLAN_STEP, LINE_FREED, SUPPRESS)])
        for _, text in (item for item in caused if item[0] == SUPPRESS):
            self._suppress(SuppressMessage.from_message(text))
        for _, text in (item for item in caused if item[0] == LINE_FREED):
            self._line_freed(LineFreedMessage.from_message(text).grant, leg.campaign_id)
        for _, text in (item for item in caused if item[0] == PLAN_STEP):
            self._carry_out(leg, PlanStepMessage.from_message(text).action)

    def _suppress(self, message: SuppressMessage) -> None:
        if self.suppressions is None:
            logger.warning("Call leg %s opted out, but no suppression list is configured", message.call_leg_id)
            return
        _, added = self.suppressions.add(
            message.phone_number, OPTED_OUT_REASON, opt_out_source(message.campaign_id, message.call_leg_id)
        )
        logger.info("Call leg %s opted out (%s)", message.call_leg_id, "added" if added else "already suppressed")

    def _start_dtmf(self, leg: CallLeg, participant: str) -> None:
        try:
            self.acs.start_continuous_dtmf(leg.acs_call_connection_id or "", participant)
        except (CallAutomationError, ValueError) as error:
            logger.warning("Could not start DTMF recognition on %s: %s", leg.call_leg_id, error)
            self.store.append_timeline(
                leg.call_leg_id, [TimelineEntry(self._now(), "dtmfRecognitionFailed", {"participant": participant})]
            )
