"""The plan engine: which step follows each event, and which outcome a call ends with."""

import json
from dataclasses import replace

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


POLL = parse_plan(
    {
        "prompt": {"text": "Press 1 if the power is on, 2 if not, 3 if it flickers."},
        "collect": {"choices": {"2": "No power", "1": "Power on", "3": "Flickers"}, "timeoutSeconds": 3,
                    "maxPrompts": 2},
        "escalation": {"key": "0", "participant": "8:acs:desk"},
        "goodbye": {"text": "Thank you."},
        "voicemail": {"text": "This is City Power checking on your supply. Please call 555 0100."},
    }
)
SILENCE = {"code": 400, "subCode": 8510, "message": "silence"}


@pytest.mark.parametrize(("tone", "key", "label"), [("one", "1", "Power on"), ("three", "3", "Flickers")])
def test_a_poll_choice_is_the_outcome_then_goodbye_then_hang_up(tone, key, label):
    leg = _leg(POLL)
    drive_plan(leg, _event("CallConnected"), NOW)

    actions = drive_plan(leg, _event("RecognizeCompleted", "plan:ask", None, **_tones(tone)), NOW)

    assert (leg.outcome, leg.choice, leg.digits) == ("chosen", {"key": key, "label": label}, key)
    assert actions == [Play(POLL.goodbye, "plan:goodbye")]
    assert drive_plan(leg, _event("PlayCompleted", "plan:goodbye"), NOW) == [HangUp()]
    drive_plan(leg, _event("CallDisconnected", result={"code": 200, "subCode": 7000}), NOW)
    assert (leg.outcome, leg.choice, leg.voicemail_left) == ("chosen", {"key": key, "label": label}, False)


def test_a_poll_asks_again_after_a_key_it_does_not_offer_and_the_first_choice_counts():
    leg = _leg(POLL)
    drive_plan(leg, _event("CallConnected"), NOW)

    again = drive_plan(leg, _event("RecognizeCompleted", "plan:ask", None, **_tones("seven")), NOW)
    assert again == [AskForKey(POLL.prompt, 3)] and leg.choice is None
    later = replace(_event("RecognizeCompleted", "plan:ask", None, **_tones("one")),
                    id="later", time="2026-01-01T00:00:09+00:00")
    earlier = replace(_event("RecognizeCompleted", "plan:ask", None, **_tones("two")),
                      id="earlier", time="2026-01-01T00:00:05+00:00")
    drive_plan(leg, later, NOW)
    drive_plan(leg, earlier, NOW)  # arrives last, happened first: it decides

    assert leg.choice == {"key": "2", "label": "No power"} and leg.outcome == "chosen"


def test_confirm_and_decline_keys_mean_nothing_in_a_poll_without_them():
    plan = parse_plan({"prompt": {"text": "Press 4 or 5."}, "collect": {"choices": {"4": "Yes", "5": "No"}}})
    leg = _leg(plan)
    drive_plan(leg, _event("CallConnected"), NOW)

    drive_plan(leg, _event("RecognizeCompleted", "plan:ask", None, **_tones("one")), NOW)
    drive_plan(leg, _event("CallDisconnected", result={"code": 200, "subCode": 7000}), NOW)

    assert (leg.outcome, leg.choice) == ("answered-without-input", None)


def _silent_to_the_end(leg):
    drive_plan(leg, _event("CallConnected"), NOW)
    assert drive_plan(leg, _event("RecognizeFailed", "plan:ask", SILENCE), NOW) == [AskForKey(POLL.prompt, 3)]
    return drive_plan(leg, _event("RecognizeFailed", "plan:ask", SILENCE), NOW)


def test_after_silence_the_voicemail_is_played_in_full_then_the_call_hangs_up():
    leg = _leg(POLL)

    assert _silent_to_the_end(leg) == [Play(POLL.voicemail, "plan:voicemail")]
    assert leg.voicemail_left is False  # not until it played to its end
    assert drive_plan(leg, _event("PlayCompleted", "plan:voicemail"), NOW) == [HangUp()]
    drive_plan(leg, _event("CallDisconnected", result={"code": 200, "subCode": 7000}), NOW)

    assert (leg.outcome, leg.voicemail_left, leg.choice) == ("answered-without-input", True, None)


def test_a_voicemail_that_failed_to_play_is_not_left_and_the_call_still_hangs_up():
    leg = _leg(POLL)
    _silent_to_the_end(leg)

    failed = {"code": 400, "subCode": 8535, "message": "Action failed, file format is invalid."}
    assert drive_plan(leg, _event("PlayFailed", "plan:voicemail", failed), NOW) == [HangUp()]
    drive_plan(leg, _event("CallDisconnected", result={"code": 200, "subCode": 7000}), NOW)

    assert (leg.outcome, leg.voicemail_left) == ("answered-without-input", False)


def test_a_voicemail_play_reported_after_the_hang_up_still_counts():
    leg = _leg(POLL)
    _silent_to_the_end(leg)

    drive_plan(leg, _event("CallDisconnected", result={"code": 200, "subCode": 7000}), NOW)
    assert drive_plan(leg, _event("PlayCompleted", "plan:voicemail"), NOW) == []

    assert (leg.outcome, leg.voicemail_left) == ("answered-without-input", True)


def test_someone_pressing_only_keys_the_poll_does_not_offer_gets_no_voicemail():
    leg = _leg(POLL)
    drive_plan(leg, _event("CallConnected"), NOW)
    drive_plan(leg, _event("RecognizeFailed", "plan:ask", SILENCE), NOW)

    last = drive_plan(leg, _event("RecognizeCompleted", "plan:ask", None, **_tones("seven")), NOW)

    assert last == [HangUp()] and leg.voicemail_left is False


def test_a_key_pressed_means_no_voicemail():
    leg = _leg(POLL)
    drive_plan(leg, _event("CallConnected"), NOW)

    actions = drive_plan(leg, _event("RecognizeCompleted", "plan:ask", None, **_tones("two")), NOW)

    assert actions == [Play(POLL.goodbye, "plan:goodbye")] and leg.voicemail_left is False


@pytest.mark.parametrize("failure", ["CreateCallFailed", "CallDisconnected"])
def test_a_callee_rejecting_the_ringing_call_has_declined(failure):
    leg = _leg()

    drive_plan(leg, _event(failure, result={"code": 603, "subCode": 8538, "message": "Call declined"}), NOW)

    assert leg.answered_at is None and leg.outcome == "declined"
