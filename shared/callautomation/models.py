"""What the client hands back: small, plain views of ACS's JSON."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from shared.callautomation.identifiers import from_acs_identifier


@dataclass(frozen=True)
class CallConnection:
    call_connection_id: str
    state: str
    server_call_id: str | None
    correlation_id: str | None
    targets: tuple[str, ...]
    source_caller_id: str | None
    callback_uri: str | None
    raw: Mapping[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_wire(cls, body: Mapping[str, Any]) -> CallConnection:
        caller_id = body.get("sourceCallerIdNumber") or {}
        return cls(
            call_connection_id=body["callConnectionId"],
            state=body.get("callConnectionState", "unknown"),
            server_call_id=body.get("serverCallId"),
            correlation_id=body.get("correlationId"),
            targets=tuple(from_acs_identifier(t) for t in body.get("targets", [])),
            source_caller_id=caller_id.get("value"),
            callback_uri=body.get("callbackUri"),
            raw=body,
        )


@dataclass(frozen=True)
class CallParticipant:
    raw_id: str
    is_muted: bool = False
    is_on_hold: bool = False

    @classmethod
    def from_wire(cls, body: Mapping[str, Any]) -> CallParticipant:
        return cls(
            raw_id=from_acs_identifier(body["identifier"]),
            is_muted=bool(body.get("isMuted", False)),
            is_on_hold=bool(body.get("isOnHold", False)),
        )


@dataclass(frozen=True)
class AddParticipantResult:
    invitation_id: str | None
    participant: CallParticipant | None
    operation_context: str | None


def file_source(url: str, *, cache_id: str | None = None) -> dict[str, Any]:
    """A play source for an audio file (WAV) at a URL ACS can fetch."""
    source: dict[str, Any] = {"kind": "file", "file": {"uri": url}}
    if cache_id:
        source["playSourceCacheId"] = cache_id
    return source


def text_source(text: str, *, voice_name: str | None = None, source_locale: str | None = None) -> dict[str, Any]:
    """A play source spoken by text-to-speech."""
    spoken: dict[str, Any] = {"text": text}
    if voice_name:
        spoken["voiceName"] = voice_name
    if source_locale:
        spoken["sourceLocale"] = source_locale
    return {"kind": "text", "text": spoken}


def tones_of(body: Mapping[str, Any]) -> Sequence[str]:
    """The DTMF tones of a RecognizeCompleted event's data (GA spelling, or the 2022 one)."""
    result = body.get("dtmfResult") or body.get("collectTonesResult") or {}
    return tuple(result.get("tones", ()))
