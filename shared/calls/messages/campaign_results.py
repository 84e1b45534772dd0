"""`campaign-results`: a campaign call ended; the campaign records its outcome (`ended`, see call_legs.CallEnded),
frees its slot and maybe retries."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, ClassVar

from shared.calls.legs import CallEnded
from shared.fields import ValidationError
from shared.ids import is_call_leg_id, is_campaign_id, is_phone_number, is_recipient_id
from shared.queue_messages import json_object
from shared.storage.clients import CAMPAIGN_RESULTS_QUEUE


@dataclass(frozen=True)
class CampaignResultMessage:
    queue: ClassVar[str] = CAMPAIGN_RESULTS_QUEUE

    campaign_id: str
    recipient_id: str  # the recipient's key: its own id, or its first phone number
    call_leg_id: str
    ended: CallEnded | None = None  # messages of older versions came without it

    def to_message(self) -> str:
        body: dict[str, Any] = {"campaignId": self.campaign_id, "recipientId": self.recipient_id,
                                "callLegId": self.call_leg_id}
        if is_phone_number(self.recipient_id):
            body["phoneNumber"] = self.recipient_id  # still read by instances from before recipient ids
        if self.ended is not None:
            body["ended"] = self.ended.to_dict()
        return json.dumps(body)

    @classmethod
    def from_message(cls, text: str | bytes) -> CampaignResultMessage:
        body = json_object(text)
        # Messages from before recipient ids name the recipient by its phone number.
        recipient_id = body.get("recipientId") if "recipientId" in body else body.get("phoneNumber")
        known = is_recipient_id(recipient_id) if "recipientId" in body else is_phone_number(recipient_id)
        campaign_id, call_leg_id = body.get("campaignId"), body.get("callLegId")
        if not (is_campaign_id(campaign_id) and known and is_call_leg_id(call_leg_id)):
            raise ValidationError("message", "needs a campaignId, a recipientId (or phoneNumber) and a callLegId.")
        return cls(campaign_id, recipient_id, call_leg_id, CallEnded.from_dict(body.get("ended")))
