"""Personal plans: a plan's texts in one recipient's language, with its placeholders filled from its data.

Placeholders, in `prompt.text`, `goodbye.text`, `voicemail.text` and `optOut.confirmation.text` (and the same
texts under `languages`):
- `{{name}}`: the recipient's `name` as given;
- `{{appointmentAt|date}}`, `{{appointmentAt|time}}`, `{{appointmentAt|datetime}}`: an ISO 8601 value said the
  way the recipient's language says it (Babel, from CLDR: no month or day names written here), in the recipient's
  time zone. A value with an offset (`2026-12-04T14:30:00Z`) is converted to that zone; one without
  (`2026-12-04T09:30`) is a local time there; `|date` also takes a bare date (`2026-12-04`).

Hand-written on purpose rather than Jinja2: a plan is API input, and a template language would let its author run
loops, filters and attribute lookups inside the app. One regex, one pass: a value is never read as a template.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime, tzinfo

from babel import Locale
from babel.dates import format_date, format_time, get_datetime_format

from shared.calls.plans import DEFAULT_LANGUAGE, MAX_PROMPT_TEXT, VOICES, CallPlan, Prompt
from shared.fields import ValidationError

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z][A-Za-z0-9_]*)\s*(?:\|\s*([A-Za-z]+)\s*)?\}\}")
FORMATS = ("date", "time", "datetime")


class TemplateError(ValueError):
    """A plan cannot be filled in for a recipient. `field` is the data field at fault (None: the text as a whole);
    `text` where the plan uses it (`prompt.text`, `languages.es-US.goodbye.text`)."""

    def __init__(self, field: str | None, text: str, message: str) -> None:
        super().__init__(message)
        self.field, self.text, self.message = field, text, message


class UnknownLanguageError(ValueError):
    def __init__(self, language: str, plan: CallPlan) -> None:
        super().__init__(f"is {language}, which the plan has no texts for (it has {', '.join(plan.spoken_languages)}).")


@dataclass(frozen=True)
class Listener:
    """Who a plan is filled in for: its data, its language (None: as the plan says) and its time zone."""

    data: Mapping[str, str]
    language: str | None
    zone: tzinfo


def check_templates(plan: CallPlan, where: str = "plan") -> None:
    """Every `{{` in the plan's texts starts a placeholder this module knows; ValidationError names the text."""
    for text_where, prompt in texts_of(plan):
        text = prompt.text or ""
        for match in PLACEHOLDER.finditer(text):
            if match.group(2) is not None and match.group(2) not in FORMATS:
                raise ValidationError(f"{where}.{text_where}", f"uses an unknown format `|{match.group(2)}`; "
                                      f"the formats are {', '.join(FORMATS)}.")
        if "{{" in PLACEHOLDER.sub("", text) or "}}" in PLACEHOLDER.sub("", text):
            raise ValidationError(f"{where}.{text_where}", "has a `{{` or `}}` that is not a placeholder such as "
                                  "{{name}} or {{appointmentAt|date}}.")


def fields_used(plan: CallPlan) -> set[str]:
    """The data fields any of the plan's texts use."""
    return {m.group(1) for _, prompt in texts_of(plan) for m in PLACEHOLDER.finditer(prompt.text or "")}


def texts_of(plan: CallPlan) -> Iterator[tuple[str, Prompt]]:
    """(where, prompt) for each prompt of the plan, in every language."""
    yield "prompt.text", plan.prompt
    if plan.goodbye:
        yield "goodbye.text", plan.goodbye
    if plan.voicemail:
        yield "voicemail.text", plan.voicemail
    if plan.opt_out:
        yield "optOut.confirmation.text", plan.opt_out.confirmation
    for language, texts in (plan.languages or {}).items():
        yield f"languages.{language}.prompt.text", texts.prompt
        if texts.goodbye:
            yield f"languages.{language}.goodbye.text", texts.goodbye
        if texts.voicemail:
            yield f"languages.{language}.voicemail.text", texts.voicemail
        if texts.opt_out_confirmation:
            yield f"languages.{language}.optOutConfirmation.text", texts.opt_out_confirmation


