"""In-memory stand-ins for the app's stores, for fast unit tests of the services (no Azurite, no emulator).

Each keeps the answers of the store it stands in for (errors included), but none of its storage details.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any, TypeVar

from shared.call_leg_store import CallLegNotFoundError
from shared.call_legs import CallLeg
from shared.campaign_store import (
    Campaign,
    CampaignExistsError,
    CampaignNotFoundError,
    Recipient,
    RecipientNotFoundError,
)

T = TypeVar("T")


class CampaignTables:
    """Campaigns and recipients in memory, with CampaignStore's answers."""

    def __init__(self) -> None:
        self.campaigns: dict[str, Campaign] = {}
        self.recipients: dict[str, list[Recipient]] = {}

    def create_campaign(self, campaign: Campaign) -> Campaign:
        if campaign.campaign_id in self.campaigns:
            raise CampaignExistsError(campaign.campaign_id)
        self.campaigns[campaign.campaign_id] = campaign
        return campaign

    def get_campaign(self, campaign_id: str) -> Campaign:
        if campaign_id not in self.campaigns:
            raise CampaignNotFoundError(campaign_id)
        return copy.deepcopy(self.campaigns[campaign_id])

    def cancel_campaign(self, campaign_id: str, now: str) -> Campaign:
        campaign = self.get_campaign(campaign_id)
        campaign.status, campaign.cancelled_at = "cancelled", now
        self.campaigns[campaign_id] = campaign
        return campaign

    def add_recipient(self, recipient: Recipient) -> bool:
        listed = self.recipients.setdefault(recipient.campaign_id, [])
        if any(r.phone_number == recipient.phone_number for r in listed):
            return False
        listed.append(copy.deepcopy(recipient))
        return True

    def get_recipient(self, campaign_id: str, phone_number: str) -> Recipient:
        for recipient in self.recipients.get(campaign_id, []):
            if recipient.phone_number == phone_number:
                return copy.deepcopy(recipient)
        raise RecipientNotFoundError(f"{campaign_id}/{phone_number}")

    def update_recipient(self, campaign_id: str, phone_number: str, change: Callable[[Recipient], T]) -> T:
        recipient = self.get_recipient(campaign_id, phone_number)
        result = change(recipient)
        listed = self.recipients[campaign_id]
        listed[[r.phone_number for r in listed].index(phone_number)] = recipient
        return result

    def list_recipients(self, campaign_id: str) -> list[Recipient]:
        return [copy.deepcopy(r) for r in self.recipients.get(campaign_id, [])]


class CallLegs:
    """Call legs and the live-leg index in memory, with CallLegStore's answers."""

    def __init__(self) -> None:
        self.legs: dict[str, CallLeg] = {}
        self.watched: dict[str, float] = {}  # live leg id -> when to look at it next

    def get(self, call_leg_id: str) -> CallLeg:
        if call_leg_id not in self.legs:
            raise CallLegNotFoundError(call_leg_id)
        return copy.deepcopy(self.legs[call_leg_id])

    def find(self, call_leg_id: str) -> CallLeg | None:
        return copy.deepcopy(self.legs.get(call_leg_id))

    def watch(self, call_leg_id: str, check_after: float) -> None:
        self.watched[call_leg_id] = check_after

    def unwatch(self, call_leg_id: str) -> None:
        self.watched.pop(call_leg_id, None)

    def due_for_check(self, now: float, limit: int = 1000) -> list[str]:
        due = [leg for leg, check_after in self.watched.items() if check_after <= now]
        return sorted(due, key=self.watched.__getitem__)[:limit]


class Pacer:
    """Records which holders had their slots released."""

    def __init__(self) -> None:
        self.released: list[tuple[str, str]] = []

    def release_holder(self, holder: str, scope: str, caller_ids: Any = None) -> int:
        self.released.append((holder, scope))
        return 1


class Queue:
    """A queue client that keeps what was sent (with its delay)."""

    def __init__(self) -> None:
        self.messages: list[str] = []
        self.delays: list[int | None] = []

    def create_queue(self) -> None:
        pass

    def send_message(self, text: str, visibility_timeout: int | None = None) -> None:
        self.messages.append(text)
        self.delays.append(visibility_timeout)
