"""Call plans: what a call does by itself once answered. Prompt, optionally ask for a key, then hang up.

```json
{"prompt": {"text": "Press 1 to confirm, 2 to cancel."},
 "collect": {"confirmKey": "1", "declineKey": "2", "timeoutSeconds": 5, "maxPrompts": 3},
 "escalation": {"key": "0", "participant": "+14255550100"},
 "goodbye": {"text": "Thank you. Goodbye."},
 "optOut": {"key": "9", "confirmation": {"text": "You will not be called again. Goodbye."}},
 "language": "en-US",
 "languages": {"es-US": {"prompt": {"text": "Pulse 1 para confirmar, 2 para cancelar."},
                         "goodbye": {"text": "Gracias. Adiós."}, "voice": "es-US-PalomaNeural",
                         "optOutConfirmation": {"text": "No le volveremos a llamar. Adiós."}}}}
```

A poll offers `collect.choices` (keys 1-9 with labels) instead of confirmKey/declineKey; a `voicemail` is played in
full when the prompts got no key (ACS has no answering-machine detection: silence is taken for a machine).

`language` is the language of the plan's own texts and `languages` adds others; a campaign picks one for each
recipient and fills the texts' placeholders (see plan_templates.py). A plan as stored on a call leg is one
language's, already filled in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from shared.callautomation import file_source, text_source
from shared.fields import ValidationError, identifier_field, object_fields, url_field

# The languages a plan may speak, each with the ACS neural text-to-speech voice it gets unless the plan names
# another (https://learn.microsoft.com/azure/ai-services/speech-service/language-support?tabs=tts).
VOICES = {
    "en-US": "en-US-JennyNeural",
    "en-GB": "en-GB-SoniaNeural",
    "es-US": "es-US-PalomaNeural",
    "es-ES": "es-ES-ElviraNeural",
    "es-MX": "es-MX-DaliaNeural",
    "fr-FR": "fr-FR-DeniseNeural",
    "fr-CA": "fr-CA-SylvieNeural",
    "de-DE": "de-DE-KatjaNeural",
    "it-IT": "it-IT-ElsaNeural",
    "pt-BR": "pt-BR-FranciscaNeural",
    "zh-CN": "zh-CN-XiaoxiaoNeural",
    "ja-JP": "ja-JP-NanamiNeural",
    "ko-KR": "ko-KR-SunHiNeural",
    "vi-VN": "vi-VN-HoaiMyNeural",
}
DEFAULT_LANGUAGE = "en-US"  # of a plan that names none

KEYS = "0123456789*#"
PLAN_FIELDS = ("prompt", "collect", "escalation", "goodbye", "voicemail", "optOut", "language", "languages")
PROMPT_FIELDS = ("text", "audioFileUri", "voice", "language")
LANGUAGE_FIELDS = ("prompt", "goodbye", "voicemail", "voice", "optOutConfirmation")
MAX_LANGUAGES = 10
COLLECT_FIELDS = ("confirmKey", "declineKey", "timeoutSeconds", "maxPrompts", "choices")
CHOICE_KEYS = "123456789"
MAX_CHOICE_LABEL = 100
ESCALATION_FIELDS = ("key", "participant")
OPT_OUT_FIELDS = ("key", "confirmation")
# Said after the opt-out key when the plan gives no confirmation: English, so only a plan wholly in English may
# leave it out.
DEFAULT_OPT_OUT_CONFIRMATION = "You will not be called again. Goodbye."
MAX_PROMPT_TEXT = 2000


@dataclass(frozen=True)
class Prompt:
    text: str | None = None
    audio_file_uri: str | None = None
    voice: str | None = None
    language: str | None = None  # BCP 47: ACS's sourceLocale

    def play_source(self) -> dict[str, Any]:
        if self.audio_file_uri:
            return file_source(self.audio_file_uri)
        return text_source(self.text or "", voice_name=self.voice, source_locale=self.language)


@dataclass(frozen=True)
class Collect:
    confirm_key: str | None = "1"  # None in a poll: it offers choices instead
    decline_key: str | None = "2"
    timeout_seconds: int = 5
    max_prompts: int = 3
    choices: dict[str, str] | None = None  # a poll: key ("1"-"9") -> label, in key order

    @property
    def offered_keys(self) -> list[str]:
        """The keys that answer the prompt (escalation aside)."""
        if self.choices:
            return list(self.choices)
        return [key for key in (self.confirm_key, self.decline_key) if key is not None]


@dataclass(frozen=True)
class Escalation:
    key: str
    participant: str  # raw id


@dataclass(frozen=True)
class OptOut:
    """A key that puts the callee's number on the suppression list; the confirmation is said, then the app hangs
    up."""

    key: str
    confirmation: Prompt


@dataclass(frozen=True)
class LanguageTexts:
    """A plan's texts in one more language."""

    prompt: Prompt
    goodbye: Prompt | None = None
    voicemail: Prompt | None = None
    voice: str | None = None
    opt_out_confirmation: Prompt | None = None


