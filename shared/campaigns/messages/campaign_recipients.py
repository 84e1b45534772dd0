"""`campaign-recipients` (admission): `{"campaignId", "recipients": [...]}`, from uploads or other services (a public
format: a recipient is `"+1..."` or `{"phoneNumber", "timeZone", "language", "data"}`)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from shared.fields import ValidationError
from shared.ids import is_campaign_id
from shared.queue_messages import json_object
from shared.storage.clients import CAMPAIGN_RECIPIENTS_QUEUE

if TYPE_CHECKING:
    from shared.campaigns.service import RecipientEntry


@dataclass(frozen=True)
class CampaignRecipientsMessage:
    queue: ClassVar[str] = CAMPAIGN_RECIPIENTS_QUEUE

    campaign_id: str
    recipients: list[RecipientEntry]

    def to_message(self) -> str:
        recipients = [r.to_dict() for r in self.recipients]
        return json.dumps({"campaignId": self.campaign_id, "recipients": recipients})

    @classmethod
    def from_message(cls, text: str | bytes) -> CampaignRecipientsMessage:
        from shared.campaigns.service import (
            parse_recipients,  # campaigns sends these messages: imported when one is read
        )

        body = json_object(text)
        campaign_id = body.get("campaignId")
        if not is_campaign_id(campaign_id):
            raise ValidationError("campaignId", "must be the id of a campaign.")
        return cls(campaign_id, parse_recipients(body.get("recipients")))
