"""`campaign-dial`: one campaign call. With a line `grant`, place the call on it; without, the recipient's retry or
calling window came due and it joins the campaign's line (see shared/campaigns/dialing.py)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, ClassVar

from shared.fields import ValidationError
from shared.ids import is_campaign_id, is_phone_number
from shared.lines import Grant
from shared.queue_messages import json_object
from shared.storage.clients import CAMPAIGN_DIAL_QUEUE


@dataclass(frozen=True)
class CampaignDialMessage:
    queue: ClassVar[str] = CAMPAIGN_DIAL_QUEUE

    campaign_id: str
    phone_number: str
    dial: int
    grant: Grant | None = None

    def to_message(self) -> str:
        body: dict[str, Any] = {"campaignId": self.campaign_id, "phoneNumber": self.phone_number, "dial": self.dial}
        if self.grant is not None:
            body["grant"] = self.grant.to_dict()
        return json.dumps(body)

    @classmethod
    def from_message(cls, text: str | bytes) -> CampaignDialMessage:
        body = json_object(text)
        campaign_id, phone_number, dial = body.get("campaignId"), body.get("phoneNumber"), body.get("dial")
        if not (is_campaign_id(campaign_id) and is_phone_number(phone_number) and isinstance(dial, int)):
            raise ValidationError("message", "needs a campaignId, an E.164 phoneNumber and a dial number.")
        try:
            grant = Grant.from_dict(body["grant"]) if isinstance(body.get("grant"), dict) else None
        except (KeyError, TypeError, ValueError, IndexError):
            raise ValidationError("grant", "is not a line grant.") from None
        return cls(campaign_id, phone_number, dial, grant)
