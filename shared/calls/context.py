"""The call service's state and shared steps: its stores, the ACS client, the outbox, and the lines."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

from shared.callautomation import CallAutomationClient
from shared.calls.errors import CallEndedError, CallNotConnectedError
from shared.calls.legs import (
    CallEnded,
    CallLeg,
    LegState,
)
from shared.calls.messages.campaign_results import CampaignResultMessage
from shared.calls.store import CallLegStore
from shared.calls.suppressions import SuppressionStore
from shared.clock import Clock, iso, system_clock
from shared.lines import Grant, LineKeeper, Lines
from shared.storage.clients import CAMPAIGN_RESULTS_QUEUE
from shared.storage.outbox import Outbox, OutboxMessage

logger = logging.getLogger(__name__)

# Idempotency keys map to call leg ids through this namespace, so one key can only ever name one leg.
IDEMPOTENCY_NAMESPACE = uuid.UUID("9c1d3c4e-8a7b-4e0f-b6a5-2f1e0d9c8b7a")


def call_leg_id_for(idempotency_key: str | None) -> str:
    return str(uuid.uuid5(IDEMPOTENCY_NAMESPACE, idempotency_key)) if idempotency_key else str(uuid.uuid4())


def campaign_result_message(leg: CallLeg) -> OutboxMessage:
    """Tells the campaign that one of its calls ended (see campaigns.CampaignService.record_result)."""
    message = CampaignResultMessage(leg.campaign_id, leg.recipient, leg.call_leg_id, CallEnded.of(leg))  # type: ignore[arg-type]
    return CAMPAIGN_RESULTS_QUEUE, message.to_message()


@dataclass
class CallContext:
    """What every part of the call service works with, and the few steps they all take."""

    store: CallLegStore
    acs: CallAutomationClient
    outbox: Outbox
    callback_base_url: str
    default_caller_id: str | None = None
    cognitive_services_endpoint: str | None = None  # Azure AI services for text-to-speech prompts
    reconcile_after_seconds: float = 300.0  # a live leg ACS has not told us about for this long is checked
    dispatcher: LineKeeper | None = None  # lines: calls take one, and a freed one is handed on
    suppressions: SuppressionStore | None = None  # where opted-out numbers are put
    clock: Clock = system_clock

    def _now(self) -> str:
        """The clock's instant as the records keep it."""
        return iso(self.clock())

    def callback_url(self, leg: CallLeg) -> str:
        """Where ACS posts this leg's events. The token makes it this leg's alone (ACS keeps query strings)."""
        url = f"{self.callback_base_url}/callbacks/{leg.call_leg_id}"
        query = [f"token={leg.callback_token}"] if leg.callback_token else []
        if leg.traceparent:
            # Fixed when the leg was created, so a repeated create call sends the same body (repeatability).
            query.append(f"traceparent={leg.traceparent}")
        return f"{url}?{'&'.join(query)}" if query else url

    def _lines(self) -> Lines:
        assert self.dispatcher is not None
        return self.dispatcher.lines

    def _line_freed(self, grant: Grant, campaign_id: str | None) -> None:
        if self.dispatcher is None:
            return
        try:
            self.dispatcher.line_freed(grant, campaign_id)
        except Exception:  # the call is over either way; a line not handed on lapses, and the pump starts others
            logger.exception("Handing on the line of call leg %s failed", grant.holder)

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
