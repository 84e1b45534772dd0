"""What a campaign's summary needs, kept as counts so reading it costs the same for 10 or 10 million recipients.

Each recipient partition (`<campaign id>-<bucket>`) holds campaign_store.COUNTER_SHARDS counter rows
(RowKeys `~counts-<n>`: `~` sorts after every recipient id, a phone number or letters, digits and `-_.:`, and no
recipient id can be one). Row n is the sum of `contribution(recipient)` over the partition's recipients whose id
hashes to n.
Every write that changes a recipient's contribution changes its counter row by the difference in the same
entity-group transaction, both ETag-guarded (see CampaignStore), so the two never disagree: a crash leaves both
or neither, and a redelivered message that finds the recipient already moved on changes nothing.

Pure: no storage here, only the counts, their arithmetic and their entity form.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

# The module, not its names: campaign_store imports this module too, and uses it only at call time.
from shared.campaigns import store as campaign_store

if TYPE_CHECKING:
    from shared.campaigns.store import Recipient

COUNTER_ROW_PREFIX = "~counts-"
STOPPED = "callsStopped"  # the property CampaignStore.stop_calls sets on every counter row of a cancelled campaign
UNKNOWN_OUTCOME = "unknown"  # a done recipient without a recorded outcome (should not happen)
# The timeline is kept per minute; a campaign that runs so long that its timeline would crowd the entity (1 MB,
# 64 KB per property) is kept per 2, 4, ... minutes instead. 12 chunks of 30,000 characters stay far below.
CHUNK_CHARS, MAX_CHUNKS = 30_000, 12


@dataclass
class Counts:
    by_status: dict[str, int] = field(default_factory=dict)
    by_outcome: dict[str, int] = field(default_factory=dict)  # done recipients by their final outcome
    by_choice: dict[str, int] = field(default_factory=dict)  # done recipients by the poll key they chose
    attempts: int = 0
    called: int = 0  # recipients called at least once
    duration_sum: float = 0.0  # answered-to-ended seconds, over the recipients that have a duration
    duration_count: int = 0
    # Earliest first call and latest end ever seen: kept, never taken back (both only move one way in practice).
    first_call_at: str | None = None
    last_ended_at: str | None = None
    # Done recipients by the minute their last call ended (minutes since the epoch, floored to bin_minutes),
    # then by outcome: the outcome chart and the reach-over-time figures come from here, not from the rows.
    ended: dict[int, dict[str, int]] = field(default_factory=dict)
    bin_minutes: int = 1
    # Done contacts with several numbers that were answered, by the position (1, 2, ...) of the number that was.
    by_answered_number: dict[str, int] = field(default_factory=dict)
    # Not a count: the row's campaign was cancelled, and no more recipients may start a call (kept once set).
    stopped: bool = False

    @property
    def recipients(self) -> int:
        return sum(self.by_status.values())

    def add(self, other: Counts, sign: int = 1) -> Counts:
        """This plus (or, with sign=-1, minus) `other`, in place; counts that reach 0 are dropped."""
        _add_counts(self.by_status, other.by_status, sign)
        _add_counts(self.by_outcome, other.by_outcome, sign)
        _add_counts(self.by_answered_number, other.by_answered_number, sign)
        _add_counts(self.by_choice, other.by_choice, sign)
        self.attempts += sign * other.attempts
        self.called += sign * other.called
        self.duration_sum = round(self.duration_sum + sign * other.duration_sum, 3)
        self.duration_count += sign * other.duration_count
        # Times are not subtracted: an earliest/latest cannot be undone without the rows. A recipient's first
        # call never changes once set, and a later end only moves the latest on.
        self.first_call_at = _earliest(self.first_call_at, other.first_call_at)
        self.last_ended_at = _latest(self.last_ended_at, other.last_ended_at)
        self.stopped = self.stopped or other.stopped
        width = max(self.bin_minutes, other.bin_minutes)
        if width != self.bin_minutes:
            self._rebin(width)
        for minute, outcomes in other.ended.items():
            key = minute - minute % width
            slot = self.ended.setdefault(key, {})
            _add_counts(slot, outcomes, sign)
            if not slot:
                del self.ended[key]
        return self

    def _rebin(self, width: int) -> None:
        merged: dict[int, dict[str, int]] = {}
        for minute, outcomes in self.ended.items():
            _add_counts(merged.setdefault(minute - minute % width, {}), outcomes, 1)
        self.ended, self.bin_minutes = merged, width


def contribution(recipient: Recipient) -> Counts:
    """What one recipient adds to its partition's counter row."""
    counts = Counts(by_status={recipient.status: 1}, attempts=recipient.attempts, called=int(recipient.attempts > 0))
    if recipient.duration_seconds is not None:
        counts.duration_sum, counts.duration_count = float(recipient.duration_seconds), 1
    counts.first_call_at = _iso(parse_time(recipient.first_call_at))
    counts.last_ended_at = _iso(parse_time(recipient.ended_at))
    if recipient.status == campaign_store.DONE:
        outcome = recipient.outcome or UNKNOWN_OUTCOME
        counts.by_outcome = {outcome: 1}
        numbers = recipient.numbers
        if len(numbers) > 1 and recipient.answered_number in numbers:
            counts.by_answered_number = {str(numbers.index(recipient.answered_number) + 1): 1}
        key = (recipient.choice or {}).get("key")
        if isinstance(key, str) and key:
            counts.by_choice = {key: 1}
        # A done recipient whose call never got an end time (a dial given up on) counts from its last call.
        moment = parse_time(recipient.ended_at) or parse_time(recipient.last_call_at)
        if moment is not None:
            counts.ended = {minute_of(moment): {outcome: 1}}
    return counts


