"""The seed's request bodies, validated into dataclasses. Every problem names the field it is about.

Keys are matched case-insensitively: the seed's C# samples send `AlternateCallerId`, JSON samples `alternateCallerId`.
Keys that match no field are refused (`UnknownField`), naming the nearest known one, before anything is written.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC
from typing import Any

from shared.callautomation.identifiers import E164, is_phone_number
from shared.calls.legs import OPTIONAL_CALL_EVENTS
from shared.calls.plan_templates import Listener, TemplateError, check_templates, personal_plan
from shared.calls.plans import CallPlan, parse_plan
from shared.fields import (
    ValidationError,
    caller_id_field,
    identifier_field,
    identifiers_field,
    object_fields,
    optional,
    string_list_field,
    text_field,
    url_field,
)
from shared.settings import ConfigurationError

MAX_TARGETS = 10
MAX_PARTICIPANTS = 10
MAX_TEXT_LENGTH = 1024
MAX_IDEMPOTENCY_KEY_LENGTH = 200

# Every field each body may carry (any case): the rest are refused with UnknownField, naming the nearest of these.
CREATE_CALL_FIELDS = (
    "targets", "source", "alternateCallerId", "subject", "callbackUri", "requestedModalities",
    "requestedCallEvents", "idempotencyKey", "plan",
)
PLAY_AUDIO_FIELDS = ("audioFileUri", "loop", "operationContext", "resourceId", "audioFileId")
CANCEL_MEDIA_FIELDS = ("operationContext",)
INVITE_PARTICIPANTS_FIELDS = ("participants", "operationContext", "alternateCallerId")


@dataclass(frozen=True)
class CreateCallRequest:
    targets: list[str]  # raw ids
    source: str | None = None
    alternate_caller_id: str | None = None
    subject: str | None = None
    callback_uri: str | None = None
    requested_call_events: list[str] = field(default_factory=list)
    idempotency_key: str | None = None
    plan: CallPlan | None = None


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
    if default_caller_id and not E164.match(default_caller_id):
        raise ConfigurationError("DEFAULT_CALLER_ID is not an E.164 phone number.")
    fields = object_fields(body, CREATE_CALL_FIELDS)
    targets = identifiers_field(fields, "targets", MAX_TARGETS)
    caller_id = caller_id_field(fields)
    if any(is_phone_number(t) for t in targets) and not (caller_id or default_caller_id):
        raise ValidationError(
            "alternateCallerId", "is required to call a phone number (a number your ACS resource owns)."
        )
    source = optional(fields, "source")
    if source is not None:
        source = identifier_field(source, "source")
        if is_phone_number(source):
            raise ValidationError(
                "source", "must be an ACS user (8:acs:...); put a caller number in alternateCallerId."
            )
    modalities = string_list_field(fields, "requestedModalities")
    for index, modality in enumerate(modalities):
        if modality.lower() != "audio":
            raise ValidationError(f"requestedModalities[{index}]", "only 'audio' is supported.")
    return CreateCallRequest(
        targets=targets,
        source=source,
        alternate_caller_id=caller_id,
        subject=text_field(fields, "subject", 256),
        callback_uri=url_field(fields, "callbackUri", required=False),
        requested_call_events=call_events_field(fields),
        idempotency_key=text_field(fields, "idempotencyKey", MAX_IDEMPOTENCY_KEY_LENGTH),
        plan=_single_call_plan(fields["plan"]) if fields.get("plan") is not None else None,
    )


def call_events_field(fields: dict[str, Any]) -> list[str]:
    """`requestedCallEvents`: the optional events, in any case, each once, in their canonical spelling."""
    events: list[str] = []
    for index, name in enumerate(string_list_field(fields, "requestedCallEvents")):
        known = {e.lower(): e for e in OPTIONAL_CALL_EVENTS}.get(name.lower())
        if known is None:
            raise ValidationError(
                f"requestedCallEvents[{index}]", f"must be one of {', '.join(OPTIONAL_CALL_EVENTS)} (any case)."
            )
        if known not in events:
            events.append(known)
    return events


def parse_play_audio(body: Any) -> PlayAudioRequest:
    fields = object_fields(body, PLAY_AUDIO_FIELDS)
    loop = optional(fields, "loop")
    if loop is not None and not isinstance(loop, bool):
        raise ValidationError("loop", "must be true or false.")
    return PlayAudioRequest(
        audio_file_uri=url_field(fields, "audioFileUri", required=True),
        loop=bool(loop),
        operation_context=text_field(fields, "operationContext", MAX_TEXT_LENGTH),
        resource_id=text_field(fields, "resourceId", 256) or text_field(fields, "audioFileId", 256),
    )


def parse_cancel_media(body: Any) -> CancelMediaRequest:
    fields = object_fields({} if body is None else body, CANCEL_MEDIA_FIELDS)
    return CancelMediaRequest(operation_context=text_field(fields, "operationContext", MAX_TEXT_LENGTH))


def parse_invite_participants(body: Any) -> InviteParticipantsRequest:
    fields = object_fields(body, INVITE_PARTICIPANTS_FIELDS)
    return InviteParticipantsRequest(
        participants=identifiers_field(fields, "participants", MAX_PARTICIPANTS),
        operation_context=text_field(fields, "operationContext", MAX_TEXT_LENGTH),
        alternate_caller_id=caller_id_field(fields),
    )


def parse_participant_id(value: str) -> str:
    """The raw id in `DELETE /calls/{callId}/participants/{participantId}` (already URL-decoded)."""
    return identifier_field(value, "participantId")




def _single_call_plan(value: object) -> CallPlan:
    """A plan for one call: in its own language (its `languages` need a campaign's recipients to choose them), with
    no placeholders (nothing fills them outside a campaign)."""
    plan = parse_plan(value)
    check_templates(plan)
    try:
        return personal_plan(replace(plan, languages=None), Listener({}, None, UTC))
    except TemplateError as error:
        raise ValidationError(f"plan.{error.text}", f"uses {{{{{error.field}}}}}: placeholders are filled from a "
                              "campaign recipient's data, so only campaign plans may have them.") from None