@dataclass(frozen=True)
class CallPlan:
    prompt: Prompt
    collect: Collect | None = None
    escalation: Escalation | None = None
    goodbye: Prompt | None = None
    voicemail: Prompt | None = None  # played after the prompts got no key, before hanging up
    language: str | None = None  # of prompt and goodbye; DEFAULT_LANGUAGE when None
    languages: dict[str, LanguageTexts] | None = None
    opt_out: OptOut | None = None

    @property
    def base_language(self) -> str:
        return self.language or DEFAULT_LANGUAGE

    @property
    def spoken_languages(self) -> list[str]:
        """The languages the plan has texts for, its own first."""
        return [self.base_language, *(self.languages or {})]

    def to_dict(self) -> dict[str, Any]:
        """The plan in the request's own spelling (camelCase), without unset fields: valid input to parse_plan."""
        return _camel({name: value for name, value in asdict(self).items() if value is not None})

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CallPlan:
        """Read back what `to_dict` stored."""
        return parse_plan(data)


def _camel(value: Any) -> Any:
    if isinstance(value, dict):
        return {_camel_name(k): _camel(v) for k, v in value.items() if v is not None}
    return value


def _camel_name(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def parse_plan(value: Any, where: str = "plan") -> CallPlan:
    """Validate a plan from a request; every problem names its field (e.g. `plan.collect.confirmKey`)."""
    fields = _fields(value, where, PLAN_FIELDS)
    prompt = _prompt(fields.get("prompt"), f"{where}.prompt", required=True)
    collect = None
    if fields.get("collect") is not None:
        c = _fields(fields["collect"], f"{where}.collect", COLLECT_FIELDS)
        choices = _choices(c.get("choices"), f"{where}.collect.choices")
        if choices is not None:
            for name in ("confirmKey", "declineKey"):
                if c.get(name.lower()) is not None:
                    raise ValidationError(f"{where}.collect.{name}", "cannot be used with choices: a poll's "
                                          "answers are its choices.")
        collect = Collect(
            confirm_key=None if choices else _key(c.get("confirmkey", "1"), f"{where}.collect.confirmKey"),
            decline_key=None if choices else _key(c.get("declinekey", "2"), f"{where}.collect.declineKey"),
            timeout_seconds=_number(c.get("timeoutseconds", 5), f"{where}.collect.timeoutSeconds", 1, 60),
            max_prompts=_number(c.get("maxprompts", 3), f"{where}.collect.maxPrompts", 1, 5),
            choices=choices,
        )
        if choices is None and collect.confirm_key == collect.decline_key:
            raise ValidationError(f"{where}.collect", "confirmKey and declineKey must differ.")
    escalation = None
    if fields.get("escalation") is not None:
        e = _fields(fields["escalation"], f"{where}.escalation", ESCALATION_FIELDS)
        escalation = Escalation(
            key=_key(e.get("key", "0"), f"{where}.escalation.key"),
            participant=identifier_field(e.get("participant"), f"{where}.escalation.participant"),
        )
        if collect is None:
            raise ValidationError(f"{where}.escalation", "needs collect: the key is asked for with the prompt.")
        if escalation.key in collect.offered_keys:
            others = "the choice keys" if collect.choices else "confirmKey and declineKey"
            raise ValidationError(f"{where}.escalation.key", f"must differ from {others}.")
    goodbye = _prompt(fields.get("goodbye"), f"{where}.goodbye", required=False)
    voicemail = _prompt(fields.get("voicemail"), f"{where}.voicemail", required=False)
    if voicemail is not None and collect is None:
        raise ValidationError(f"{where}.voicemail", "needs collect: silence after the prompts is what leaves it.")
    language = None if fields.get("language") is None else language_field(fields["language"], f"{where}.language")
    opt_out = _opt_out(fields, where, collect, escalation, language)
    languages = _languages(
        fields.get("languages"), f"{where}.languages", language or DEFAULT_LANGUAGE, goodbye, voicemail
    )
    _check_opt_out_languages(languages, opt_out, f"{where}.languages")
    return CallPlan(
        prompt=prompt, collect=collect, escalation=escalation, goodbye=goodbye, voicemail=voicemail, language=language,
        languages=languages, opt_out=opt_out,
    )


def _choices(value: Any, where: str) -> dict[str, str] | None:
    """A poll's choices: keys 1-9, each with a label, in key order."""
    if value is None:
        return None
    if not isinstance(value, Mapping) or not 1 <= len(value) <= len(CHOICE_KEYS):
        raise ValidationError(where, f"must be an object of 1 to {len(CHOICE_KEYS)} choices, e.g. "
                              '{"1": "Power on", "2": "No power"}.')
    choices: dict[str, str] = {}
    for key, label in value.items():
        if not isinstance(key, str) or len(key) != 1 or key not in CHOICE_KEYS:
            raise ValidationError(f"{where}.{str(key)[:20]}", "is not a choice key: keys are 1 to 9.")
        if not isinstance(label, str) or not label.strip() or len(label) > MAX_CHOICE_LABEL:
            raise ValidationError(f"{where}.{key}", f"must be a label of 1 to {MAX_CHOICE_LABEL} characters.")
        choices[key] = label
    return dict(sorted(choices.items()))


def _opt_out(
    fields: Mapping[str, Any], where: str, collect: Collect | None, escalation: Escalation | None, language: str | None
) -> OptOut | None:
    if fields.get("optout") is None:
        return None
    o = _fields(fields["optout"], f"{where}.optOut", OPT_OUT_FIELDS)
    if collect is None:
        raise ValidationError(f"{where}.optOut", "needs collect: the key is asked for with the prompt.")
    key = _key(o.get("key", "9"), f"{where}.optOut.key")
    if key in collect.offered_keys or (escalation and key == escalation.key):
        others = "the choice keys" if collect.choices else "confirmKey, declineKey"
        raise ValidationError(f"{where}.optOut.key", f"must differ from {others} and the escalation key.")
    confirmation = _prompt(o.get("confirmation"), f"{where}.optOut.confirmation", required=False)
    if confirmation is None:
        if not (language or DEFAULT_LANGUAGE).startswith("en-") or fields.get("languages"):
            raise ValidationError(f"{where}.optOut.confirmation", "is required unless the plan is only in English "
                                  "(the default confirmation is English).")
        confirmation = Prompt(text=DEFAULT_OPT_OUT_CONFIRMATION)
    return OptOut(key=key, confirmation=confirmation)


def _check_opt_out_languages(languages: dict[str, LanguageTexts] | None, opt_out: OptOut | None, where: str) -> None:
    for name, texts in (languages or {}).items():
        if (texts.opt_out_confirmation is None) != (opt_out is None):
            raise ValidationError(f"{where}.{name}.optOutConfirmation", "must be given exactly when the plan has "
                                  "an optOut.")


def language_field(value: Any, where: str) -> str:
    """A supported BCP 47 tag, in its usual spelling (`es-us` is `es-US`)."""
    known = {name.lower(): name for name in VOICES}
    if not isinstance(value, str) or value.replace("_", "-").lower() not in known:
        raise ValidationError(where, f"must be a supported language: {', '.join(VOICES)}.")
    return known[value.replace("_", "-").lower()]


def _languages(
    value: Any, where: str, own: str, goodbye: Prompt | None, voicemail: Prompt | None = None
) -> dict[str, LanguageTexts] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping) or len(value) > MAX_LANGUAGES:
        raise ValidationError(where, f"must be an object of at most {MAX_LANGUAGES} languages.")
    languages: dict[str, LanguageTexts] = {}
    for key, texts in value.items():
        name = language_field(key, f"{where}.{str(key)[:20]}")
        if name == own or name in languages:
            raise ValidationError(f"{where}.{name}", "is listed twice (the plan's own language counts).")
        fields = _fields(texts, f"{where}.{name}", LANGUAGE_FIELDS)
        entry_goodbye = _prompt(fields.get("goodbye"), f"{where}.{name}.goodbye", required=False)
        if (entry_goodbye is None) != (goodbye is None):
            raise ValidationError(f"{where}.{name}.goodbye", "must be given exactly when the plan has a goodbye.")
        entry_voicemail = _prompt(fields.get("voicemail"), f"{where}.{name}.voicemail", required=False)
        if (entry_voicemail is None) != (voicemail is None):
            raise ValidationError(f"{where}.{name}.voicemail", "must be given exactly when the plan has a voicemail.")
        languages[name] = LanguageTexts(
            prompt=_prompt(fields.get("prompt"), f"{where}.{name}.prompt", required=True),
            goodbye=entry_goodbye,
            voicemail=entry_voicemail,
            voice=_voice(fields.get("voice"), f"{where}.{name}.voice"),
            opt_out_confirmation=_prompt(
                fields.get("optoutconfirmation"), f"{where}.{name}.optOutConfirmation", required=False
            ),
        )
    return languages or None


