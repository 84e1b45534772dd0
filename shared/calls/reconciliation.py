"""Reconciliation: legs that ACS has not told us about for a while are checked against ACS itself.

Callbacks can be lost for good (ACS gave up while the app was down, a network partition, `make run` stopped with a
call live). A timer asks ACS about every live leg that has heard nothing for `after_seconds`:
- ACS no longer knows the call: it ended unseen. The leg ends with the reason `Reconciled`.
- ACS still rings it, or the leg never heard it connect: nobody is driving the call. It is hung up and ended.
- ACS has it connected and so does the leg: a long call (an escalation, a long message). Looked at again later.
- The leg never reached ACS (no connection id) and ACS's repeatability window has passed: it never will; ended.
A live leg's line lease is renewed on every visit, so a call of any length keeps its line. A leg holding a line is
watched through the line (its row says when to look); other legs are listed in the call leg store.
Ending goes through CallService.end_leg, so the caller is told, a campaign records the result and frees the
pacing slot. Every step is guarded by the leg's state and ETag, so two instances reconciling at once (or a
callback arriving meanwhile) end a leg once.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field

from shared.callautomation import CallAutomationClient, CallAutomationError, CallNotFoundError
from shared.calls.commands import REPEATABILITY_WINDOW_SECONDS
from shared.calls.legs import RECONCILED, CallLeg, LegState, instant
from shared.calls.service import CallService
from shared.calls.store import CallLegStore
from shared.clock import Clock, system_clock, timestamp
from shared.lines import Grant, Lines, SlotKey
from shared.logs import add_to_log_context, log_context

logger = logging.getLogger(__name__)

GONE = {"code": 404, "subCode": 8522, "message": "ACS no longer knows this call; its end was never reported."}
NEVER_PLACED = {"code": 0, "subCode": 0, "message": "ACS never confirmed this call and cannot be asked again."}
TRANSIENT_RETRY_SECONDS = 30.0


@dataclass
class Reconciler:
    calls: CallService
    store: CallLegStore
    acs: CallAutomationClient
    after_seconds: float = 300.0
    lines: Lines | None = None  # to renew the leases of live calls' lines
    clock: Clock = system_clock
    counts: Counter[str] = field(default_factory=Counter)

    def run(self, limit: int = 1000) -> Counter[str]:
        """One pass over the live legs that are due; how many ended up how (for the log)."""
        self.counts.clear()
        due: dict[str, SlotKey | None] = dict.fromkeys(self.store.due_for_check(timestamp(self.clock), limit))
        for holder, line in self.lines.due_for_check(limit) if self.lines is not None else []:
            due.setdefault(holder, line)
        for call_leg_id, line in due.items():
            with log_context(callLegId=call_leg_id):
                try:
                    self.counts[self.check(call_leg_id, line)] += 1
                except Exception:  # one leg's trouble must not stop the others; the next pass tries again
                    logger.exception("Reconciling call leg %s failed", call_leg_id)
                    self.counts["error"] += 1
        return self.counts

    def check(self, call_leg_id: str, line: SlotKey | None = None) -> str:
        """Look at one live leg (`line`: the line that named it as due, if it was a line); returns what was
        done."""
        now = timestamp(self.clock)
        leg = self.store.find(call_leg_id)
        if leg is not None:
            add_to_log_context(campaignId=leg.campaign_id, callConnectionId=leg.acs_call_connection_id)
        if leg is None or leg.is_ended:
            self.store.unwatch(call_leg_id)  # ended (its callback removed it) or never created (a crash)
            self._let_go(call_leg_id, leg, line)
            return "not-live"
        heard = _epoch(leg.last_heard_at or leg.created_at)
        if now - heard < self.after_seconds:
            self._look_again(leg, heard + self.after_seconds)
            return "recently-heard"
        if not leg.acs_call_connection_id:
            if now - _epoch(leg.created_at) < REPEATABILITY_WINDOW_SECONDS:
                self._look_again(leg, now + self.after_seconds)  # the create call may still be retried
                return "waiting-for-acs"
            self._end(leg, NEVER_PLACED)
            return "never-placed"
        try:
            call = self.acs.get_call(leg.acs_call_connection_id)
        except CallNotFoundError:
            self._end(leg, GONE)
            return "gone"
        except CallAutomationError as error:
            logger.warning("Could not ask ACS about call leg %s (%s); trying again later", call_leg_id, error)
            self._look_again(leg, now + TRANSIENT_RETRY_SECONDS)
            return "acs-unavailable"
        if call.state == "connected" and leg.state is LegState.ESTABLISHED:
            self._look_again(leg, now + self.after_seconds)
            return "still-connected"
        self._hang_up(leg)
        silent = f"{int(now - heard)} s"
        self._end(leg, {"code": 0, "subCode": 0, "message": f"Hung up: ACS had told nothing about it for {silent}."},
                  answered=call.state == "connected")
        return "hung-up"

    def _look_again(self, leg: CallLeg, at: float) -> None:
        """Watch the leg until `at`: through its line, whose lease every visit renews (so a call of any length
        keeps its line, and the lease lapses only when no instance is left to visit); or, without a line (or
        having lost it), in the list of live legs."""
        if self.lines is not None and leg.pacing and self.lines.renew(Grant.from_dict(leg.pacing), check_after=at):
            return
        self.store.watch(leg.call_leg_id, at)

    def _let_go(self, call_leg_id: str, leg: CallLeg | None, line: SlotKey | None) -> None:
        """A line names a call that is over or was never created: the ended call's line goes (its hand-over
        was lost); a call not created yet may still come with its dial, so its line waits for its lease."""
        if self.lines is None or line is None:
            return
        if leg is not None and leg.pacing:
            self.lines.release(Grant.from_dict(leg.pacing))
        else:
            self.lines.settle(call_leg_id, line)

    def _hang_up(self, leg: CallLeg) -> None:
        try:
            self.acs.hang_up(leg.acs_call_connection_id or "")
        except CallNotFoundError:
            pass  # ended meanwhile: nothing to hang up

    def _end(self, leg: CallLeg, result: dict, *, answered: bool = False) -> None:
        logger.info("Reconciled call leg %s: %s", leg.call_leg_id, result["message"])
        self.calls.end_leg(leg.call_leg_id, RECONCILED, result, "reconciled", answered=answered)


def _epoch(text: str | None) -> float:
    return instant(text).timestamp() if text else 0.0
