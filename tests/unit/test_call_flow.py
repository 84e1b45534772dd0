"""The plan engine: which step follows each event, and which outcome a call ends with."""

import json

import pytest

from shared.calls.acs_events import ResultInformation, parse_callback_body
from shared.calls.flow import (
    AskForKey,
    HangUp,
    Invite,
    Play,
    action_from_json,
    action_to_json,
    apply_event,
    outcome_of_failed_call,
)
from shared.calls.legs import CallLeg, LegState
from shared.calls.plans import Prompt, parse_plan

NOW = "2026-01-01T00:00:00+00:00"
PLAN = parse_plan(
    {
        "prompt": {"text": "Press 1 or 2"},
        "collect": {"timeoutSeconds": 3, "maxPrompts": 2},
        "escalation": {"key": "0", "participant": "8:acs:desk"},
        "goodbye": {"text": "Bye"},
    }
)


def _leg(plan=PLAN) -> CallLeg:
    return CallLeg(call_leg_id="leg", targets=["4:+15005550006"], plan=plan.to_dict() if plan else None)


def _event(name, context=None, result=None, **data):
    body = {
        "id": f"{name}-{context}",
        "type": f"Microsoft.Communication.{name}",
        "time": NOW,
        "data": {
            "callConnectionId": "c",
            **({"operationContext": context} if context else {}),
            **({"resultInformation": result} if result else {}),
            **data,
        },
    }
    return parse_callback_body(json.dumps([body]).encode())[0]


def drive_plan(leg, event, now=NOW):
    """The plan's next steps after one event."""
    return apply_event(leg, event, now).actions


def _tones(*tones):
    return {"dtmfResult": {"tones": list(tones)}}


def test_connecting_asks_the_question_with_the_prompt():
    leg = _leg()

    actions = drive_plan(leg, _event("CallConnected"), NOW)

    assert actions == [AskForKey(PLAN.prompt, 3)]
    assert leg.answered_at == NOW and leg.prompts_asked == 1


@pytest.mark.parametrize(("tone", "outcome"), [("one", "confirmed"), ("two", "declined")])
def test_a_key_decides_then_goodbye_then_hang_up(tone, outcome):
    leg = _leg()
    drive_plan(leg, _event("CallConnected"), NOW)

    actions = drive_plan(
        leg, _event("RecognizeCompleted", "plan:ask", {"code": 200, "subCode": 8531}, **_tones(tone)), NOW
    )
    assert leg.outcome == outcome
    assert leg.digits == {"one": "1", "two": "2"}[tone]
    assert actions == [Play(PLAN.goodbye, "plan:goodbye")]
    assert drive_plan(leg, _event("PlayCompleted", "plan:goodbye"), NOW) == [HangUp()]


def test_silence_asks_again_then_gives_up_without_ever_confirming():
    leg = _leg()
    drive_plan(leg, _event("CallConnected"), NOW)
    silence = {"code": 400, "subCode": 8510, "message": "silence"}

    again = drive_plan(leg, _event("RecognizeFailed", "plan:ask", silence), NOW)
    assert again == [AskForKey(PLAN.prompt, 3)] and leg.outcome is None
    last = drive_plan(leg, _event("RecognizeFailed", "plan:ask", silence), NOW)
    assert last == [HangUp()]  # no goodbye for a non-answer
    assert leg.outcome is None  # silence decides nothing: the call is not over yet

    drive_plan(leg, _event("CallDisconnected", result={"code": 200, "subCode": 7000}), NOW)
    assert leg.outcome == "answered-without-input"
    assert leg.outcome_code["subCode"] == 7000


def test_an_unoffered_key_counts_as_no_answer():
    leg = _leg()
    drive_plan(leg, _event("CallConnected"), NOW)
    drive_plan(leg, _event("RecognizeCompleted", "plan:ask", None, **_tones("seven")), NOW)
    drive_plan(leg, _event("RecognizeCompleted", "plan:ask", None, **_tones("nine")), NOW)
    drive_plan(leg, _event("CallDisconnected", result={"code": 200, "subCode": 7000}), NOW)

    assert leg.outcome == "answered-without-input"
    assert leg.digits == "79"


def test_the_escalation_key_invites_a_person_and_stops_the_plan():
    leg = _leg()
    drive_plan(leg, _event("CallConnected"), NOW)

    actions = drive_plan(leg, _event("RecognizeCompleted", "plan:ask", None, **_tones("zero")), NOW)

    assert actions == [Invite("8:acs:desk")]
    assert leg.outcome == "escalated"
    assert drive_plan(leg, _event("PlayCompleted", "plan:goodbye"), NOW) == []


def test_a_plan_without_a_question_plays_then_hangs_up():
    leg = _leg(parse_plan({"prompt": {"text": "The power is back."}}))

    assert drive_plan(leg, _event("CallConnected"), NOW) == [Play(Prompt(text="The power is back."), "plan:prompt")]
    assert drive_plan(leg, _event("PlayCompleted", "plan:prompt"), NOW) == [HangUp()]
    assert leg.outcome == "answered"


def test_callee_hanging_up_mid_prompt_is_answered_without_input():
    leg = _leg()
    drive_plan(leg, _event("CallConnected"), NOW)

    drive_plan(leg, _event("CallDisconnected", result={"code": 200, "subCode": 5010}), NOW)

    assert leg.outcome == "answered-without-input"


def test_a_late_event_after_the_end_starts_no_plan_step():
    leg = _leg()
    drive_plan(leg, _event("CallDisconnected", result={"code": 200, "subCode": 5010}), NOW)

    assert drive_plan(leg, _event("CallConnected"), NOW) == []
    assert leg.flow_step is None
    assert leg.state is LegState.TERMINATED
    assert leg.outcome == "answered-without-input"  # but it does tell that the callee answered


def test_a_late_connection_to_a_call_the_app_gave_up_on_is_hung_up():
    leg = _leg(plan=None)
    leg.end_reason, leg.ended_at, leg.state = {"event": "RepeatabilityWindowPassed"}, NOW, LegState.TERMINATED

    assert drive_plan(leg, _event("CallConnected"), NOW) == [HangUp()]


@pytest.mark.parametrize(
    ("code", "sub_code", "outcome"),
    [
        (486, 8539, "busy"),
        (603, 8538, "declined"),  # the callee rejected the ringing call
        (603, 0, "declined"),
        (480, 560480, "no-answer"),
        (408, 0, "no-answer"),
        (480, 10078, "unreachable"),
        (404, 0, "unreachable"),
        (403, 8530, "throttled"),
        (429, 8516, "throttled"),
        (500, 9999, "failed"),
    ],
)
def test_failed_calls_map_to_outcomes(code, sub_code, outcome):
    assert outcome_of_failed_call(ResultInformation(code, sub_code, "")) == outcome


def test_an_unanswered_call_without_result_failed():
    assert outcome_of_failed_call(None) == "failed"


@pytest.mark.parametrize(
    "action",
    [
        Play(Prompt(text="hi"), "plan:prompt"),
        AskForKey(Prompt(audio_file_uri="https://x/a.wav"), 3),
        Invite("8:acs:x"),
        HangUp(),
    ],
)
def test_plan_steps_survive_being_written_down(action):
    assert action_from_json(action_to_json(action)) == action
