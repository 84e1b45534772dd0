"""Reconciliation decides from the leg and from ACS's answer; here on legs kept in memory and a scripted ACS."""

from datetime import UTC, datetime, timedelta

import pytest

from shared.callautomation import CallNotFoundError, ServiceUnavailableError
from shared.callautomation.models import CallConnection
from shared.calls.legs import CallLeg, LegState
from shared.calls.reconciliation import Reconciler
from shared.lines import Wanted
from tests.support import fakes

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
AFTER = 300


class ScriptedAcs:
    def __init__(self, answer):
        self.answer = answer
        self.hung_up: list[str] = []

    def get_call(self, call_connection_id: str) -> CallConnection:
        if isinstance(self.answer, Exception):
            raise self.answer
        return CallConnection(call_connection_id, self.answer, None, None, (), None, None, {})

    def hang_up(self, call_connection_id: str) -> None:
        self.hung_up.append(call_connection_id)


class EndingCalls:
    def __init__(self) -> None:
        self.ended: list[tuple[str, str, bool]] = []

    def end_leg(self, call_leg_id, reason, result, kind, *, answered=False):
        self.ended.append((call_leg_id, result["message"], answered))


def _reconcile(leg: CallLeg, acs_answer, after=AFTER) -> tuple[str, fakes.CallLegs, ScriptedAcs, EndingCalls]:
    store, acs, calls = fakes.CallLegs(), ScriptedAcs(acs_answer), EndingCalls()
    store.legs[leg.call_leg_id] = leg
    store.watch(leg.call_leg_id, 0)
    reconciler = Reconciler(calls, store, acs, after_seconds=after, clock=lambda: NOW)
    return reconciler.check(leg.call_leg_id), store, acs, calls


def _leg(state=LegState.ESTABLISHED, connection="conn-1", silent_for=timedelta(seconds=AFTER + 1)) -> CallLeg:
    heard = (NOW - silent_for).isoformat()
    return CallLeg("leg-1", ["4:+1"], state=state, acs_call_connection_id=connection, created_at=heard,
                   last_heard_at=heard)


def test_a_leg_heard_from_recently_is_only_looked_at_later():
    done, store, acs, calls = _reconcile(_leg(silent_for=timedelta(seconds=10)), "connected")

    assert done == "recently-heard" and calls.ended == [] and acs.hung_up == []
    assert store.watched["leg-1"] == pytest.approx(NOW.timestamp() - 10 + AFTER)


def test_a_call_acs_no_longer_knows_is_ended():
    done, _, _, calls = _reconcile(_leg(), CallNotFoundError("gone", status_code=404))

    assert done == "gone" and calls.ended[0][0] == "leg-1"


@pytest.mark.parametrize(("state", "acs_state"), [(LegState.ESTABLISHING, "connecting"),
                                                   (LegState.ESTABLISHING, "connected")])
def test_a_call_nobody_drives_is_hung_up_and_ended(state, acs_state):
    done, _, acs, calls = _reconcile(_leg(state=state), acs_state)

    assert done == "hung-up" and acs.hung_up == ["conn-1"]
    assert calls.ended[0][2] is (acs_state == "connected")  # ACS's word that the callee is on the line


def test_a_long_connected_call_is_left_alone():
    done, store, acs, calls = _reconcile(_leg(), "connected")

    assert done == "still-connected" and acs.hung_up == [] and calls.ended == []
    assert store.watched["leg-1"] == NOW.timestamp() + AFTER


def test_acs_being_unavailable_ends_nothing_and_asks_again_soon():
    done, store, _, calls = _reconcile(_leg(), ServiceUnavailableError("down", status_code=503))

    assert done == "acs-unavailable" and calls.ended == [] and "leg-1" in store.watched


@pytest.mark.parametrize(("age", "expected"), [(timedelta(seconds=100), "waiting-for-acs"),
                                               (timedelta(minutes=10), "never-placed")])
def test_a_leg_that_never_reached_acs_ends_only_once_acs_cannot_be_asked_again(age, expected):
    leg = _leg(state=LegState.ESTABLISHING, connection=None, silent_for=age)

    done, _, _, calls = _reconcile(leg, None, after=60)  # within 5 minutes, a create call may still be repeated

    assert done == expected
    assert bool(calls.ended) is (expected == "never-placed")


def test_an_ended_or_missing_leg_leaves_the_index():
    done, store, _, _ = _reconcile(_leg(state=LegState.TERMINATED), "connected")

    assert done == "not-live" and store.watched == {}


def _line_watched(leg: CallLeg, acs_answer) -> tuple[Reconciler, fakes.CallLegs, fakes.Lines, EndingCalls]:
    """A leg holding a line: it is not in the store's list of live legs, its line names it as due."""
    store, lines, calls = fakes.CallLegs(), fakes.Lines(), EndingCalls()
    grant = lines.acquire(Wanted(holder=leg.call_leg_id, caller_ids=["+18005550100"]))
    leg.pacing = grant.to_dict()
    store.legs[leg.call_leg_id] = leg
    lines.due = [(leg.call_leg_id, grant.line)]
    reconciler = Reconciler(calls, store, ScriptedAcs(acs_answer), after_seconds=AFTER, lines=lines,
                            clock=lambda: NOW)
    return reconciler, store, lines, calls


def test_a_leg_watched_through_its_line_is_checked_and_looked_at_again_through_it():
    reconciler, store, lines, calls = _line_watched(_leg(), "connected")

    assert reconciler.run() == {"still-connected": 1}
    assert calls.ended == [] and store.watched == {}  # no entry of its own: the line says when to look
    assert lines.checks["leg-1"] == pytest.approx(NOW.timestamp() + AFTER)


def test_a_line_naming_a_call_that_acs_no_longer_knows_ends_it():
    reconciler, _, _, calls = _line_watched(_leg(), CallNotFoundError("gone"))

    assert reconciler.run() == {"gone": 1} and [leg for leg, _, _ in calls.ended] == ["leg-1"]


def test_a_line_still_naming_an_ended_call_is_freed_and_one_naming_no_call_waits_for_its_lease():
    reconciler, _, lines, _ = _line_watched(_leg(state=LegState.TERMINATED), "connected")
    never_created = ("leg-2", ("number-+18005550101", "line-000"))
    lines.due.append(never_created)

    assert reconciler.run() == {"not-live": 2}
    assert [grant.holder for grant in lines.released] == ["leg-1"]  # its hand-over was lost: it goes now
    assert lines.settled == [never_created]  # a dial may still come with it
