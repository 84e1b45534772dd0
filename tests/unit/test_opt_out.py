"""The opt-out key of a plan: how it is read, filled in for a recipient, and what pressing it does."""

import json
from zoneinfo import ZoneInfo

import pytest

from shared.calls.acs_events import parse_callback_body
from shared.calls.flow import OPTED_OUT, AskForKey, HangUp, Play, apply_event
from shared.calls.legs import CallLeg
from shared.calls.plan_templates import Listener, TemplateError, check_templates, personal_plan
from shared.calls.plans import DEFAULT_OPT_OUT_CONFIRMATION, Prompt, parse_plan
from shared.fields import ValidationError

NOW = "2026-01-01T00:00:00+00:00"
PLAN = parse_plan({
    "prompt": {"text": "Press 1 or 2, or 9 to never be called again."},
    "collect": {"timeoutSeconds": 3, "maxPrompts": 2},
    "goodbye": {"text": "Bye"},
    "optOut": {"key": "9", "confirmation": {"text": "You will not be called again."}},
})


def _event(name, context=None, result=None, time=NOW, **data):
    body = {"id": f"{name}-{context}-{time}", "type": f"Microsoft.Communication.{name}", "time": time,
            "data": {"callConnectionId": "c", **({"operationContext": context} if context else {}),
                     **({"resultInformation": result} if result else {}), **data}}
    return parse_callback_body(json.dumps([body]).encode())[0]


def _press(tone, time=NOW):
    return _event("RecognizeCompleted", "plan:ask", {"code": 200, "subCode": 8531}, time=time,
                  dtmfResult={"tones": [tone]})


def _leg(plan=PLAN) -> CallLeg:
    return CallLeg(call_leg_id="leg", targets=["4:+15005550006"], plan=plan.to_dict())


def test_the_opt_out_key_plays_the_confirmation_then_hangs_up():
    leg = _leg()
    assert apply_event(leg, _event("CallConnected"), NOW).actions == [AskForKey(PLAN.prompt, 3)]

    actions = apply_event(leg, _press("nine"), NOW).actions

    assert leg.outcome == OPTED_OUT == "opted-out" and leg.digits == "9"
    assert actions == [Play(Prompt(text="You will not be called again."), "plan:opt-out")]
    assert apply_event(leg, _event("PlayCompleted", "plan:opt-out"), NOW).actions == [HangUp()]
    apply_event(leg, _event("CallDisconnected", result={"code": 200, "subCode": 7000}), NOW)
    assert leg.outcome == "opted-out"


def test_the_confirmation_is_on_the_timeline_as_said():
    leg = _leg()
    apply_event(leg, _event("CallConnected"), NOW)
    effects = apply_event(leg, _press("nine"), NOW)
    said = [entry.details for entry in effects.changes.timeline if entry.kind == "planPrompt"]
    assert said == [{"operationContext": "plan:opt-out", "text": "You will not be called again."}]


def test_a_callee_hanging_up_during_the_confirmation_stays_opted_out():
    leg = _leg()
    apply_event(leg, _event("CallConnected"), NOW)
    apply_event(leg, _press("nine"), NOW)
    apply_event(leg, _event("CallDisconnected", result={"code": 200, "subCode": 7000}), NOW)
    assert leg.outcome == "opted-out"
    assert apply_event(leg, _event("PlayFailed", "plan:opt-out"), NOW).actions == []


def test_opting_out_in_any_event_order_gives_the_same_outcome():
    events = [_event("CallConnected"), _press("nine"), _event("CallDisconnected", result={"code": 200})]
    for order in (events, events[::-1], [events[1], events[0], events[2]]):
        leg = _leg()
        for event in order:
            apply_event(leg, event, NOW)
        assert leg.outcome == "opted-out", order


def test_an_earlier_confirm_wins_over_a_later_opt_out_by_acs_time():
    leg = _leg()
    apply_event(leg, _event("CallConnected"), NOW)
    apply_event(leg, _press("nine", "2026-01-01T00:00:09+00:00"), NOW)
    apply_event(leg, _press("one", "2026-01-01T00:00:05+00:00"), NOW)
    assert leg.outcome == "confirmed"