def personal_plan(plan: CallPlan, listener: Listener) -> CallPlan:
    """The plan in the listener's language, its texts filled in, with the voice and locale they are spoken in; no
    other languages. A plan, listener and campaign that name no language give the plan's texts with ACS's default
    voice, as before languages existed. TemplateError or UnknownLanguageError when it cannot be done."""
    spoken = listener.language or plan.language or (DEFAULT_LANGUAGE if plan.languages else None)
    language = spoken or DEFAULT_LANGUAGE
    prefix = ""
    opt_out = plan.opt_out
    confirmation, confirmation_where = (opt_out.confirmation if opt_out else None), "optOut.confirmation.text"
    if language == plan.base_language:
        prompt, goodbye, voicemail, voice = plan.prompt, plan.goodbye, plan.voicemail, None
    elif plan.languages and language in plan.languages:
        texts = plan.languages[language]
        prompt, goodbye, voicemail, voice = texts.prompt, texts.goodbye, texts.voicemail, texts.voice
        prefix = f"languages.{language}."
        confirmation, confirmation_where = texts.opt_out_confirmation, f"{prefix}optOutConfirmation.text"
    else:
        raise UnknownLanguageError(language, plan)

    def say(item: Prompt | None, where: str) -> Prompt | None:
        if item is None:
            return None
        text = fill(item.text, listener, language, where) if item.text is not None else None
        if spoken is None:
            return replace(item, text=text)
        return replace(item, text=text, voice=item.voice or voice or VOICES[spoken], language=item.language or spoken)

    return replace(
        plan,
        prompt=say(prompt, f"{prefix}prompt.text"),
        goodbye=say(goodbye, f"{prefix}goodbye.text"),
        voicemail=say(voicemail, f"{prefix}voicemail.text"),
        language=spoken,
        languages=None,
        opt_out=replace(opt_out, confirmation=say(confirmation, confirmation_where)) if opt_out else None,
    )


def fill(text: str, listener: Listener, language: str, where: str = "prompt.text") -> str:
    """The text with each placeholder replaced by the listener's value (dates and times in its language)."""

    def value(match: re.Match[str]) -> str:
        name, form = match.group(1), match.group(2)
        if name not in listener.data:
            raise TemplateError(name, where, f"is missing: the plan's {where} uses {{{{{name}}}}}.")
        if form is None:
            return listener.data[name]
        return _say_when(listener.data[name], form, _locale(language), listener.zone, name, where)

    filled = PLACEHOLDER.sub(value, text)
    if len(filled) > MAX_PROMPT_TEXT:
        raise TemplateError(None, where, f"makes the plan's {where} longer than {MAX_PROMPT_TEXT} characters.")
    return filled


def _say_when(text: str, form: str, locale: Locale, zone: tzinfo, name: str, where: str) -> str:
    wrong = TemplateError(name, where, f"must be an ISO 8601 {'date or ' if form == 'date' else ''}date and time "
                                       f"(e.g. 2026-12-04T09:30:00-05:00): the plan's {where} says it as a {form}.")
    try:
        if form == "date" and len(text) == 10:
            return format_date(date.fromisoformat(text), "full", locale=locale)
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise wrong from None
    if len(text) <= 10:
        raise wrong  # a bare date has no time to say
    local = moment.astimezone(zone) if moment.tzinfo else moment.replace(tzinfo=zone)
    day = format_date(local, "full", locale=locale)
    clock = format_time(local, "short", tzinfo=zone, locale=locale)
    if form == "date":
        return day
    if form == "time":
        return clock
    # How the locale joins a date and a time, as Babel's own format_datetime does for its standard formats.
    return get_datetime_format("long", locale=locale).replace("'", "").replace("{0}", clock).replace("{1}", day)


@functools.lru_cache(maxsize=64)
def _locale(language: str) -> Locale:
    return Locale.parse(language, sep="-")
