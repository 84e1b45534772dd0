"""Campaigns and their recipients in Table storage.

- table `campaigns`, RowKey `campaign`, PartitionKey = campaign id: the campaign (settings, status);
- table `recipients`, PartitionKey = `<campaign id>-<bucket 00..15>` (a hash of the number, so one big campaign
  is spread over 16 partitions), RowKey = the recipient id (its own id, such as a patient or appointment id, or
  without one its first phone number, as rows of before ids were keyed). A recipient row is inserted once:
  listing someone twice, or a message delivered twice, finds the row already there;
- in each recipient partition, 8 counter rows (RowKeys `~counts-0..7`, see campaign_counters): the counts by
  status and outcome, attempts, times and the per-minute timeline of ends of the partition's recipients whose
  numbers hash to that row. Every write of a recipient that changes what it counts for writes its counter row
  too, in one entity-group transaction with both rows ETag-guarded: the summary reads 16 partitions' counter
  rows (one query each) instead of every recipient, and they never drift.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import copy
import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, TypeVar

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import TableClient, TableTransactionError, UpdateMode

from shared.campaigns import counters
from shared.ids import is_campaign_id, is_recipient_id
from shared.logs import recipient_label
from shared.storage.contention import back_off

BUCKETS = 16
CAMPAIGN_ROW = "campaign"
MAX_UPDATE_ATTEMPTS = 20
# A partition's counts are split over COUNTER_SHARDS rows, each recipient counted in the one its number hashes
# to: a big campaign changes its counts ~3 times per call, and one row per partition taking every change would
# be a hot row whose ETag races grow with the instances.
COUNTER_SHARDS = 8
# An entity-group transaction holds at most 100 operations: the recipients and the counter rows they count in.
BATCH_ROWS = 100 - COUNTER_SHARDS

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


class InvalidContinuationError(ValueError):
    """A `continuation` that no page of ours handed out."""


class CallsStoppedError(Exception):
    """The campaign was cancelled: its recipients may no longer be marked as being called (see `stop_calls`)."""


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
    recipient_id: str  # its key: its own id, or (without one) its first phone number
    status: str = QUEUED
    time_zone: str | None = None
    language: str | None = None  # BCP 47: which of the plan's languages it hears
    data: dict[str, str] | None = None  # the fields its plan's placeholders are filled from (campaigns/personal.py)
    attempts: int = 0  # calls that counted (a call ACS refused for throttling does not)
    dials: int = 0  # the last dial message acted on: a repeated message with a lower or equal number is stale
    enqueued: bool = False
    outcome: str | None = None
    outcome_code: dict[str, Any] | None = None
    call_leg_id: str | None = None
    digits: str | None = None
    choice: dict[str, str] | None = None  # a poll's answer on its last call, {key, label}
    voicemail_left: bool = False  # its last call left the plan's voicemail
    submitted_at: str | None = None
    first_call_at: str | None = None
    last_call_at: str | None = None
    answered_at: str | None = None
    ended_at: str | None = None
    duration_seconds: float | None = None
    next_attempt_at: str | None = None
    history: list[dict[str, Any]] = field(default_factory=list)  # one entry per call: attempt, leg, outcome, times
    # The numbers to try, in order (None: just the recipient id, a phone number), and the one it is on.
    phone_numbers: list[str] | None = None
    number_index: int = 0
    answered_number: str | None = None  # the number whose call was answered
    not_before: str | None = None  # ISO instants: no call starts before, and one not called by not_after expires
    not_after: str | None = None
    etag: str | None = None

    @property
    def numbers(self) -> list[str]:
        """Its phone numbers, in the order they are tried."""
        return list(self.phone_numbers) if self.phone_numbers else [self.recipient_id]

    @property
    def phone_number(self) -> str:
        """The number its next (or current) call dials."""
        numbers = self.numbers
        return numbers[min(self.number_index, len(numbers) - 1)]


def bucket_of(recipient_id: str) -> int:
    return int(hashlib.sha256(recipient_id.encode()).hexdigest()[:8], 16) % BUCKETS


def recipient_partition(campaign_id: str, recipient_id: str) -> str:
    return f"{campaign_id}-{bucket_of(recipient_id):02d}"


def counter_row_of(recipient_id: str) -> str:
    """The counter row (within the recipient's partition) that counts this recipient: other bits of the same hash."""
    digest = hashlib.sha256(recipient_id.encode()).hexdigest()
    return counters.counter_row(int(digest[8:16], 16) % COUNTER_SHARDS)


class CounterRows:
    """The counter rows this instance last read or wrote, with their ETags, and one lock per row.

    Why a cache of our own: every recipient transition rewrites its counter row, and reading the row first would
    cost one more request per write. A copy that another instance has overtaken only fails the ETag-guarded
    transaction, which then reads the row afresh; the lock keeps this instance's own writers from racing each
    other for the same row. Bounded: the least recently used rows are forgotten first."""

    def __init__(self, table: TableClient, limit: int = 4096) -> None:
        self._table = table
        self._limit = limit
        self._rows: OrderedDict[tuple[str, str], tuple[counters.Counts, str | None]] = OrderedDict()
        self._locks: dict[tuple[str, str], threading.Lock] = {}
        self._guard = threading.Lock()

    def lock(self, key: tuple[str, str]) -> threading.Lock:
        with self._guard:
            if len(self._locks) > self._limit:
                self._locks = {k: v for k, v in self._locks.items() if v.locked()}
            return self._locks.setdefault(key, threading.Lock())

    def read(self, key: tuple[str, str]) -> tuple[counters.Counts, str | None]:
        """The row as last known (a copy to change), or as stored; (empty, None) when there is none yet."""
        with self._guard:
            known = self._rows.get(key)
        if known is not None:
            return copy.deepcopy(known[0]), known[1]
        try:
            entity = self._table.get_entity(*key)
        except ResourceNotFoundError:
            return counters.Counts(), None
        return counters.from_entity(entity), entity.metadata.get("etag")

    def remember(self, key: tuple[str, str], counts: counters.Counts, etag: str | None) -> None:
        with self._guard:
            self._rows[key] = (copy.deepcopy(counts), etag)
            self._rows.move_to_end(key)
            while len(self._rows) > self._limit:
                self._rows.popitem(last=False)

    def forget(self, keys: list[tuple[str, str]]) -> None:
        with self._guard:
            for key in keys:
                self._rows.pop(key, None)


class CampaignStore:
    def __init__(self, campaigns: TableClient, recipients: TableClient) -> None:
        self._campaigns = campaigns
        self._recipients = recipients
        self._counter_rows = CounterRows(recipients)

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
        """Mark the campaign cancelled, then stop its calls. Both again when asked again: a cancel that failed
        half-way is finished by its retry."""
        campaign = self.get_campaign(campaign_id)
        if campaign.status != "cancelled":
            self._campaigns.update_entity(
                {"PartitionKey": campaign_id, "RowKey": CAMPAIGN_ROW, "status": "cancelled", "cancelled_at": now},
                mode=UpdateMode.MERGE,
            )
            campaign.status, campaign.cancelled_at = "cancelled", now
        self.stop_calls(campaign_id)
        return campaign

    def stop_calls(self, campaign_id: str) -> None:
        """From now on no recipient of the campaign is marked as being called (`update_recipient(...,
        unless_stopped=True)` raises CallsStoppedError instead).

        Why on the counter rows: a dial marks its recipient calling in one transaction with the recipient's counter
        row, guarded by that row's ETag. Flagging every counter row (one merge each, so no count is touched)
        changes those ETags, so a dial either committed before this, or reads the row again and sees the flag. No
        dial has to read the campaign afresh to learn of a cancel: one request per call less."""
        flag = {counters.STOPPED: True}
        for bucket in range(BUCKETS):
            partition = f"{campaign_id}-{bucket:02d}"
            keys = [(partition, counters.counter_row(shard)) for shard in range(COUNTER_SHARDS)]
            self._recipients.submit_transaction(
                [("upsert", {"PartitionKey": p, "RowKey": r, **flag}, {"mode": UpdateMode.MERGE}) for p, r in keys]
            )
            self._counter_rows.forget(keys)

    # -- recipients -------------------------------------------------------------------------------------

    def add_recipient(self, recipient: Recipient) -> bool:
        """Insert a recipient (and count it); False when the campaign already has this recipient id."""
        return self.add_recipients([recipient])[0]

    def add_recipients(self, recipients: list[Recipient]) -> list[bool]:
        """Insert recipients, each once, counted in their partitions' counter rows: one transaction per partition
        and up to BATCH_ROWS recipients. For each, False when the campaign had the recipient id already."""
        added = [False] * len(recipients)
        groups: dict[str, list[int]] = {}
        for index, recipient in enumerate(recipients):
            groups.setdefault(recipient_partition(recipient.campaign_id, recipient.recipient_id), []).append(index)
        for partition, indexes in groups.items():
            for start in range(0, len(indexes), BATCH_ROWS):
                chunk = indexes[start : start + BATCH_ROWS]
                if len(chunk) > 1 and self._insert([recipients[i] for i in chunk], partition):
                    for i in chunk:
                        added[i] = True
                    continue
                # One of them was there already (a repeated message), or a single row: one at a time.
                for i in chunk:
                    added[i] = self._insert_one(recipients[i], partition)
        return added

    def _insert_one(self, recipient: Recipient, partition: str) -> bool:
        for attempt in range(MAX_UPDATE_ATTEMPTS):
            back_off(attempt)
            if self._insert([recipient], partition):
                return True
            try:
                self._recipients.get_entity(partition, recipient.recipient_id)
                return False  # listed before
            except ResourceNotFoundError:
                continue  # the counter row changed under us: count again
        raise ResourceModifiedError(f"counts of {partition} kept changing")

    def _insert(self, recipients: list[Recipient], partition: str) -> bool:
        """Create the rows and add them to their counter rows, all or nothing; False if the transaction failed."""
        added: dict[tuple[str, str], counters.Counts] = {}
        for recipient in recipients:
            key = (partition, counter_row_of(recipient.recipient_id))
            added.setdefault(key, counters.Counts()).add(counters.contribution(recipient))
        keys = sorted(added)  # locks always taken in the same order: no two writers wait for each other
        with contextlib.ExitStack() as held:
            for key in keys:
                held.enter_context(self._counter_rows.lock(key))
            operations: list[Any] = [("create", _recipient_entity(r)) for r in recipients]
            updated = []
            for key in keys:
                counts, etag = self._counter_rows.read(key)
                updated.append(counts.add(added[key]))
                operations.append(_counter_operation(key, updated[-1], etag))
            try:
                results = self._recipients.submit_transaction(operations)
            except (TableTransactionError, ResourceExistsError, ResourceModifiedError, ResourceNotFoundError):
                self._counter_rows.forget(keys)
                return False
            for key, counts, result in zip(keys, updated, results[len(recipients) :], strict=True):
                self._counter_rows.remember(key, counts, result.get("etag"))
        for recipient, result in zip(recipients, results, strict=False):
            recipient.etag = result.get("etag")
        return True

    def get_recipient(self, campaign_id: str, recipient_id: str) -> Recipient:
        # The error may reach a log (a poisoned message's reason): it names the recipient as logs do.
        if not (is_campaign_id(campaign_id) and is_recipient_id(recipient_id)):
            raise RecipientNotFoundError(f"{campaign_id[:40]}/{recipient_label(str(recipient_id)[:64])}")
        try:
            entity = self._recipients.get_entity(recipient_partition(campaign_id, recipient_id), recipient_id)
        except (ResourceNotFoundError, ValueError):
            raise RecipientNotFoundError(f"{campaign_id}/{recipient_label(recipient_id)}") from None
        return _recipient_from_entity(campaign_id, entity)

    def update_recipient(
        self,
        campaign_id: str,
        recipient_id: str,
        change: Callable[[Recipient], T],
        current: Recipient | None = None,
        *,
        unless_stopped: bool = False,
    ) -> T:
        """Read, change and save, again from a fresh read when another writer got there first. `current`: the
        recipient as just read (with its ETag), to change first instead of reading it again. `unless_stopped`:
        CallsStoppedError, with nothing written, once the campaign's calls were stopped (`stop_calls`)."""
        for attempt in range(MAX_UPDATE_ATTEMPTS):
            back_off(attempt)
            fresh = attempt > 0 or current is None
            recipient = self.get_recipient(campaign_id, recipient_id) if fresh else current
            before = copy.deepcopy(recipient)
            result = change(recipient)
            try:
                self._save(before, recipient, unless_stopped=unless_stopped)
            except ResourceModifiedError:
                continue
            return result
        raise ResourceModifiedError(f"recipient {recipient_label(recipient_id)} kept changing")

    def _save(self, before: Recipient, after: Recipient, *, unless_stopped: bool = False) -> None:
        """Write `after` over `before` (as read, with its ETag), and the counter row by the difference; with
        `unless_stopped`, always with the counter row, whose ETag guards against `stop_calls`."""
        entity = _recipient_entity(after)
        if entity == _recipient_entity(before):
            return  # nothing changed (a repeated message): nothing to write, nothing to count twice
        old, new = counters.contribution(before), counters.contribution(after)
        if old == new and not unless_stopped:
            result = self._recipients.update_entity(
                entity, mode=UpdateMode.REPLACE, etag=before.etag, match_condition=MatchConditions.IfNotModified
            )
            after.etag = result.get("etag")
            return
        key = (entity["PartitionKey"], counter_row_of(after.recipient_id))
        with self._counter_rows.lock(key):
            counts, etag = self._counter_rows.read(key)
            if unless_stopped and counts.stopped:
                raise CallsStoppedError(before.campaign_id)
            counts.add(old, -1).add(new)
            operations = [
                ("update", entity, {"mode": UpdateMode.REPLACE, "etag": before.etag,
                                    "match_condition": MatchConditions.IfNotModified}),
                _counter_operation(key, counts, etag),
            ]
            try:
                results = self._recipients.submit_transaction(operations)
            except (TableTransactionError, ResourceExistsError, ResourceNotFoundError) as error:
                # The recipient or its counter row changed since they were read: read both again.
                self._counter_rows.forget([key])
                raise ResourceModifiedError(str(error)) from None
            self._counter_rows.remember(key, counts, results[1].get("etag"))
        after.etag = results[0].get("etag")

    def read_counts(self, campaign_id: str) -> counters.Counts:
        """The campaign's counts: the counter rows of its 16 partitions (one query each), whatever the number of
        recipients. `RowKey gt '~'` leaves every recipient out."""
        parts = []
        for bucket in range(BUCKETS):
            partition = f"{campaign_id}-{bucket:02d}"
            rows = self._recipients.query_entities(
                "PartitionKey eq @pk and RowKey gt @counts", parameters={"pk": partition, "counts": "~"}
            )
            parts.extend(counters.from_entity(row) for row in rows)
        return counters.total(parts)

    def recipients_page(
        self, campaign_id: str, page_size: int, continuation: str | None = None
    ) -> tuple[list[Recipient], str | None]:
        """Up to `page_size` recipients, partition by partition in recipient id order, and the continuation for the
        next page (None after the last). Only one page is ever in memory."""
        bucket, after = read_continuation(continuation) if continuation else (0, "")
        page: list[Recipient] = []
        while bucket < BUCKETS and len(page) < page_size:
            rows, more = self._rows_after(f"{campaign_id}-{bucket:02d}", after, page_size - len(page))
            page.extend(_recipient_from_entity(campaign_id, row) for row in rows)
            if rows:
                after = rows[-1]["RowKey"]
            if not more:
                bucket, after = bucket + 1, ""
        if bucket >= BUCKETS:
            return page, None
        return page, continuation_token(bucket, after)

    def _rows_after(self, partition: str, after: str, limit: int) -> tuple[list[Any], bool]:
        """Recipient rows of a partition after RowKey `after`: at most `limit`, and whether more may follow.
        `RowKey lt '~'` leaves the counter rows out."""
        pages = self._recipients.query_entities(
            "PartitionKey eq @pk and RowKey gt @after and RowKey lt @counts",
            parameters={"pk": partition, "after": after, "counts": "~"},
            results_per_page=limit,
        ).by_page()
        rows = list(next(pages, []))[:limit]
        return rows, len(rows) == limit or pages.continuation_token is not None

    def list_recipients(self, campaign_id: str) -> list[Recipient]:
        """Every recipient, in memory: for tools and tests on small campaigns. The API pages (recipients_page)."""
        recipients: list[Recipient] = []
        token: str | None = None
        while True:
            page, token = self.recipients_page(campaign_id, 1000, token)
            recipients.extend(page)
            if token is None:
                break
        return sorted(recipients, key=lambda r: (r.submitted_at or "", r.recipient_id))


def _counter_operation(key: tuple[str, str], counts: counters.Counts, etag: str | None) -> Any:
    """Replace the counter row as read (ETag-guarded), or create it when there was none."""
    entity = counters.to_entity(*key, counts)
    if etag is None:
        return ("create", entity)
    guard = {"mode": UpdateMode.REPLACE, "etag": etag, "match_condition": MatchConditions.IfNotModified}
    return ("update", entity, guard)


def continuation_token(bucket: int, after: str) -> str:
    return base64.urlsafe_b64encode(f"{bucket}:{after}".encode()).decode().rstrip("=")


def read_continuation(token: str) -> tuple[int, str]:
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        bucket_text, after = text.split(":", 1)
        bucket = int(bucket_text)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidContinuationError(token[:40]) from None
    if not 0 <= bucket < BUCKETS or not (after == "" or is_recipient_id(after)) or not bucket_text.isdigit():
        raise InvalidContinuationError(token[:40])
    return bucket, after


_JSON_FIELDS = ("outcome_code", "history", "data", "choice", "phone_numbers")


def _recipient_entity(recipient: Recipient) -> dict[str, Any]:
    entity: dict[str, Any] = {
        "PartitionKey": recipient_partition(recipient.campaign_id, recipient.recipient_id),
        "RowKey": recipient.recipient_id,
    }
    for name, value in asdict(recipient).items():
        if name in ("campaign_id", "recipient_id", "etag") or value is None or (name == "number_index" and not value):
            continue
        entity[name] = json.dumps(value) if name in _JSON_FIELDS else value
    return entity


def _recipient_from_entity(campaign_id: str, entity: Any) -> Recipient:
    values = {k: v for k, v in entity.items() if k not in ("PartitionKey", "RowKey", "Timestamp")}
    for name in _JSON_FIELDS:
        if name in values:
            values[name] = json.loads(values[name])
    recipient = Recipient(campaign_id=campaign_id, recipient_id=entity["RowKey"], **values)
    recipient.etag = entity.metadata.get("etag")
    return recipient

