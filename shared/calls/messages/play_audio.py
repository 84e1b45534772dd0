"""`play-audio`: `{"callLegId": ..., <PlayAudio body>}` from other services."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, ClassVar

from shared.calls.requests import PlayAudioRequest, parse_play_audio
from shared.fields import ValidationError
from shared.ids import is_call_leg_id
from shared.queue_messages import json_object
from shared.storage.clients import PLAY_AUDIO_QUEUE


@dataclass(frozen=True)
class PlayAudioMessage:
    queue: ClassVar[str] = PLAY_AUDIO_QUEUE

    call_leg_id: str
    request: PlayAudioRequest

    def to_message(self) -> str:
        request = self.request
        body: dict[str, Any] = {
            "callLegId": self.call_leg_id,
            "audioFileUri": request.audio_file_uri,
            "loop": request.loop,
            "operationContext": request.operation_context,
            "resourceId": request.resource_id,
        }
        return json.dumps({name: value for name, value in body.items() if value is not None})

    @classmethod
    def from_message(cls, text: str | bytes) -> PlayAudioMessage:
        body = json_object(text)
        call_leg_id = leg_named_in(body)
        if call_leg_id is None:
            raise ValidationError("callLegId", "must be the callLegId that POST /calls answered.")
        request = {name: value for name, value in body.items() if name.lower() != "calllegid"}
        return cls(call_leg_id, parse_play_audio(request))

    @staticmethod
    def leg_in(text: str | bytes, message_id: str | None = None) -> str | None:
        """The call leg a message is about, even when the rest of it is invalid (its poisoning is recorded there)."""
        try:
            return leg_named_in(json_object(text))
        except ValidationError:
            return None


def leg_named_in(body: dict[str, Any]) -> str | None:
    value = body.get("callLegId")
    return value if is_call_leg_id(value) else None
