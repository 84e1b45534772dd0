"""Plans that run a poll (collect.choices) or leave a voicemail: what they accept, refuse and store."""

from zoneinfo import ZoneInfo

import pytest

from shared.calls.plan_templates import Listener, personal_plan
from shared.calls.plans import Prompt, parse_plan
from shared.fields import ValidationError

POLL = {
    "prompt": {"text": "Press 1 if the power is on, 2 if not."},
    "collect": {"choices": {"2": "No power", "1": "Power on"}},
    "escalation": {"key": "0", "participant": "+14255550100"},
    "voicemail": {"text": "Hello {{name}}, this is City Power."},
    "languages": {"es-US": {"prompt": {"text": "Pulse 1 o 2."}, "voicemail": {"text": "Hola {{name}}."}}},
}


def test_a_poll_keeps_its_choices_in_key_order_and_offers_no_confirm_or_decline_key():
    plan = parse_plan(POLL)

    assert plan.collect.choices == {"1": "Power on", "2": "No power"}
    assert list(plan.collect.choices) == ["1", "2"]
    assert (plan.collect.confirm_key, plan.collect.decline_key) == (None, None)
    assert plan.collect.offered_keys == ["1", "2"]
    stored = plan.to_dict()
    assert stored["collect"] == {"timeoutSeconds": 5, "maxPrompts": 3, "choices": {"1": "Power on", "2": "No power"}}
    assert parse_plan(stored) == plan  # what a leg stores reads back the same


def test_a_plan_without_choices_still_defaults_its_keys():
    plan = parse_plan({"prompt": {"text": "x"}, "collect": {}})
    assert (plan.collect.confirm_key, plan.collect.decline_key, plan.collect.choices) == ("1", "2", None)
    assert plan.collect.offered_keys == ["1", "2"]


@pytest.mark.parametrize(
    ("collect", "field"),
    [
        ({"choices": {"1": "a"}, "confirmKey": "1"}, "plan.collect.confirmKey"),
        ({"choices": {"1": "a"}, "declineKey": "3"}, "plan.collect.declineKey"),
        ({"choices": {}}, "plan.collect.choices"),
        ({"choices": ["Power on"]}, "plan.collect.choices"),
        ({"choices": {"0": "a"}}, "plan.collect.choices.0"),
        ({"choices": {"*": "a"}}, "plan.collect.choices.*"),
        ({"choices": {"12": "a"}}, "plan.collect.choices.12"),
        ({"choices": {"1": ""}}, "plan.collect.choices.1"),
        ({"choices": {"1": "   "}}, "plan.collect.choices.1"),
        ({"choices": {"1": "x" * 101}}, "plan.collect.choices.1"),
        ({"choices": {"1": 7}}, "plan.collect.choices.1"),
    ],
)
def test_bad_choices_name_their_field(collect, field):
    with pytest.raises(ValidationError) as error:
        parse_plan({"prompt": {"text": "x"}, "collect": collect})
    assert error.value.field == field


def test_nine_choices_at_most_and_a_label_of_100_characters_is_fine():
    plan = parse_plan({"prompt": {"text": "x"}, "collect": {"choices": {str(k): "y" * 100 for k in range(1, 10)}}})
    assert len(plan.collect.choices) == 9


def test_the_escalation_key_may_not_be_a_choice():
    with pytest.raises(ValidationError) as error:
        parse_plan({**POLL, "escalation": {"key": "2", "participant": "+14255550100"}})
    assert error.value.field == "plan.escalation.key" and "choice" in error.value.message


@pytest.mark.parametrize(
    ("plan", "field"),
    [
        ({"prompt": {"text": "x"}, "voicemail": {"text": "v"}}, "plan.voicemail"),  # needs collect
        ({"prompt": {"text": "x"}, "collect": {}, "voicemail": {}}, "plan.voicemail"),
        ({"prompt": {"text": "x"}, "collect": {}, "voicemail": {"text": ""}}, "plan.voicemail.text"),
        ({"prompt": {"text": "x"}, "collect": {}, "voicemail": {"text": "v"},
          "languages": {"es-US": {"prompt": {"text": "y"}}}}, "plan.languages.es-US.voicemail"),
        ({"prompt": {"text": "x"}, "collect": {},
          "languages": {"es-US": {"prompt": {"text": "y"}, "voicemail": {"text": "v"}}}},
         "plan.languages.es-US.voicemail"),
    ],
)
def test_bad_voicemails_name_their_field(plan, field):
    with pytest.raises(ValidationError) as error:
        parse_plan(plan)
    assert error.value.field == field


def test_the_voicemail_is_filled_in_and_spoken_in_the_recipients_language():
    plan = parse_plan(POLL)
    zone = ZoneInfo("America/Chicago")

    english = personal_plan(plan, Listener({"name": "John"}, None, zone))
    spanish = personal_plan(plan, Listener({"name": "Ana"}, "es-US", zone))

    assert english.voicemail == Prompt(text="Hello John, this is City Power.", voice="en-US-JennyNeural",
                                       language="en-US")
    assert spanish.voicemail == Prompt(text="Hola Ana.", voice="es-US-PalomaNeural", language="es-US")
    assert spanish.collect.choices == {"1": "Power on", "2": "No power"}