def test_the_confirmation_defaults_for_a_plan_in_english():
    plan = parse_plan({"prompt": {"text": "Hi"}, "collect": {}, "optOut": {}})
    assert plan.opt_out.key == "9"
    assert plan.opt_out.confirmation == Prompt(text=DEFAULT_OPT_OUT_CONFIRMATION)
    assert parse_plan(plan.to_dict()) == plan


@pytest.mark.parametrize(("plan", "where"), [
    ({"prompt": {"text": "Hi"}, "optOut": {"key": "9"}}, "plan.optOut"),
    ({"prompt": {"text": "Hi"}, "collect": {}, "optOut": {"key": "1"}}, "plan.optOut.key"),
    ({"prompt": {"text": "Hi"}, "collect": {"declineKey": "9"}, "optOut": {"key": "9"}}, "plan.optOut.key"),
    ({"prompt": {"text": "Hi"}, "collect": {}, "escalation": {"key": "9", "participant": "+15005550001"},
      "optOut": {"key": "9"}}, "plan.optOut.key"),
    ({"prompt": {"text": "Hi"}, "collect": {}, "optOut": {"key": "99"}}, "plan.optOut.key"),
    ({"prompt": {"text": "Hi"}, "collect": {}, "optOut": {"key": "9", "when": 1}}, "plan.optOut.when"),
    ({"prompt": {"text": "Hi"}, "collect": {}, "optOut": "9"}, "plan.optOut"),
    ({"prompt": {"text": "Hi"}, "collect": {}, "optOut": {"confirmation": {}}}, "plan.optOut.confirmation"),
    ({"prompt": {"text": "Hola"}, "collect": {}, "language": "es-US", "optOut": {}}, "plan.optOut.confirmation"),
    ({"prompt": {"text": "Hi"}, "collect": {}, "optOut": {"confirmation": {"text": "Bye"}},
      "languages": {"es-US": {"prompt": {"text": "Hola"}}}}, "plan.languages.es-US.optOutConfirmation"),
    ({"prompt": {"text": "Hi"}, "collect": {},
      "languages": {"es-US": {"prompt": {"text": "Hola"}, "optOutConfirmation": {"text": "Adiós"}}}},
     "plan.languages.es-US.optOutConfirmation"),
])
def test_a_wrong_opt_out_is_refused_naming_its_field(plan, where):
    with pytest.raises(ValidationError) as error:
        parse_plan(plan)
    assert error.value.field == where


def test_templates_fill_the_confirmation_in_the_recipients_language():
    plan = parse_plan({
        "prompt": {"text": "Hello {{name}}"}, "collect": {},
        "optOut": {"confirmation": {"text": "{{name}}, you will not be called again."}},
        "languages": {"es-US": {"prompt": {"text": "Hola {{name}}"},
                                "optOutConfirmation": {"text": "{{name}}, no le volveremos a llamar."}}},
    })
    check_templates(plan)
    spanish = personal_plan(plan, Listener({"name": "Ana"}, "es-US", ZoneInfo("UTC")))
    assert spanish.opt_out.confirmation.text == "Ana, no le volveremos a llamar."
    assert spanish.opt_out.confirmation.voice == "es-US-PalomaNeural"
    english = personal_plan(plan, Listener({"name": "John"}, None, ZoneInfo("UTC")))
    assert english.opt_out.confirmation.text == "John, you will not be called again."
    assert parse_plan(spanish.to_dict()) == spanish
    with pytest.raises(TemplateError) as error:
        personal_plan(plan, Listener({}, "es-US", ZoneInfo("UTC")))
    assert error.value.text == "languages.es-US.prompt.text"


def test_a_malformed_placeholder_in_the_confirmation_is_refused():
    plan = parse_plan({"prompt": {"text": "Hi"}, "collect": {}, "optOut": {"confirmation": {"text": "Bye {{name"}}})
    with pytest.raises(ValidationError) as error:
        check_templates(plan)
    assert error.value.field == "plan.optOut.confirmation.text"