def _fields(value: Any, where: str, known: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise ValidationError(where, "must be an object.")
    return object_fields(value, known, where)


def _prompt(value: Any, where: str, *, required: bool) -> Prompt | None:
    if value is None:
        if required:
            raise ValidationError(where, "is required.")
        return None
    fields = _fields(value, where, PROMPT_FIELDS)
    text, uri = fields.get("text"), fields.get("audiofileuri")
    if (text is None) == (uri is None):
        raise ValidationError(where, "needs exactly one of text or audioFileUri.")
    if text is not None and (not isinstance(text, str) or not text.strip() or len(text) > MAX_PROMPT_TEXT):
        raise ValidationError(f"{where}.text", f"must be 1 to {MAX_PROMPT_TEXT} characters.")
    if uri is not None:
        uri = url_field({"audiofileuri": uri}, "audioFileUri", required=True)
    language = fields.get("language")
    return Prompt(
        text=text,
        audio_file_uri=uri,
        voice=_voice(fields.get("voice"), f"{where}.voice"),
        language=None if language is None else language_field(language, f"{where}.language"),
    )


def _voice(value: Any, where: str) -> str | None:
    if value is not None and (not isinstance(value, str) or not 1 <= len(value) <= 100):
        raise ValidationError(where, "must be a voice name such as en-US-JennyNeural.")
    return value


def _key(value: Any, where: str) -> str:
    if not isinstance(value, str) or len(value) != 1 or value not in KEYS:
        raise ValidationError(where, "must be one key: 0-9, * or #.")
    return value


def _number(value: Any, where: str, low: int, high: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ValidationError(where, f"must be a whole number from {low} to {high}.")
    return value
