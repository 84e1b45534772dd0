"""Events for the caller's `callbackUri`: CloudEvents 1.0 with the 2021 event names, signed per Standard Webhooks.

The seed's callers subscribed to `CallLegStateChanged`, `ParticipantsUpdated`, `DtmfReceived`,
`PlayAudioResult` and `InviteParticipantResult`; we keep those names and shapes.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from standardwebhooks import Webhook

from shared.callautomation import to_acs_identifier
from shared.calls.acs_events import ResultInformation
from shared.clock import iso, system_clock

EVENT_TYPE_PREFIX = "Microsoft.Communication."
CALL_LEG_STATE_CHANGED = "CallLegStateChanged"
PARTICIPANTS_UPDATED = "ParticipantsUpdated"
DTMF_RECEIVED = "DtmfReceived"
PLAY_AUDIO_RESULT = "PlayAudioResult"
INVITE_PARTICIPANT_RESULT = "InviteParticipantResult"
REMOVE_PARTICIPANT_RESULT = "RemoveParticipantResult"

# Ids derive from the ACS event that caused them, so a redelivered ACS event yields the same webhook-id and
# subscribers can de-duplicate.
_ID_NAMESPACE = uuid.UUID("5b0f7c8e-2d4a-4f61-9a53-0c2f3e6d7a18")

_TONES_2021 = {
    "zero": "tone0",
    "one": "tone1",
    "two": "tone2",
    "three": "tone3",
    "four": "tone4",
    "five": "tone5",
    "six": "tone6",
    "seven": "tone7",
    "eight": "tone8",
    "nine": "tone9",
    "asterisk": "star",
    "pound": "pound",
    "a": "a",
    "b": "b",
    "c": "c",
    "d": "d",
}


@dataclass(frozen=True)
class Notification:
    """One event for the caller, as a CloudEvent."""

    id: str
    type: str
    subject: str
    data: dict[str, Any]

    @classmethod
    def for_leg(
        cls, call_leg_id: str, name: str, subject_suffix: str, data: dict[str, Any], source_id: str
    ) -> Notification:
        return cls(
            id=str(uuid.uuid5(_ID_NAMESPACE, f"{call_leg_id}/{source_id}/{name}")),
            type=EVENT_TYPE_PREFIX + name,
            subject=f"callLeg/{call_leg_id}/{subject_suffix}",
            data=data,
        )

    def to_cloud_event(self, time: str | None = None) -> dict[str, Any]:
        return {
            "specversion": "1.0",
            "id": self.id,
            "source": f"/calls/{self.data['callLegId']}",
            "type": self.type,
            "subject": self.subject,
            "time": time or iso(system_clock()),
            "datacontenttype": "application/json",
            "data": self.data,
        }


def sign_webhook(
    secret: str, cloud_event: dict[str, Any], *, now: datetime | None = None
) -> tuple[bytes, dict[str, str]]:
    """The body and Standard Webhooks headers (webhook-id, -timestamp, -signature) for one delivery."""
    payload = json.dumps(cloud_event, separators=(",", ":"))
    timestamp = now or system_clock()
    signature = Webhook(secret).sign(cloud_event["id"], timestamp, payload)
    headers = {
        "Content-Type": "application/cloudevents+json",
        "webhook-id": cloud_event["id"],
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": signature,
    }
    return payload.encode(), headers


def participant_entry(raw_id: str) -> dict[str, Any]:
    """A participant as the 2021 ParticipantsUpdated event listed it."""
    return {
        "identifier": to_acs_identifier(raw_id) if _callable(raw_id) else {"rawId": raw_id},
        "participantId": raw_id,
        "isMuted": False,
    }


def result_info(result: ResultInformation | None) -> dict[str, Any]:
    """The seed's `resultInfo` (note the lower-case `subcode`)."""
    if result is None:
        return {"code": 0, "subcode": 0, "message": ""}
    return {"code": result.code, "subcode": result.sub_code, "message": result.message}


def tone_2021(tone: Any) -> str:
    return _TONES_2021.get(str(tone).lower(), str(tone))


def _callable(raw_id: str) -> bool:
    try:
        to_acs_identifier(raw_id)
    except ValueError:
        return False
    return True
