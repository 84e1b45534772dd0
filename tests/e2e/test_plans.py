"""Call plans end to end: every scripted callee ends with the right outcome, and silence is never a confirmation."""

import pytest

PLAN = {
    "prompt": {"text": "Your appointment is tomorrow at 9. Press 1 to confirm, 2 to cancel, 0 for a person."},
    "collect": {"confirmKey": "1", "declineKey": "2", "timeoutSeconds": 2, "maxPrompts": 2},
    "escalation": {"key": "0", "participant": "8:acs:front-desk"},
    "goodbye": {"text": "Thank you."},
}


@pytest.mark.parametrize(
    ("target", "outcome", "digits"),
    [
        ("+15005550006", "confirmed", "1"),
        ("+15005550007", "declined", "2"),
        ("+15005550011", "answered-without-input", None),
        ("+15005550002", "busy", None),
        ("+15005550003", "no-answer", None),
        ("+15005550005", "unreachable", None),
        ("+15005550009", "answered-without-input", None),
    ],
)
def test_each_callee_ends_with_its_outcome(stack, target, outcome, digits):
    leg_id = stack.place_call(target, plan=PLAN)

    leg = stack.wait_for_call(leg_id, lambda leg: leg["state"] == "terminated", timeout=30)

    assert leg["outcome"] == outcome, leg["timeline"]
    assert leg["digits"] == digits
    assert leg["outcomeCode"] is not None
    answered = outcome not in ("busy", "no-answer", "unreachable")
    states = stack.wait_for_events(leg_id, "CallLegStateChanged", 2 if answered else 1)
    ended = [e["data"] for e in states if e["data"]["callState"] == "terminated"]
    assert ended and ended[0]["outcome"] == outcome


def test_silence_is_asked_again_up_to_max_prompts(stack):
    leg_id = stack.place_call("+15005550011", plan=PLAN)

    leg = stack.wait_for_call(leg_id, lambda leg: leg["state"] == "terminated", timeout=30)

    failed = [e for e in leg["timeline"] if e["type"] == "recognizeFailed"]
    assert len(failed) == 2 and all(e["result"]["subCode"] == 8510 for e in failed)


def test_escalation_invites_a_person_and_stops_the_plan(stack):
    leg_id = stack.place_call("+15005550008", plan=PLAN)

    leg = stack.wait_for_call(leg_id, lambda leg: "8:acs:front-desk" in leg["participants"], timeout=30)

    assert leg["outcome"] == "escalated"
    assert leg["state"] == "established"  # the plan no longer hangs up: a human has the call
    stack.post(f"/calls/{leg_id}/Hangup")


def test_a_plan_without_a_question_plays_and_hangs_up(stack):
    leg_id = stack.place_call("+15005550011", plan={"prompt": {"text": "Power is back in your area."}})

    leg = stack.wait_for_call(leg_id, lambda leg: leg["state"] == "terminated", timeout=30)

    assert leg["outcome"] == "answered"
    assert leg["endReason"]["subCode"] == 7000  # we hung up, after the prompt


def test_an_invalid_plan_names_its_field(stack):
    answer = stack.post(
        "/calls", {"targets": ["+15005550011"], "plan": {"prompt": {"text": "x"}, "collect": {"confirmKey": "11"}}}
    )

    assert answer.status_code == 400
    assert "plan.collect.confirmKey" in answer.json()["message"]
