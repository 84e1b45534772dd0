"""Campaigns and their recipients in Table storage.

- table `campaigns`, RowKey `campaign`, PartitionKey = campaign id: the campaign (settings, status);
- table `recipients`, PartitionKey = `<campaign id>-<bucket 00..15>` (a hash of the number, so one big campaign
  is spread over 16 partitions), RowKey = the phone number. A recipient row is inserted once: listing someone
  twice, or a message delivered twice, finds the row already there.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, TypeVar

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import TableClient, UpdateMode

from .ids import is_campaign_id, is_phone_number

BUCKETS = 16
CAMPAIGN_ROW = "campaign"
MAX_UPDATE_ATTEMPTS = 20

# Recipient statuses. queued: waiting for its first call; calling: a call is live; waiting: a retry is scheduled.
QUEUED, CALLING, WAITING, DONE, CANCELLED, EXPIRED = "queued", "calling", "waiting", "done", "cancelled", "expired"
FINAL_STATUSES = frozenset({DONE, CANCELLED, EXPIRED})

T = TypeVar("T")


class CampaignNotFoundError(LookupError):
    pass


class CampaignExistsError(Exception):
    pass


class RecipientNotFoundError(LookupError):
    pass


@dataclass
class Campaign:
    campaign_id: str
    name: str
    config: dict[str, Any]  # plan, callerIds, pacing, retry, callingWindow, timeZone, expiresAt, emergency, ...
    status: str = "active"  # active | cancelled
    created_at: str = ""
    cancelled_at: str | None = None
    etag: str | None = None


@dataclass
class Recipient:
    campaign_id: str
    phone_number: str
    status: str = QUEUED
    time_zone: str | None = None
    attempts: int = 0  # calls that counted (a call ACS refused for throttling does not)
    dials: int = 0  # the last dial message acted on: a repeated message with a lower or equal number is stale
    enqueued: bool = False
    outcome: str | None = None
    outcome_code: dict[str, Any] | None = None
    call_leg_id: str | None = None
    digits: str | None = None
    submitted_at: str | None = None
    first_call_at: str | None = None
    last_call_at: str | None = None
    answered_at: str | None = None
    ended_at: str | None = None
    duration_seconds: float | None = None
    next_attempt_at: str | None = None
    history: list[dict[str, Any]] = field(default_factory=list)  # one entry per call: attempt, leg, outcome, times
    etag: str | None = None


def bucket_of(phone_number: str) -> int:
    return int(hashlib.sha256(phone_number.encode()).hexdigest()[:8], 16) % BUCKETS


def recipient_partition(campaign_id: str, phone_number: str) -> str:
    return f"{campaign_id}-{bucket_of(phone_number):02d}"


class CampaignStore:
    def __init__(self, campaigns: TableClient, recipients: TableClient) -> None:
        self._campaigns = campaigns
        self._recipients = recipients

    def ensure_tables(self) -> None:
        for table in (self._campaigns, self._recipients):
            try:
                table.create_table()
            except ResourceExistsError:
                pass

    # -- campaigns --------------------------------------------------------------------------------------

    def create_campaign(self, campaign: Campaign) -> Campaign:
        entity = {
            "PartitionKey": campaign.campaign_id,
            "RowKey": CAMPAIGN_ROW,
            "name": campaign.name,
            "config": json.dumps(campaign.config),
            "status": campaign.status,
            "created_at": campaign.created_at,
        }
        try:
            result = self._campaigns.create_entity(entity)
        except ResourceExistsError:
            raise CampaignExistsError(campaign.campaign_id) from None
        campaign.etag = result.get("etag")
        return campaign

    def get_campaign(self, campaign_id: str) -> Campaign:
        if not is_campaign_id(campaign_id):
            raise CampaignNotFoundError(campaign_id)  # no campaign has such an id: no need to ask storage
        try:
            entity = self._campaigns.get_entity(campaign_id, CAMPAIGN_ROW)
        except (ResourceNotFoundError, ValueError):
            raise CampaignNotFoundError(campaign_id) from None
        return Campaign(
            campaign_id=campaign_id,
            name=entity.get("name", ""),
            config=json.loads(entity.get("config") or "{}"),
            status=entity.get("status", "active"),
            created_at=entity.get("created_at", ""),
            cancelled_at=entity.get("cancelled_at"),
            etag=entity.metadata.get("etag"),
        )

    def cancel_campaign(self, campaign_id: str, now: str) -> Campaign:
        campaign = self.get_campaign(campaign_id)
        if campaign.status != "cancelled":
            self._campaigns.update_entity(
                {"PartitionKey": campaign_id, "RowKey": CAMPAIGN_ROW, "status": "cancelled", "cancelled_at": now},
                mode=UpdateMode.MERGE,
            )
            campaign.status, campaign.cancelled_at = "cancelled", now
        return campaign

    # -- recipients -------------------------------------------------------------------------------------

    def add_recipient(self, recipient: Recipient) -> bool:
        """Insert a recipient; False when the campaign already has this number."""
        try:
            result = self._recipients.create_entity(_recipient_entity(recipient))
        except ResourceExistsError:
            return False
        recipient.etag = result.get("etag")
        return True

    def get_recipient(self, campaign_id: str, phone_number: str) -> Recipient:
        if not (is_campaign_id(campaign_id) and is_phone_number(phone_number)):
            raise RecipientNotFoundError(f"{campaign_id[:40]}/{phone_number[:20]}")
        try:
            entity = self._recipients.get_entity(recipient_partition(campaign_id, phone_number), phone_number)
        except (ResourceNotFoundError, ValueError):
            raise RecipientNotFoundError(f"{campaign_id}/{phone_number}") from None
        return _recipient_from_entity(campaign_id, entity)

    def save_recipient(self, recipient: Recipient) -> None:
        """ETag-guarded; ResourceModifiedError when someone else changed it first."""
        result = self._recipients.update_entity(
            _recipient_entity(recipient),
            mode=UpdateMode.REPLACE,
            etag=recipient.etag,
            match_condition=MatchConditions.IfNotModified,
        )
        recipient.etag = result.get("etag")

    def update_recipient(
        self, campaign_id: str, phone_number: str, change: Callable[[Recipient], T], current: Recipient | None = None
    ) -> T:
        """Read, change and save, again from a fresh read when another writer got there first. `current`: the
        recipient as just read (with its ETag), to change first instead of reading it again."""
        for attempt in range(MAX_UPDATE_ATTEMPTS):
            fresh = attempt > 0 or current is None
            recipient = self.get_recipient(campaign_id, phone_number) if fresh else current
            result = change(recipient)
            try:
                self.save_recipient(recipient)
            except ResourceModifiedError:
                continue
            return result
        raise ResourceModifiedError(f"recipient {phone_number} kept changing")

    def list_recipients(self, campaign_id: str) -> list[Recipient]:
        recipients: list[Recipient] = []
        for bucket in range(BUCKETS):
            rows = self._recipients.query_entities(
                "PartitionKey eq @pk", parameters={"pk": f"{campaign_id}-{bucket:02d}"}
            )
            recipients.extend(_recipient_from_entity(campaign_id, row) for row in rows)
        return sorted(recipients, key=lambda r: (r.submitted_at or "", r.phone_number))


_JSON_FIELDS = ("outcome_code", "history")


def _recipient_entity(recipient: Recipient) -> dict[str, Any]:
    entity: dict[str, Any] = {
        "PartitionKey": recipient_partition(recipient.campaign_id, recipient.phone_number),
        "RowKey": recipient.phone_number,
    }
    for name, value in asdict(recipient).items():
        if name in ("campaign_id", "phone_number", "etag") or value is None:
            continue
        entity[name] = json.dumps(value) if name in _JSON_FIELDS else value
    return entity


def _recipient_from_entity(campaign_id: str, entity: Any) -> Recipient:
    values = {k: v for k, v in entity.items() if k not in ("PartitionKey", "RowKey", "Timestamp")}
    for name in _JSON_FIELDS:
        if name in values:
            values[name] = json.loads(values[name])
    recipient = Recipient(campaign_id=campaign_id, phone_number=entity["RowKey"], **values)
    recipient.etag = entity.metadata.get("etag")
    return recipient

