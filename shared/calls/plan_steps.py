"""A call plan's steps carried out on ACS: play, ask for a key, invite, hang up."""

from __future__ import annotations

import logging

from shared.callautomation import CallAutomationError
from shared.callautomation.identifiers import is_phone_number
from shared.calls.context import CallContext
from shared.calls.flow import (
    Action,
    AskForKey,
    HangUp,
    Invite,
    Play,
)
from shared.calls.legs import (
    CallLeg,
    TimelineEntry,
)

logger = logging.getLogger(__name__)


class PlanSteps(CallContext):
    """Carrying out the steps a call's plan decided (shared/calls/flow.py decides them)."""

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
                [TimelineEntry(self._now(), "planStepFailed", {"step": type(action).__name__, "error": str(error)})],
            )
            if not isinstance(action, HangUp):
                self._carry_out(leg, HangUp())  # never leave a callee on a silent line
