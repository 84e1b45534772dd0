"""Validation of request bodies into small typed requests; errors name the offending field (400 8523).

Unknown fields are ignored, as the service does.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from . import errors
from .config import (
    DEFAULT_INITIAL_SILENCE_SECONDS,
    DEFAULT_INTER_TONE_SECONDS,
    DEFAULT_MAX_TONES,
    MAX_SEND_DTMF_TONES,
)
from .identifiers import Identifier, parse_identifier, parse_phone_number
from .media import TONES, PlaySource

MAX_TEXT = 10_000


def parse_json_object(body: bytes) -> dict[str, Any]:
    """The body as a JSON object; 400 when it is not JSON or not an object."""
    try:
        value = json.loads(body.decode("utf-8")) if body.strip() else None
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise errors.invalid_json() from None
    if value is None:
        raise errors.invalid_body("body", "is required")
    if not isinstance(value, dict):
        raise errors.invalid_body("body", "must be a JSON object")
    return value


# --- field helpers ------------------------------------------------------------------------------------------


def _string(body: dict, key: str, *, required: bool = False, field: str | None = None) -> str | None:
    field = field or key
    value = body.get(key)
    if value is None:
        if required:
            raise errors.invalid_body(field, "is required")
        return None
    if not isinstance(value, str):
        raise errors.invalid_body(field, "must be a string")
    if len(value) > MAX_TEXT:
        raise errors.invalid_body(field, f"must be at most {MAX_TEXT} characters")
    return value


def _bool(body: dict, key: str, default: bool, field: str | None = None) -> bool:
    value = body.get(key)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise errors.invalid_body(field or key, "must be true or false")
    return value


def _number(body: dict, key: str, default: float | None, low: float, high: float, field: str) -> float | None:
    value = body.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise errors.invalid_body(field, f"must be a number between {low:g} and {high:g}")
    return float(value)


def _object(body: dict, key: str, field: str, *, required: bool = False) -> dict | None:
    value = body.get(key)
    if value is None:
        if required:
            raise errors.invalid_body(field, "is required")
        return None
    if not isinstance(value, dict):
        raise errors.invalid_body(field, "must be an object")
    return value


def _list(body: dict, key: str, field: str, *, required: bool = False) -> list:
    value = body.get(key)
    if value is None:
        if required:
            raise errors.invalid_body(field, "is required")
        return []
    if not isinstance(value, list):
        raise errors.invalid_body(field, "must be an array")
    return value


def _url(body: dict, key: str, *, required: bool = False) -> str | None:
    value = _string(body, key, required=required)
    if value is None:
        return None
    try:
        parts = urlsplit(value)
        valid = parts.scheme in ("http", "https") and bool(parts.hostname)
        _ = parts.port  # raises ValueError for a bad port
    except ValueError:
        valid = False
    if not valid:
        raise errors.invalid_body(key, "must be an absolute http(s) URL")
    return value


def _identifier(body: dict, key: str, *, required: bool = True) -> Identifier | None:
    value = body.get(key)
    if value is None:
        if required:
            raise errors.invalid_body(key, "is required")
        return None
    return parse_identifier(value, key)


def _caller_id(body: dict, required: bool) -> str | None:
    value = body.get("sourceCallerIdNumber")
    if value is None:
        if required:
            raise errors.invalid_body("sourceCallerIdNumber", "is required when calling a phone number")
        return None
    return parse_phone_number(value, "sourceCallerIdNumber")


@dataclass(frozen=True)
class Callback:
    operation_context: str | None
    operation_callback_uri: str | None


def _callback(body: dict) -> Callback:
    return Callback(_string(body, "operationContext"), _url(body, "operationCallbackUri"))


# --- operations ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CreateCall:
    targets: list[Identifier]
    callback_uri: str
    caller_id: str | None
    source_display_name: str | None
    source: Identifier | None
    operation_context: str | None


def create_call(body: dict) -> CreateCall:
    raw_targets = _list(body, "targets", "targets", required=True)
    if not 1 <= len(raw_targets) <= 100:
        raise errors.invalid_body("targets", "must hold between 1 and 100 identifiers")
    targets = [parse_identifier(t, f"targets[{i}]") for i, t in enumerate(raw_targets)]
    callback_uri = _url(body, "callbackUri", required=True)
    assert callback_uri is not None
    source = None
    if body.get("source") is not None:
        source_obj = _object(body, "source", "source")
        assert source_obj is not None
        source_id = _string(source_obj, "id", required=True, field="source.id")
        source = parse_identifier({"communicationUser": {"id": source_id}}, "source")
    return CreateCall(
        targets=targets,
        callback_uri=callback_uri,
        caller_id=_caller_id(body, any(t.is_phone for t in targets)),
        source_display_name=_string(body, "sourceDisplayName"),
        source=source,
        operation_context=_string(body, "operationContext"),
    )


@dataclass(frozen=True)
class AddParticipant:
    participant: Identifier
    caller_id: str | None
    invitation_timeout_seconds: float | None
    callback: Callback


def add_participant(body: dict) -> AddParticipant:
    participant = _identifier(body, "participantToAdd")
    assert participant is not None
    return AddParticipant(
        participant=participant,
        caller_id=_caller_id(body, participant.is_phone),
        invitation_timeout_seconds=_number(body, "invitationTimeoutInSeconds", None, 0, 180,
                                           "invitationTimeoutInSeconds"),
        callback=_callback(body),
    )


@dataclass(frozen=True)
class RemoveParticipant:
    participant: Identifier
    callback: Callback


def remove_participant(body: dict) -> RemoveParticipant:
    participant = _identifier(body, "participantToRemove")
    assert participant is not None
    return RemoveParticipant(participant, _callback(body))


@dataclass(frozen=True)
class CancelAddParticipant:
    invitation_id: str
    callback: Callback


def cancel_add_participant(body: dict) -> CancelAddParticipant:
    invitation_id = _string(body, "invitationId", required=True)
    assert invitation_id is not None
    if not invitation_id.strip():
        raise errors.invalid_body("invitationId", "must not be empty")
    return CancelAddParticipant(invitation_id, _callback(body))


@dataclass(frozen=True)
class Transfer:
    target: Identifier
    transferee: Identifier | None
    callback: Callback


def transfer(body: dict) -> Transfer:
    target = _identifier(body, "targetParticipant")
    assert target is not None
    if body.get("sourceCallerIdNumber") is not None:
        parse_phone_number(body["sourceCallerIdNumber"], "sourceCallerIdNumber")
    return Transfer(target, _identifier(body, "transferee", required=False), _callback(body))


def _play_source(value: Any, field: str) -> PlaySource:
    if not isinstance(value, dict):
        raise errors.invalid_body(field, "must be a play source object")
    kind = value.get("kind")
    if kind == "file":
        file = _object(value, "file", f"{field}.file", required=True)
        assert file is not None
        uri = _string(file, "uri", required=True, field=f"{field}.file.uri")
        assert uri is not None
        try:
            parts = urlsplit(uri)
            valid = parts.scheme in ("http", "https") and bool(parts.hostname)
            _ = parts.port
        except ValueError:
            valid = False
        if not valid:
            raise errors.invalid_body(f"{field}.file.uri", "must be an absolute http(s) URL")
        return PlaySource("file", uri=uri)
    if kind == "text":
        text = _object(value, "text", f"{field}.text", required=True)
        assert text is not None
        voice_kind = _string(text, "voiceKind", field=f"{field}.text.voiceKind")
        if voice_kind is not None and voice_kind.lower() not in ("male", "female"):
            raise errors.invalid_body(f"{field}.text.voiceKind", "must be male or female")
        return PlaySource(
            "text",
            text=_string(text, "text", required=True, field=f"{field}.text.text") or "",
            source_locale=_string(text, "sourceLocale", field=f"{field}.text.sourceLocale"),
            voice_name=_string(text, "voiceName", field=f"{field}.text.voiceName"),
            voice_kind=voice_kind,
        )
    if kind == "ssml":
        ssml = _object(value, "ssml", f"{field}.ssml", required=True)
        assert ssml is not None
        content = _string(ssml, "ssmlText", required=True, field=f"{field}.ssml.ssmlText") or ""
        return PlaySource("ssml", text=content)
    raise errors.invalid_body(f"{field}.kind", "must be file, text or ssml")


@dataclass(frozen=True)
class Play:
    sources: list[PlaySource]
    play_to: list[Identifier]
    loop: bool
    interrupt: bool
    callback: Callback


def play(body: dict) -> Play:
    raw_sources = _list(body, "playSources", "playSources", required=True)
    if not 1 <= len(raw_sources) <= 50:
        raise errors.invalid_body("playSources", "must hold between 1 and 50 play sources")
    sources = [_play_source(s, f"playSources[{i}]") for i, s in enumerate(raw_sources)]
    play_to = [parse_identifier(t, f"playTo[{i}]") for i, t in enumerate(_list(body, "playTo", "playTo"))]
    options = _object(body, "playOptions", "playOptions") or {}
    loop = _bool(options, "loop", False, "playOptions.loop")
    # GA puts interruptCallMediaOperation at the top level; older previews put it inside playOptions.
    interrupt = _bool(body, "interruptCallMediaOperation", False) or _bool(
        options, "interruptCallMediaOperation", False, "playOptions.interruptCallMediaOperation"
    )
    return Play(sources, play_to, loop, interrupt, _callback(body))


@dataclass(frozen=True)
class Recognize:
    prompts: list[PlaySource]
    target: Identifier
    interrupt_prompt: bool
    interrupt_media: bool
    initial_silence_seconds: float
    inter_tone_seconds: float
    max_tones: int
    stop_tones: frozenset[str]
    callback: Callback


def _tone_list(values: list, field: str) -> list[str]:
    tones = []
    for i, tone in enumerate(values):
        if not isinstance(tone, str) or tone.lower() not in TONES:
            raise errors.invalid_body(f"{field}[{i}]", "must be a tone name (zero..nine, a-d, pound, asterisk)")
        tones.append(tone.lower())
    return tones


def recognize(body: dict) -> Recognize:
    input_type = _string(body, "recognizeInputType", required=True)
    if input_type != "dtmf":
        raise errors.invalid_body("recognizeInputType", "must be 'dtmf' (the emulator recognizes DTMF only)")
    options = _object(body, "recognizeOptions", "recognizeOptions", required=True)
    assert options is not None
    target = options.get("targetParticipant")
    if target is None:
        raise errors.invalid_body("recognizeOptions.targetParticipant", "is required")
    target_id = parse_identifier(target, "recognizeOptions.targetParticipant")
    prompts = []
    if body.get("playPrompt") is not None:
        prompts.append(_play_source(body["playPrompt"], "playPrompt"))
    prompts += [_play_source(p, f"playPrompts[{i}]") for i, p in enumerate(_list(body, "playPrompts", "playPrompts"))]
    dtmf = _object(options, "dtmfOptions", "recognizeOptions.dtmfOptions") or {}
    prefix = "recognizeOptions.dtmfOptions."
    max_tones = _number(dtmf, "maxTonesToCollect", DEFAULT_MAX_TONES, 1, 100, prefix + "maxTonesToCollect")
    if max_tones is not None and max_tones != int(max_tones):
        raise errors.invalid_body(prefix + "maxTonesToCollect", "must be a whole number")
    return Recognize(
        prompts=prompts,
        target=target_id,
        interrupt_prompt=_bool(options, "interruptPrompt", False, "recognizeOptions.interruptPrompt"),
        interrupt_media=_bool(body, "interruptCallMediaOperation", False),
        initial_silence_seconds=_number(options, "initialSilenceTimeoutInSeconds", DEFAULT_INITIAL_SILENCE_SECONDS,
                                        0, 300, "recognizeOptions.initialSilenceTimeoutInSeconds") or 0.0,
        inter_tone_seconds=_number(dtmf, "interToneTimeoutInSeconds", DEFAULT_INTER_TONE_SECONDS, 1, 60,
                                   prefix + "interToneTimeoutInSeconds") or 0.0,
        max_tones=int(max_tones or DEFAULT_MAX_TONES),
        stop_tones=frozenset(_tone_list(_list(dtmf, "stopTones", prefix + "stopTones"), prefix + "stopTones")),
        callback=_callback(body),
    )


@dataclass(frozen=True)
class ContinuousDtmf:
    target: Identifier
    callback: Callback


def continuous_dtmf(body: dict) -> ContinuousDtmf:
    target = _identifier(body, "targetParticipant")
    assert target is not None
    return ContinuousDtmf(target, _callback(body))


@dataclass(frozen=True)
class SendDtmf:
    tones: list[str]
    target: Identifier
    callback: Callback


def send_dtmf(body: dict) -> SendDtmf:
    tones = _tone_list(_list(body, "tones", "tones", required=True), "tones")
    if not 1 <= len(tones) <= MAX_SEND_DTMF_TONES:
        raise errors.invalid_body("tones", f"must hold between 1 and {MAX_SEND_DTMF_TONES} tones")
    target = _identifier(body, "targetParticipant")
    assert target is not None
    return SendDtmf(tones, target, _callback(body))
