"""Personal plans: placeholders filled from a recipient's data, dates said in its language and zone, languages."""

from zoneinfo import ZoneInfo

import pytest

from shared.calls.flow import ASK, AskForKey, apply_event
from shared.calls.legs import CallLeg, LegState
from shared.calls.plan_templates import (
    Listener,
    TemplateError,
    UnknownLanguageError,
    check_templates,
    fields_used,
    fill,
    personal_plan,
)
from shared.calls.plans import VOICES, CallPlan, Prompt, language_field, parse_plan
from shared.fields import ValidationError
from tests.unit.test_call_flow import _event

CHICAGO = ZoneInfo("America/Chicago")
PLAN = parse_plan(
    {
        "prompt": {"text": "Hello {{name}}, your visit is on {{at|date}} at {{at|time}}, {{place}}."},
        "collect": {},
        "goodbye": {"text": "Bye {{name}}."},
        "languages": {
            "es-us": {"prompt": {"text": "Hola {{name}}, su cita es el {{at|datetime}}"},
                      "goodbye": {"text": "Adiós {{ name }}."}},
            "fr-FR": {"prompt": {"text": "Bonjour {{name}}."}, "goodbye": {"text": "Au revoir."},
                      "voice": "fr-FR-HenriNeural"},
        },
    }
)
ANA = {"name": "Ana", "at": "2026-12-04T15:30:00Z", "place": "Main Street"}


def _listener(data=ANA, language=None, zone=CHICAGO) -> Listener:
    return Listener(data, language, zone)


def test_values_fill_the_placeholders_and_times_are_said_in_the_recipients_zone_and_language():
    plan = personal_plan(PLAN, _listener())

    # 15:30 UTC is 9:30 in Chicago; Babel says it (U+202F before AM in recent CLDR data).
    assert plan.prompt.text.replace("\u202f", " ") == (
        "Hello Ana, your visit is on Friday, December 4, 2026 at 9:30 AM, Main Street."
    )
    assert plan.goodbye.text == "Bye Ana."
    spanish = personal_plan(PLAN, _listener(language="es-US"))
    assert spanish.prompt.text.replace("\u202f", " ").replace("\xa0", " ") == (
        "Hola Ana, su cita es el viernes, 4 de diciembre de 2026, 9:30 a.m."
    )
    assert spanish.goodbye.text == "Adiós Ana."


def test_a_time_without_an_offset_is_local_to_the_recipient_and_a_bare_date_is_a_date():
    data = {"name": "Jo", "at": "2026-12-04T09:30", "place": "x"}
    for zone in (CHICAGO, ZoneInfo("Asia/Tokyo")):
        text = fill("{{at|time}} {{at|date}}", _listener(data, zone=zone), "de-DE")
        assert text == "09:30 Freitag, 4. Dezember 2026"
    next_day = _listener({"at": "2026-07-01T23:30:00+00:00"}, zone=ZoneInfo("Asia/Tokyo"))
    assert fill("{{at|date}}", next_day, "en-US") == "Thursday, July 2, 2026"
    assert fill("{{d|date}}", _listener({"d": "2026-12-04"}), "fr-FR") == "vendredi 4 décembre 2026"
    assert fill("{{at|time}}", _listener({"at": "2026-12-04T15:30:00Z"}), "fr-FR") == "09:30"


def test_a_missing_field_or_a_date_that_is_not_one_names_the_field_and_the_text():
    with pytest.raises(TemplateError) as missing:
        personal_plan(PLAN, _listener({"name": "Ana", "place": "x"}))
    assert (missing.value.field, missing.value.text) == ("at", "prompt.text")
    with pytest.raises(TemplateError) as spanish:
        personal_plan(PLAN, _listener({"at": "2026-12-04T09:30"}, language="es-US"))
    assert (spanish.value.field, spanish.value.text) == ("name", "languages.es-US.prompt.text")
    for bad in ("tomorrow", "2026-13-01T09:00", "2027-01-01"):  # a bare date has no time to say
        with pytest.raises(TemplateError) as wrong:
            fill("{{at|time}}", _listener({"at": bad}), "en-US")
        assert wrong.value.field == "at" and bad not in wrong.value.message  # never the value itself


def test_a_value_is_never_read_as_a_template_and_a_long_result_is_refused():
    assert fill("Hi {{name}}", _listener({"name": "{{secret}}"}), "en-US") == "Hi {{secret}}"
    with pytest.raises(TemplateError, match="longer than 2000"):
        fill("{{name}}{{name}}{{name}}{{name}}{{name}}", _listener({"name": "x" * 450}), "en-US")


