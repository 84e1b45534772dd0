"""Call plans: what a call does by itself once answered. Prompt, optionally ask for a key, then hang up.

```json
{"prompt": {"text": "Press 1 to confirm, 2 to cancel."},
 "collect": {"confirmKey": "1", "declineKey": "2", "timeoutSeconds": 5, "maxPrompts": 3},
 "escalation": {"key": "0", "participant": "+14255550100"},
 "goodbye": {"text": "Thank you. Goodbye."}}
```
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from shared.callautomation import file_source, text_source
from shared.fields import ValidationError, identifier_field, object_fields, url_field

KEYS = "0123456789*#"
PLAN_FIELDS = ("prompt", "collect", "escalation", "goodbye")
PROMPT_FIELDS = ("text", "audioFileUri", "voice")
COLLECT_FIELDS = ("confirmKey", "declineKey", "timeoutSeconds", "maxPrompts")
ESCALATION_FIELDS = ("key", "participant")
MAX_PROMPT_TEXT = 2000


@dataclass(frozen=True)
class Prompt:
    text: str | None = None
    audio_file_uri: str | None = None
    voice: str | None = None

    def play_source(self) -> dict[str, Any]:
        if self.audio_file_uri:
            return file_source(self.audio_file_uri)
        return text_source(self.text or "", voice_name=self.voice)


@dataclass(frozen=True)
class Collect:
    confirm_key: str = "1"
    decline_key: str = "2"
    timeout_seconds: int = 5
    max_prompts: int = 3


@dataclass(frozen=True)
class Escalation:
    key: str
    participant: str  # raw id


@dataclass(frozen=True)
class CallPlan:
    prompt: Prompt
    collect: Collect | None = None
    escalation: Escalation | None = None
    goodbye: Prompt | None = None

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
        collect = Collect(
            confirm_key=_key(c.get("confirmkey", "1"), f"{where}.collect.confirmKey"),
            decline_key=_key(c.get("declinekey", "2"), f"{where}.collect.declineKey"),
            timeout_seconds=_number(c.get("timeoutseconds", 5), f"{where}.collect.timeoutSeconds", 1, 60),
            max_prompts=_number(c.get("maxprompts", 3), f"{where}.collect.maxPrompts", 1, 5),
        )
        if collect.confirm_key == collect.decline_key:
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
        if escalation.key in (collect.confirm_key, collect.decline_key):
            raise ValidationError(f"{where}.escalation.key", "must differ from confirmKey and declineKey.")
    goodbye = _prompt(fields.get("goodbye"), f"{where}.goodbye", required=False)
    return CallPlan(prompt=prompt, collect=collect, escalation=escalation, goodbye=goodbye)


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
    text, uri, voice = fields.get("text"), fields.get("audiofileuri"), fields.get("voice")
    if (text is None) == (uri is None):
        raise ValidationError(where, "needs exactly one of text or audioFileUri.")
    if text is not None and (not isinstance(text, str) or not text.strip() or len(text) > MAX_PROMPT_TEXT):
        raise ValidationError(f"{where}.text", f"must be 1 to {MAX_PROMPT_TEXT} characters.")
    if uri is not None:
        uri = url_field({"audiofileuri": uri}, "audioFileUri", required=True)
    if voice is not None and (not isinstance(voice, str) or len(voice) > 100):
        raise ValidationError(f"{where}.voice", "must be a voice name such as en-US-JennyNeural.")
    return Prompt(text=text, audio_file_uri=uri, voice=voice)


def _key(value: Any, where: str) -> str:
    if not isinstance(value, str) or len(value) != 1 or value not in KEYS:
        raise ValidationError(where, "must be one key: 0-9, * or #.")
    return value


def _number(value: Any, where: str, low: int, high: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ValidationError(where, f"must be a whole number from {low} to {high}.")
    return value
