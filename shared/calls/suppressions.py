"""The suppression list: numbers no campaign calls, because their callee opted out or someone asked.

Table `suppressions`, PartitionKey = the E.164 number, RowKey `suppression`: checking a number before a call is
one point read, and adding it again (an opt-out seen twice, a repeated request) finds the row already there and
keeps the first `addedAt`. Listing walks the table in number order, a page at a time.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.data.tables import TableClient

from shared.clock import Clock, iso, system_clock
from shared.fields import ValidationError, object_fields, phone_number_field
from shared.ids import is_phone_number

TABLE_NAME = "suppressions"
ROW = "suppression"
SUPPRESSED = "suppressed"  # the outcome of a campaign recipient whose number is on the list: it was not called
OPTED_OUT_REASON = "opted-out"  # the reason of a number whose callee pressed a plan's opt-out key
API_REASON = "requested"  # the reason of a number added through the API without one
MAX_REASON = 200
ADD_FIELDS = ("phoneNumber", "reason")


class InvalidContinuationError(ValueError):
    """A continuation token that no page of the list handed out."""


@dataclass(frozen=True)
class Suppression:
    phone_number: str
    reason: str
    # {"type": "opt-out", "campaignId": ..., "callLegId": ...} for an opt-out (campaignId None for a single call),
    # {"type": "api"} for one added through the API.
    source: dict[str, Any]
    added_at: str

    def to_dict(self) -> dict[str, Any]:
        return {"phoneNumber": self.phone_number, "reason": self.reason, "source": self.source,
                "addedAt": self.added_at}


def opt_out_source(campaign_id: str | None, call_leg_id: str) -> dict[str, Any]:
    return {"type": "opt-out", "campaignId": campaign_id, "callLegId": call_leg_id}


def parse_addition(body: Any) -> tuple[str, str]:
    """The number and reason of `POST /suppressions`; every problem names its field."""
    fields = object_fields(body, ADD_FIELDS)
    number = phone_number_field(fields.get("phonenumber"), "phoneNumber")
    reason = fields.get("reason")
    if reason is None:
        return number, API_REASON
    if not isinstance(reason, str) or not reason.strip() or len(reason) > MAX_REASON or not reason.isprintable():
        raise ValidationError("reason", f"must be 1 to {MAX_REASON} printable characters.")
    return number, reason.strip()


class SuppressionStore:
    def __init__(self, table: TableClient, clock: Clock = system_clock) -> None:
        self._table = table
        self._clock = clock

    def ensure_table(self) -> None:
        try:
            self._table.create_table()
        except ResourceExistsError:
            pass

    def add(self, phone_number: str, reason: str, source: Mapping[str, Any]) -> tuple[Suppression, bool]:
        """The number's entry, and whether this call added it (False: it was there, and stays as it was)."""
        entry = Suppression(phone_number, reason, dict(source), iso(self._clock()))
        try:
            self._table.create_entity(_to_entity(entry))
            return entry, True
        except ResourceExistsError:
            found = self.find(phone_number)
            if found is None:  # removed in between: add it again
                return self.add(phone_number, reason, source)
            return found, False

    def find(self, phone_number: str) -> Suppression | None:
        try:
            return _from_entity(self._table.get_entity(phone_number, ROW))
        except ResourceNotFoundError:
            return None

    def is_suppressed(self, phone_number: str) -> bool:
        return self.find(phone_number) is not None

    def remove(self, phone_number: str) -> bool:
        """False when the number was not on the list."""
        if self.find(phone_number) is None:
            return False
        self._table.delete_entity(phone_number, ROW)
        return True

    def page(self, page_size: int, continuation: str | None = None) -> tuple[list[Suppression], str | None]:
        """Up to `page_size` entries in number order, and the token of the next page (None after the last)."""
        after = read_continuation(continuation) if continuation else ""
        pages = self._table.query_entities(
            "PartitionKey gt @after", parameters={"after": after}, results_per_page=page_size
        ).by_page()
        rows = [row for row in list(next(pages, []))[:page_size] if row.get("RowKey") == ROW]
        entries = [_from_entity(row) for row in rows]
        more = len(entries) == page_size or pages.continuation_token is not None
        return entries, (continuation_token(entries[-1].phone_number) if more and entries else None)


def continuation_token(after: str) -> str:
    return base64.urlsafe_b64encode(after.encode()).decode().rstrip("=")


def read_continuation(token: str) -> str:
    try:
        after = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidContinuationError(token[:40]) from None
    if not is_phone_number(after):
        raise InvalidContinuationError(token[:40])
    return after


def _to_entity(entry: Suppression) -> dict[str, Any]:
    return {"PartitionKey": entry.phone_number, "RowKey": ROW, "reason": entry.reason,
            "source": json.dumps(entry.source, sort_keys=True), "addedAt": entry.added_at}


def _from_entity(entity: Mapping[str, Any]) -> Suppression:
    return Suppression(entity["PartitionKey"], entity.get("reason") or "", json.loads(entity.get("source") or "{}"),
                       entity.get("addedAt") or "")