def test_the_recipients_language_picks_the_texts_voice_and_locale():
    spanish = personal_plan(PLAN, _listener(language="es-US"))
    french = personal_plan(PLAN, _listener(language="fr-FR"))
    english = personal_plan(parse_plan({**PLAN.to_dict(), "language": "en-US"}), _listener())

    assert spanish.prompt.play_source() == {
        "kind": "text",
        "text": {"text": spanish.prompt.text, "voiceName": "es-US-PalomaNeural", "sourceLocale": "es-US"},
    }
    assert (french.prompt.voice, french.goodbye.voice, french.goodbye.language) == (
        "fr-FR-HenriNeural", "fr-FR-HenriNeural", "fr-FR",
    )
    assert (english.prompt.voice, english.prompt.language) == ("en-US-JennyNeural", "en-US")
    assert spanish.languages is None and spanish.language == "es-US"
    with pytest.raises(UnknownLanguageError, match="de-DE"):
        personal_plan(PLAN, _listener(language="de-DE"))


def test_a_plan_that_names_no_language_keeps_acs_default_voice():
    plain = parse_plan({"prompt": {"text": "Hi {{name}}", "voice": "en-US-GuyNeural"}})

    plan = personal_plan(plain, _listener())

    assert plan.prompt == Prompt(text="Hi Ana", voice="en-US-GuyNeural")
    assert plan.language is None


def test_the_filled_in_plan_is_what_a_leg_stores_and_reads_back():
    plan = personal_plan(PLAN, _listener(language="es-US"))

    assert CallPlan.from_dict(plan.to_dict()) == plan
    assert CallPlan.from_dict(PLAN.to_dict()) == PLAN


def test_what_the_plan_says_is_kept_on_the_legs_timeline():
    plan = personal_plan(PLAN, _listener(language="es-US"))
    leg = CallLeg("leg-1", ["4:+14255550123"], plan=plan.to_dict(), acs_call_connection_id="acs-1")

    effects = apply_event(leg, _event("CallConnected"), "2026-12-01T10:00:00+00:00")

    assert leg.state is LegState.ESTABLISHED and effects.actions == [AskForKey(plan.prompt, 5)]
    spoken = [e for e in effects.changes.timeline if e.kind == "planPrompt"]
    assert [e.details for e in spoken] == [
        {"operationContext": ASK, "text": plan.prompt.text, "voice": "es-US-PalomaNeural", "language": "es-US"}
    ]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("Hello {{name", "not a placeholder"),
        ("Hello {{first name}}", "not a placeholder"),
        ("Hello name}}", "not a placeholder"),
        ("On {{at|weekday}}", "unknown format"),
    ],
)
def test_a_malformed_placeholder_is_refused_naming_its_text(text, problem):
    plan = parse_plan({"prompt": {"text": "ok"}, "languages": {"es-US": {"prompt": {"text": text}}}})

    with pytest.raises(ValidationError, match=problem) as error:
        check_templates(plan)

    assert error.value.field == "plan.languages.es-US.prompt.text"


def test_fields_used_lists_every_language():
    assert fields_used(PLAN) == {"name", "at", "place"}


@pytest.mark.parametrize(
    ("plan", "field"),
    [
        ({"prompt": {"text": "x"}, "language": "xx-YY"}, "plan.language"),
        ({"prompt": {"text": "x"}, "languages": {"en-US": {"prompt": {"text": "y"}}}}, "plan.languages.en-US"),
        ({"prompt": {"text": "x"}, "languages": {"es-US": {}}}, "plan.languages.es-US.prompt"),
        ({"prompt": {"text": "x"}, "goodbye": {"text": "b"}, "languages": {"es-US": {"prompt": {"text": "y"}}}},
         "plan.languages.es-US.goodbye"),
        ({"prompt": {"text": "x"}, "languages": {"es-US": {"prompt": {"text": "y"}, "voice": ""}}},
         "plan.languages.es-US.voice"),
        ({"prompt": {"text": "x"}, "languages": ["es-US"]}, "plan.languages"),
    ],
)
def test_bad_languages_name_their_field(plan, field):
    with pytest.raises(ValidationError) as error:
        parse_plan(plan)
    assert error.value.field == field


def test_every_language_has_a_voice_of_its_own_and_babel_knows_it():
    from babel import Locale

    for language, voice in VOICES.items():
        assert voice.startswith(language + "-") and voice.endswith("Neural")
        assert Locale.parse(language, sep="-").language == language.split("-")[0]
        assert language_field(language.lower(), "x") == language


def test_a_single_call_plan_speaks_its_language_and_may_not_use_placeholders():
    from shared.calls.requests import parse_create_call

    body = {"targets": ["8:acs:a"], "plan": {"prompt": {"text": "Bonjour."}, "language": "fr-FR"}}
    plan = parse_create_call(body).plan
    assert (plan.prompt.voice, plan.prompt.language) == ("fr-FR-DeniseNeural", "fr-FR")

    with pytest.raises(ValidationError) as error:
        parse_create_call({"targets": ["8:acs:a"], "plan": {"prompt": {"text": "Hi {{name}}."}}})
    assert error.value.field == "plan.prompt.text" and "campaign" in error.value.message
