"""Outcomes from the whole story: real ACS event sequences, applied in any order and repeated, end the same.

Each scripted callee is called once through the whole stack; the events the emulator sent for that call are then
replayed through the app's pure event pipeline in random orders, with repeats, as ACS's at-least-once, unordered
delivery could bring them.
"""

from __future__ import annotations

import json
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.calls.acs_events import parse_callback_body
from shared.calls.flow import apply_event
from shared.calls.legs import CallLeg

PLAN = {
    "prompt": {"text": "Your appointment is tomorrow at 9. Press 1 to confirm, 2 to cancel, 0 for a person."},
    "collect": {"confirmKey": "1", "declineKey": "2", "timeoutSeconds": 2, "maxPrompts": 2},
    "escalation": {"key": "0", "participant": "8:acs:front-desk"},
    "goodbye": {"text": "Thank you."},
}
NO_PLAN = None

# behaviour → (magic number, plan, requested call events)
BEHAVIOURS = {
    "confirms": ("+15005550006", PLAN, []),
    "declines": ("+15005550007", PLAN, []),
    "stays-silent": ("+15005550011", PLAN, []),
    "hangs-up-mid-prompt": ("+15005550009", PLAN, []),
    "busy": ("+15005550002", PLAN, []),
    "no-answer": ("+15005550003", PLAN, []),
    "unreachable": ("+15005550005", PLAN, []),
    "presses-1-without-a-plan": ("+15005550006", NO_PLAN, ["dtmfReceived"]),
}
FINAL_FIELDS = (
    "state", "outcome", "outcome_code", "answered_at", "ended_at", "end_reason", "digits", "participants",
    "server_call_id",
)  # fmt: skip


@pytest.fixture(scope="module")
def stories(stack) -> dict[str, tuple[dict, list]]:
    """For each behaviour: the leg as the app recorded it, and the events ACS (the emulator) sent about it."""
    legs = {}
    for name, (number, plan, call_events) in BEHAVIOURS.items():
        extra = {"plan": plan} if plan else {}
        legs[name] = stack.place_call(number, requestedCallEvents=call_events, **extra)
    # Nothing ends a call without a plan but its caller: hang up once the key arrived.
    without_plan = legs["presses-1-without-a-plan"]
    stack.wait_for_call(without_plan, lambda leg: any(e["type"] == "dtmfReceived" for e in leg["timeline"]))
    assert stack.post(f"/calls/{without_plan}/Hangup").status_code == 202
    found = {}
    for name, leg_id in legs.items():
        leg = stack.wait_for_call(leg_id, lambda leg: leg["state"] == "terminated", timeout=30)
        detail = stack.emulator.control("GET", f"/calls/{leg['acsCallConnectionId']}").json()
        events = [{key: e[key] for key in ("id", "type", "time", "data")} for e in detail["events"]]
        found[name] = (leg, parse_callback_body(json.dumps(events).encode()))
    return found


def _replay(recorded: dict, events: list) -> CallLeg:
    leg = CallLeg(
        call_leg_id=recorded["callLegId"],
        targets=recorded["targets"],
        plan=recorded["plan"],
        requested_call_events=recorded["requestedCallEvents"],
    )
    applied = set()
    for event in events:
        if event.id in applied:
            continue  # the app's event markers make a repeat a no-op
        applied.add(event.id)
        apply_event(leg, event, "2026-01-01T00:00:00+00:00")
    return leg


def _final(leg: CallLeg) -> dict:
    return {name: getattr(leg, name) for name in FINAL_FIELDS}


def test_replaying_the_story_in_order_gives_what_the_app_recorded(stories):
    for name, (recorded, events) in stories.items():
        replayed = _replay(recorded, events)
        assert replayed.state.value == recorded["state"], name
        assert (replayed.outcome, replayed.digits) == (recorded["outcome"], recorded["digits"]), name
        assert replayed.answered_at == recorded["answeredAt"], name


@settings(max_examples=300, deadline=None)
@given(name=st.sampled_from(sorted(BEHAVIOURS)), seed=st.randoms(use_true_random=False), repeats=st.integers(0, 6))
def test_any_order_and_any_repeats_of_the_same_events_end_the_same(stories, name, seed: random.Random, repeats):
    recorded, events = stories[name]
    shuffled = list(events) + [seed.choice(events) for _ in range(repeats)]
    seed.shuffle(shuffled)

    assert _final(_replay(recorded, shuffled)) == _final(_replay(recorded, events))


def test_the_stories_cover_each_outcome(stories):
    outcomes = {name: recorded["outcome"] for name, (recorded, _) in stories.items()}
    assert outcomes == {
        "confirms": "confirmed",
        "declines": "declined",
        "stays-silent": "answered-without-input",
        "hangs-up-mid-prompt": "answered-without-input",
        "busy": "busy",
        "no-answer": "no-answer",
        "unreachable": "unreachable",
        "presses-1-without-a-plan": "answered",
    }
    assert stories["presses-1-without-a-plan"][0]["digits"] == "1"  # tones of a call without a plan count too


def test_a_lost_call_connected_still_means_answered(stories):
    recorded, events = stories["hangs-up-mid-prompt"]

    leg = _replay(recorded, [e for e in events if e.name != "CallConnected"])

    assert leg.outcome == "answered-without-input"
    assert leg.answered_at is not None
