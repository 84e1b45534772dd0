"""The seed's request bodies, validated into dataclasses. Every problem names the field it is about.

Keys are matched case-insensitively: the seed's C# samples send `AlternateCallerId`, JSON samples `alternateCallerId`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from .call_legs import OPTIONAL_CALL_EVENTS
from .callautomation import InvalidIdentifierError, raw_id_of
from .callautomation.identifiers import E164, is_phone_number

MAX_TARGETS = 10
MAX_PARTICIPANTS = 10
MAX_URL_LENGTH = 2048
MAX_TEXT_LENGTH = 1024
MAX_IDEMPOTENCY_KEY_LENGTH = 200


class ValidationError(ValueError):
    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(f"{field_name}: {message}")
        self.field = field_name
        self.message = message


@dataclass(frozen=True)
class CreateCallRequest:
    targets: list[str]  # raw ids
    source: str | None = None
    alternate_caller_id: str | None = None
    subject: str | None = None
    callback_uri: str | None = None
    requested_call_events: list[str] = field(default_factory=list)
    idempotency_key: str | None = None


@dataclass(frozen=True)
class PlayAudioRequest:
    audio_file_uri: str
    loop: bool = False
    operation_context: str | None = None
    resource_id: str | None = None


@dataclass(frozen=True)
class CancelMediaRequest:
    operation_context: str | None = None


@dataclass(frozen=True)
class InviteParticipantsRequest:
    participants: list[str]
    operation_context: str | None = None
    alternate_caller_id: str | None = None


def parse_create_call(body: Any, *, default_caller_id: str | None = None) -> CreateCallRequest:
    fields = _object(body)
    targets = _identifiers(fields, "targets", MAX_TARGETS)
    caller_id = _caller_id(fields)
    if any(is_phone_number(t) for t in targets) and not (caller_id or default_caller_id):
        raise ValidationError(
            "alternateCallerId", "is required to call a phone number (a number your ACS resource owns)."
        )
    source = _optional(fields, "source")
    if source is not None:
        source = _identifier(source, "source")
        if is_phone_number(source):
            raise ValidationError(
                "source", "must be an ACS user (8:acs:...); put a caller number in alternateCallerId."
            )
    modalities = _string_list(fields, "requestedModalities")
    for index, modality in enumerate(modalities):
        if modality.lower() != "audio":
            raise ValidationError(f"requestedModalities[{index}]", "only 'audio' is supported.")
    events = []
    for index, name in enumerate(_string_list(fields, "requestedCallEvents")):
        known = {e.lower(): e for e in OPTIONAL_CALL_EVENTS}.get(name.lower())
        if known is None:
            raise ValidationError(
                f"requestedCallEvents[{index}]", f"must be one of {', '.join(OPTIONAL_CALL_EVENTS)} (any case)."
            )
        if known not in events:
            events.append(known)
    return CreateCallRequest(
        targets=targets,
        source=source,
        alternate_caller_id=caller_id,
        subject=_text(fields, "subject", 256),
        callback_uri=_url(fields, "callbackUri", required=False),
        requested_call_events=events,
        idempotency_key=_text(fields, "idempotencyKey", MAX_IDEMPOTENCY_KEY_LENGTH),
    )


def parse_play_audio(body: Any) -> PlayAudioRequest:
    fields = _object(body)
    loop = _optional(fields, "loop")
    if loop is not None and not isinstance(loop, bool):
        raise ValidationError("loop", "must be true or false.")
    return PlayAudioRequest(
        audio_file_uri=_url(fields, "audioFileUri", required=True),
        loop=bool(loop),
        operation_context=_text(fields, "operationContext", MAX_TEXT_LENGTH),
        resource_id=_text(fields, "resourceId", 256) or _text(fields, "audioFileId", 256),
    )


def parse_cancel_media(body: Any) -> CancelMediaRequest:
    fields = _object({} if body is None else body)
    return CancelMediaRequest(operation_context=_text(fields, "operationContext", MAX_TEXT_LENGTH))


def parse_invite_participants(body: Any) -> InviteParticipantsRequest:
    fields = _object(body)
    return InviteParticipantsRequest(
        participants=_identifiers(fields, "participants", MAX_PARTICIPANTS),
        operation_context=_text(fields, "operationContext", MAX_TEXT_LENGTH),
        alternate_caller_id=_caller_id(fields),
    )


def parse_participant_id(value: str) -> str:
    """The raw id in `DELETE /calls/{callId}/participants/{participantId}` (already URL-decoded)."""
    return _identifier(value, "participantId")


# -- helpers ------------------------------------------------------------------------------------------


def _object(body: Any) -> dict[str, Any]:
    if not isinstance(body, Mapping):
        raise ValidationError("body", "must be a JSON object.")
    return {str(key).lower(): value for key, value in body.items()}


def _optional(fields: dict[str, Any], name: str) -> Any:
    return fields.get(name.lower())


def _text(fields: dict[str, Any], name: str, max_length: int) -> str | None:
    value = _optional(fields, name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValidationError(name, "must be a string.")
    if len(value) > max_length:
        raise ValidationError(name, f"must be at most {max_length} characters.")
    return value or None


def _string_list(fields: dict[str, Any], name: str) -> list[str]:
    value = _optional(fields, name)
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > 10:
        raise ValidationError(name, "must be a list of at most 10 strings.")
    for index, item in enumerate(value):
        if not isinstance(item, str):
            raise ValidationError(f"{name}[{index}]", "must be a string.")
    return value


def _identifier(value: Any, where: str) -> str:
    try:
        raw_id = raw_id_of(value)
    except InvalidIdentifierError as error:
        raise ValidationError(where, str(error)) from None
    if not (is_phone_number(raw_id) or raw_id.startswith("8:acs:")):
        raise ValidationError(where, "must be a phone number (+14255550123) or an ACS user (8:acs:...).")
    return raw_id


def _identifiers(fields: dict[str, Any], name: str, max_count: int) -> list[str]:
    value = _optional(fields, name)
    if value is None:
        raise ValidationError(name, "is required.")
    if not isinstance(value, list) or not 1 <= len(value) <= max_count:
        raise ValidationError(name, f"must be a list of 1 to {max_count} identifiers.")
    raw_ids = [_identifier(item, f"{name}[{index}]") for index, item in enumerate(value)]
    if len(set(raw_ids)) != len(raw_ids):
        raise ValidationError(name, "lists the same identifier twice.")
    return raw_ids


def _caller_id(fields: dict[str, Any]) -> str | None:
    value = _optional(fields, "alternateCallerId")
    if isinstance(value, Mapping):
        value = {str(k).lower(): v for k, v in value.items()}.get("value", "")
    if value is None:
        return None
    if not isinstance(value, str) or not E164.match(value):
        raise ValidationError("alternateCallerId", "must be an E.164 phone number such as +18005550100.")
    return value


def _url(fields: dict[str, Any], name: str, *, required: bool) -> str | None:
    value = _optional(fields, name)
    if value is None:
        if required:
            raise ValidationError(name, "is required.")
        return None
    if not isinstance(value, str) or len(value) > MAX_URL_LENGTH:
        raise ValidationError(name, f"must be a URL of at most {MAX_URL_LENGTH} characters.")
    try:
        url = urlsplit(value)
    except ValueError:
        raise ValidationError(name, "is not a valid URL.") from None
    if url.scheme not in ("http", "https") or not url.hostname:
        raise ValidationError(name, "must be an absolute http(s) URL.")
    if url.username or url.password:
        raise ValidationError(name, "must not carry credentials.")
    if any(ord(c) < 33 for c in value):
        raise ValidationError(name, "must not contain spaces or control characters.")
    return value
