"""`campaign-dial`: one campaign call. With a line `grant`, place the call on it; without, the recipient's retry or
calling window came due and it joins the campaign's line (see shared/campaigns/dialing.py)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, ClassVar

from shared.fields import ValidationError
from shared.ids import is_campaign_id, is_phone_number, is_recipient_id
from shared.lines import Grant
from shared.queue_messages import json_object
from shared.storage.clients import CAMPAIGN_DIAL_QUEUE


@dataclass(frozen=True)
class CampaignDialMessage:
    queue: ClassVar[str] = CAMPAIGN_DIAL_QUEUE

    campaign_id: str
    recipient_id: str  # the recipient's key: its own id, or its first phone number
    dial: int
    grant: Grant | None = None

    def to_message(self) -> str:
        body: dict[str, Any] = {"campaignId": self.campaign_id, "recipientId": self.recipient_id, "dial": self.dial}
        if is_phone_number(self.recipient_id):
            body["phoneNumber"] = self.recipient_id  # still read by instances from before recipient ids
        if self.grant is not None:
            body["grant"] = self.grant.to_dict()
        return json.dumps(body)

    @classmethod
    def from_message(cls, text: str | bytes) -> CampaignDialMessage:
        body = json_object(text)
        # Messages from before recipient ids name the recipient by its phone number.
        recipient_id = body.get("recipientId") if "recipientId" in body else body.get("phoneNumber")
        known = is_recipient_id(recipient_id) if "recipientId" in body else is_phone_number(recipient_id)
        campaign_id, dial = body.get("campaignId"), body.get("dial")
        if not (is_campaign_id(campaign_id) and known and isinstance(dial, int)):
            raise ValidationError("message", "needs a campaignId, a recipientId (or phoneNumber) and a dial number.")
        try:
            grant = Grant.from_dict(body["grant"]) if isinstance(body.get("grant"), dict) else None
        except (KeyError, TypeError, ValueError, IndexError):
            raise ValidationError("grant", "is not a line grant.") from None
        return cls(campaign_id, recipient_id, dial, grant)