def counts_of(recipients: Iterable[Recipient]) -> Counts:
    """The counts of any set of recipients (what the counter rows of their partitions add up to)."""
    total = Counts()
    for recipient in recipients:
        total.add(contribution(recipient))
    return total


def total(parts: Iterable[Counts]) -> Counts:
    result = Counts()
    for part in parts:
        result.add(part)
    return result


def minute_of(moment: datetime) -> int:
    return int(moment.timestamp() // 60)


def minute_start(minute: int) -> datetime:
    return datetime.fromtimestamp(minute * 60, UTC)


# -- entity form ------------------------------------------------------------------------------------------------


def counter_row(shard: int) -> str:
    return f"{COUNTER_ROW_PREFIX}{shard}"


def to_entity(partition: str, row: str, counts: Counts) -> dict[str, Any]:
    """A counter row. Dicts are JSON (statuses and outcomes are data, not valid property names)."""
    chunks = _timeline_chunks(counts)
    entity: dict[str, Any] = {
        "PartitionKey": partition,
        "RowKey": row,
        "byStatus": json.dumps(counts.by_status, sort_keys=True),
        "byOutcome": json.dumps(counts.by_outcome, sort_keys=True),
        "byChoice": json.dumps(counts.by_choice, sort_keys=True),
        "attempts": counts.attempts,
        "called": counts.called,
        "durationSum": float(counts.duration_sum),
        "durationCount": counts.duration_count,
        "binMinutes": counts.bin_minutes,
        "endedChunks": len(chunks),
    }
    for index, chunk in enumerate(chunks):
        entity[f"ended{index}"] = chunk
    if counts.by_answered_number:
        entity["byAnsweredNumber"] = json.dumps(counts.by_answered_number, sort_keys=True)
    if counts.first_call_at:
        entity["firstCallAt"] = counts.first_call_at
    if counts.last_ended_at:
        entity["lastEndedAt"] = counts.last_ended_at
    if counts.stopped:
        entity[STOPPED] = True
    return entity


def from_entity(entity: Mapping[str, Any]) -> Counts:
    timeline = "".join(str(entity.get(f"ended{i}", "")) for i in range(int(entity.get("endedChunks", 0) or 0)))
    return Counts(
        by_status=json.loads(entity.get("byStatus") or "{}"),
        by_outcome=json.loads(entity.get("byOutcome") or "{}"),
        by_choice=json.loads(entity.get("byChoice") or "{}"),
        attempts=int(entity.get("attempts", 0) or 0),
        called=int(entity.get("called", 0) or 0),
        duration_sum=float(entity.get("durationSum", 0) or 0),
        duration_count=int(entity.get("durationCount", 0) or 0),
        first_call_at=entity.get("firstCallAt"),
        last_ended_at=entity.get("lastEndedAt"),
        ended={int(k): v for k, v in json.loads(timeline or "{}").items()},
        bin_minutes=int(entity.get("binMinutes", 1) or 1),
        by_answered_number=json.loads(entity.get("byAnsweredNumber") or "{}"),
        stopped=bool(entity.get(STOPPED)),
    )


def _timeline_chunks(counts: Counts) -> list[str]:
    """The timeline as JSON in property-sized pieces, coarsened until it fits the entity."""
    while True:
        text = json.dumps({str(k): v for k, v in sorted(counts.ended.items())}, separators=(",", ":"))
        if len(text) <= CHUNK_CHARS * MAX_CHUNKS:
            return [text[i : i + CHUNK_CHARS] for i in range(0, len(text), CHUNK_CHARS)] if counts.ended else []
        counts._rebin(counts.bin_minutes * 2)


# -- helpers ----------------------------------------------------------------------------------------------------


def _add_counts(into: dict[str, int], other: Mapping[str, int], sign: int) -> None:
    for key, value in other.items():
        into[key] = into.get(key, 0) + sign * value
        if into[key] == 0:
            del into[key]


def parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (TypeError, ValueError):
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _earliest(a: str | None, b: str | None) -> str | None:
    # Both are UTC ISO strings written by _iso, so comparing their datetimes is exact.
    values = [m for m in (parse_time(a), parse_time(b)) if m]
    return _iso(min(values)) if values else None


def _latest(a: str | None, b: str | None) -> str | None:
    values = [m for m in (parse_time(a), parse_time(b)) if m]
    return _iso(max(values)) if values else None
