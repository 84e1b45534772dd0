"""Lines: how many calls may be live at once, and who gets a line when one frees.

ACS lets each caller number carry a few live calls (2 by default) and refuses more with 429/8530. A line is the
right to one live call on one caller number; every call placed with a phone caller id holds one, whichever
campaign (or none) placed it. A campaign call also holds a seat of its campaign (the campaign's own cap), and,
when a resource-wide cap is set, a resource seat.

All of it lives in the table `pacing`, one partition per thing that is counted, so that no row is shared by every
call and throughput grows with the number of caller numbers:

- `number-<caller id>`: rows `line-NNN` (holder = the call leg id, campaign, expiresAt) and, per campaign using
  the number, `rate-<campaign id>` (when its next call on this number may start: a campaign's callsPerSecond is
  shared out over its numbers, so no single row takes every start);
- `campaign-<id>`: rows `seat-NNN`, one per call the campaign may have live (created with the campaign);
- `resource`: rows `seat-NNNN` for the optional resource-wide cap (one partition by nature: leave it unset to
  have no such hot spot);
- `waiting-<campaign id>`: the campaign's recipients ready to be called, oldest first (the RowKey starts with
  the time they became ready); a recipient is claimed, its dial sent, then its row deleted;
- `waiting`: one row per campaign that has recipients waiting, so a freed line reaches them.

Every row is taken and given up with its ETag, so two instances never hold the same row. A holder keeps its rows
until it gives them up or its lease lapses (`expiresAt`); leases are renewed while the call lives (see
reconciliation), so they lapse only when whoever held them is gone. A line row also says when reconciliation
should look at its call (`checkAfter`): a call that holds a line needs no other entry to be watched.
"""

from __future__ import annotations

import math
import random
import threading
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.data.tables import TableClient, TableTransactionError, UpdateMode

from shared.clock import Clock, system_clock

TABLE_NAME = "pacing"
NUMBER_PREFIX, CAMPAIGN_PREFIX, RESOURCE = "number-", "campaign-", "resource"
WAITING_PREFIX, WAITING_CAMPAIGNS = "waiting-", "waiting"
LINE, SEAT, RATE = "line-", "seat-", "rate-"
MAX_LINES_PER_NUMBER = 1000  # line numbers are three digits
MAX_SEATS = 100_000
NUMBERS_TRIED = 6  # caller numbers looked at for a free line before the call waits for one to free
CLAIM_SECONDS = 60.0  # a recipient taken from the line, whose dial was never sent, is back in it after this
_LOST_RACE = (404, 409, 412)  # gone, created by someone else meanwhile, changed by someone else meanwhile
_FORBIDDEN_KEY_CHARS = set("/\\#?")

SlotKey = tuple[str, str]  # (PartitionKey, RowKey)


class LinesBusyError(Exception):
    """Every line of the caller number is in use (ACS would refuse the call with 429/8530)."""

    def __init__(self, caller_id: str, retry_after: float) -> None:
        super().__init__(f"every line of the caller number is busy; try again in {retry_after:.0f} s")
        self.caller_id = caller_id
        self.retry_after = retry_after


@dataclass(frozen=True)
class Grant:
    """The rows one call holds. Kept with the call leg (and in a dial message) so any instance can give them up."""

    holder: str  # the call leg id
    caller_id: str
    line: SlotKey
    seat: SlotKey | None = None  # the campaign's
    resource_seat: SlotKey | None = None
    start_at: float = 0.0  # epoch seconds: the campaign's rate lets the call start then
    granted_at: float = 0.0  # epoch seconds: when its leases were (last) taken

    def rows(self) -> list[SlotKey]:
        return [key for key in (self.line, self.seat, self.resource_seat) if key is not None]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, value: dict[str, Any]) -> Grant:
        def key(name: str) -> SlotKey | None:
            pair = value.get(name)
            return (str(pair[0]), str(pair[1])) if pair else None

        line = key("line")
        if line is None:
            raise ValueError("a grant names its line")
        return cls(
            holder=str(value["holder"]),
            caller_id=str(value["caller_id"]),
            line=line,
            seat=key("seat"),
            resource_seat=key("resource_seat"),
            start_at=float(value.get("start_at") or 0.0),
            granted_at=float(value.get("granted_at") or 0.0),
        )


@dataclass(frozen=True)
class Wanted:
    """What a call needs to start: a line on one of `caller_ids`, and for a campaign call a seat of the campaign,
    at the campaign's pace."""

    holder: str
    caller_ids: Sequence[str]
    campaign_id: str | None = None
    campaign_cap: int | None = None  # seats the campaign has (created with it: see `open_campaign`)
    per_number: int | None = None  # a campaign may keep its numbers to fewer lines than they have
    calls_per_second: float = math.inf
    prefer: str | None = None  # a caller id to try first (one that just freed a line)

    def needs_seat(self, lines_per_number: int) -> bool:
        """Whether the campaign's own cap can bind: not when its numbers have no more lines than it has seats
        (then the lines alone keep it to its cap, and a seat would be two more requests per call)."""
        if self.campaign_id is None:
            return False
        if self.campaign_cap is None:
            return True
        lines = len(set(self.caller_ids)) * min(lines_per_number, self.per_number or lines_per_number)
        return self.campaign_cap < lines


@dataclass(frozen=True)
class Waiting:
    """A recipient ready to be called, waiting for a line."""

    campaign_id: str
    recipient_id: str  # the recipient's key (its own id, or its first phone number): never holds `|`
    dial: int
    ready_at: str  # ISO time it became ready; orders the line

    @property
    def row_key(self) -> str:
        return f"{self.ready_at}|{self.recipient_id}|{self.dial:04d}"


@dataclass
class _Row:
    key: SlotKey
    holder: str
    expires_at: float
    etag: str | None  # None: the row does not exist yet (lines are created when first taken)
    next_start_at: float = 0.0  # rate rows only

    def is_free(self, now: float) -> bool:
        return not self.holder or self.expires_at <= now


class LineKeeper(Protocol):
    """What a call needs of the dispatcher (campaigns.dialing.Dispatcher): its lines, and a way to hand on the
    line of a call that ended (to the next recipient of its campaign, or to whoever waits for the number)."""

    lines: Lines

    def line_freed(self, grant: Grant, campaign_id: str | None) -> None: ...


class Lines:
    def __init__(
        self,
        table: TableClient,
        *,
        lines_per_number: int = 2,
        resource_cap: int | None = None,
        lease_seconds: float = 900.0,
        check_after_seconds: float = 300.0,
        clock: Clock = system_clock,
    ) -> None:
        _check_cap("lines_per_number", lines_per_number, MAX_LINES_PER_NUMBER)
        if resource_cap is not None:
            _check_cap("resource_cap", resource_cap, MAX_SEATS)
        self._table = table
        self.lines_per_number = lines_per_number
        self.resource_cap = resource_cap
        self.lease_seconds = lease_seconds
        self.check_after_seconds = check_after_seconds
        self._clock = clock
        # Calls ending together (they were started together) all reach for the head of the line at once: within
        # one instance they take turns instead of losing the race to each other (a failed request each).
        self._claim_locks: dict[str, threading.Lock] = {}
        self._claim_locks_guard = threading.Lock()

    def _now(self) -> float:
        """Lease and check times are kept as seconds since the epoch: Table storage compares them as numbers."""
        return self._clock().timestamp()

    def _claiming(self, campaign_id: str) -> threading.Lock:
        with self._claim_locks_guard:
            return self._claim_locks.setdefault(campaign_id, threading.Lock())

    def ensure_table(self) -> None:
        try:
            self._table.create_table()
        except ResourceExistsError:
            pass

    # -- seats -------------------------------------------------------------------------------------------------

    def open_campaign(self, campaign_id: str, cap: int) -> None:
        """Create the campaign's seats (safe to repeat; a higher cap adds seats)."""
        _check_key("campaign id", campaign_id)
        _check_cap("cap", cap, MAX_SEATS)
        self._create_seats(CAMPAIGN_PREFIX + campaign_id, cap)

    def open_resource(self) -> None:
        if self.resource_cap:
            self._create_seats(RESOURCE, self.resource_cap)

    def _create_seats(self, partition: str, count: int) -> None:
        rows = [{"PartitionKey": partition, "RowKey": _seat(i), "holder": "", "expiresAt": 0.0} for i in range(count)]
        for start in range(0, len(rows), 100):  # an entity-group transaction holds at most 100 operations
            batch = rows[start : start + 100]
            try:
                self._table.submit_transaction([("create", row) for row in batch])
            except TableTransactionError as error:
                if error.status_code != 409:
                    raise
                for row in batch:  # some exist (a repeat): create the missing ones, leave the others alone
                    try:
                        self._table.create_entity(row)
                    except ResourceExistsError:
                        pass

    # -- taking and giving up ----------------------------------------------------------------------------------

    def acquire(self, wanted: Wanted) -> Grant | None:
        """Take what the call needs now, or None when something is full (nothing is held then)."""
        _check_key("holder", wanted.holder)
        now = self._now()
        seat = None
        if wanted.needs_seat(self.lines_per_number):
            seat = self._take_seat(CAMPAIGN_PREFIX + wanted.campaign_id, wanted.campaign_cap or 1, wanted.holder, now)
            if seat is None:
                return None
        resource_seat = self._take_seat(RESOURCE, self.resource_cap, wanted.holder, now) if self.resource_cap else None
        if self.resource_cap and resource_seat is None:
            self._give_up([seat] if seat else [], wanted.holder)
            return None
        taken = self._take_line(wanted, now)
        if taken is None:
            self._give_up([key for key in (seat, resource_seat) if key], wanted.holder)
            return None
        caller_id, line, start_at = taken
        return Grant(wanted.holder, caller_id, line, seat, resource_seat, start_at, granted_at=now)

    def hand_over(self, grant: Grant, wanted: Wanted) -> Grant | None:
        """Give the rows of an ended call straight to the next call of the same campaign, on the same number:
        no moment when the line is free for a third party to take. None if the grant's rows are no longer its
        holder's (a lapsed lease someone else took): then nothing changed."""
        for _ in range(NUMBERS_TRIED):
            now = self._now()
            number_rows = self._partition(grant.line[0])
            line = number_rows.get(grant.line[1])
            if line is None or line.holder != grant.holder:
                return None
            operations = [("update", self._holding(line.key, wanted, now), _if_unchanged(line.etag))]
            start_at = now
            if wanted.campaign_id and not math.isinf(wanted.calls_per_second):
                rate_op, start_at = self._next_start(grant.line[0], number_rows, wanted, now)
                operations.append(rate_op)
            if self._submit(operations):
                break
            # Lost a race for the rate row (the number's other line starting a call): the line is still ours.
        else:
            return None
        others = [key for key in (grant.seat, grant.resource_seat) if key]
        moved = [self._move(key, grant.holder, wanted, now) for key in others]
        if not all(moved):
            # A seat was lost (lapsed and taken): keep to the caps by giving everything up.
            self._give_up([grant.line] + [key for key, ok in zip(others, moved, strict=True) if ok], wanted.holder)
            return None
        return Grant(wanted.holder, grant.caller_id, grant.line, grant.seat, grant.resource_seat, start_at, now)

    def release(self, grant: Grant) -> int:
        """Give up the grant's rows, if its holder still has them; how many were freed. Safe to repeat."""
        return self._give_up(grant.rows(), grant.holder)

    def renew(self, grant: Grant, check_after: float | None = None) -> bool:
        """Extend the grant's leases by lease_seconds from now, and move its line's next check to `check_after`
        (default: check_after_seconds from now); False if its holder no longer has its line."""
        now = self._now()
        renewed = 0
        for key in grant.rows():
            row = self._get(key)
            if row is not None and row.holder == grant.holder:
                entity = {"PartitionKey": key[0], "RowKey": key[1], "expiresAt": now + self.lease_seconds}
                if key == grant.line:
                    entity["checkAfter"] = now + self.check_after_seconds if check_after is None else check_after
                renewed += self._submit([("update", entity, _merge_if_unchanged(row.etag))])
        return renewed > 0

    def due_for_check(self, limit: int = 1000) -> list[tuple[str, SlotKey]]:
        """(holder, line) of lines whose check time has come, oldest first (holders are call leg ids). A call
        holding a line is watched through it (taking or handing over the line sets `checkAfter`), so watching it
        costs no request of its own. One range query over the number partitions, whose rows are lines and rate rows."""
        rows = self._table.query_entities(
            "PartitionKey ge @lo and PartitionKey lt @hi and checkAfter le @now and holder ne @free",
            parameters={"lo": NUMBER_PREFIX, "hi": NUMBER_PREFIX[:-1] + ".", "now": float(self._now()), "free": ""},
            select=["PartitionKey", "RowKey", "holder", "checkAfter"],
        )
        due = sorted((float(row["checkAfter"]), str(row["holder"]), (row["PartitionKey"], row["RowKey"]))
                     for row in _first(rows, limit))
        return [(holder, key) for _, holder, key in due]

    def settle(self, holder: str, line: SlotKey) -> None:
        """`holder` has no live call but its name is on `line`: free the line once its lease has lapsed (a dial
        may still be on its way with it), else look again in check_after_seconds."""
        row = self._get(line)
        if row is None or row.holder != holder:
            return
        now = self._now()
        entity: dict[str, Any] = {"PartitionKey": line[0], "RowKey": line[1]}
        if row.is_free(now):
            entity.update(holder="", expiresAt=0.0)
        else:
            entity["checkAfter"] = now + self.check_after_seconds
        self._submit([("update", entity, _merge_if_unchanged(row.etag))])

    def still_holds(self, grant: Grant) -> bool:
        """Whether a grant just handed to its holder (in a dial message) is still its holder's: read only when
        the message waited so long that the lease could have lapsed; a lease is taken from its holder in no
        other way (its holder gives it up itself)."""
        if 0 < self._now() - grant.granted_at < self.lease_seconds / 2:
            return True
        return self.holds(grant)

    def holds(self, grant: Grant) -> bool:
        """Whether the grant's holder still has its line (e.g. a dial that waited long for its queue message)."""
        row = self._get(grant.line)
        return row is not None and row.holder == grant.holder and not row.is_free(self._now())

    # -- the waiting line ---------------------------------------------------------------------------------------

    def wait(self, entries: Sequence[Waiting]) -> None:
        """Put ready recipients in their campaign's line (safe to repeat: a row per recipient and dial)."""
        for campaign_id in {entry.campaign_id for entry in entries}:
            rows = [
                {"PartitionKey": WAITING_PREFIX + campaign_id, "RowKey": entry.row_key, "claimedUntil": 0.0}
                for entry in entries
                if entry.campaign_id == campaign_id
            ]
            for start in range(0, len(rows), 100):
                self._table.submit_transaction([("upsert", row) for row in rows[start : start + 100]])
            marker = {"PartitionKey": WAITING_CAMPAIGNS, "RowKey": campaign_id, "since": self._now()}
            try:
                self._table.create_entity(marker)
            except ResourceExistsError:
                pass  # waiting already

    def next_waiting(self, campaign_id: str) -> Waiting | None:
        """Claim the oldest recipient of the campaign's line (None if nobody waits). The claim lasts
        CLAIM_SECONDS: whoever claimed it sends its dial and then calls `called`; if it died in between, the
        recipient is claimable again afterwards, so nobody is lost from the line. Instances claiming at the same
        moment race for the head; a loser claims the next one."""
        with self._claiming(campaign_id):
            return self._claim_head(campaign_id)

    def _claim_head(self, campaign_id: str) -> Waiting | None:
        for _ in range(NUMBERS_TRIED):
            now = self._now()
            rows = self._table.query_entities(
                "PartitionKey eq @pk and claimedUntil lt @now",
                parameters={"pk": WAITING_PREFIX + campaign_id, "now": float(now)},
                results_per_page=4,
            )
            heads = list(_first(rows, 4))
            if not heads:
                return None
            for head in heads:
                claim = {"PartitionKey": head["PartitionKey"], "RowKey": head["RowKey"],
                         "claimedUntil": now + CLAIM_SECONDS}
                if self._submit([("update", claim, _merge_if_unchanged(head.metadata["etag"]))]):
                    return _waiting_from(campaign_id, head["RowKey"])
        return None

    def called(self, entry: Waiting) -> None:
        """The claimed recipient's dial is on its way: it leaves the line."""
        try:
            self._table.delete_entity(WAITING_PREFIX + entry.campaign_id, entry.row_key)
        except ResourceNotFoundError:
            pass

    def unclaim(self, entry: Waiting) -> None:
        """The claimed recipient could not be given a line: back to its place, claimable at once."""
        row = {"PartitionKey": WAITING_PREFIX + entry.campaign_id, "RowKey": entry.row_key, "claimedUntil": 0.0}
        self._table.upsert_entity(row, mode=UpdateMode.MERGE)

    def waiting_campaigns(self) -> dict[str, float]:
        """Campaigns with recipients waiting, and since when (epoch seconds)."""
        rows = self._table.query_entities("PartitionKey eq @pk", parameters={"pk": WAITING_CAMPAIGNS})
        return {row["RowKey"]: float(row.get("since") or 0) for row in rows}

    def done_waiting(self, campaign_id: str) -> None:
        """The campaign's line was found empty: stop listing it. A recipient who joined meanwhile lists it again
        (whoever puts someone in the line lists the campaign after, and we look at the line after unlisting)."""
        try:
            self._table.delete_entity(WAITING_CAMPAIGNS, campaign_id)
        except ResourceNotFoundError:
            pass
        if self.waiting_count(campaign_id, limit=1):
            marker = {"PartitionKey": WAITING_CAMPAIGNS, "RowKey": campaign_id, "since": self._now()}
            self._table.upsert_entity(marker)

    def waiting_count(self, campaign_id: str, limit: int = 1000) -> int:
        rows = self._table.query_entities(
            "PartitionKey eq @pk", parameters={"pk": WAITING_PREFIX + campaign_id}, select=["RowKey"]
        )
        return sum(1 for _ in _first(rows, limit))

    # -- reading, for dashboards and tests ---------------------------------------------------------------------

    def busy(self, caller_ids: Sequence[str] = (), campaign_id: str | None = None) -> dict[str, int]:
        """Live lines per caller id, and under "campaign" the campaign's taken seats."""
        now = self._now()
        counts = {
            caller_id: sum(
                not row.is_free(now) for row in self._partition(NUMBER_PREFIX + caller_id).values()
                if row.key[1].startswith(LINE)
            )
            for caller_id in caller_ids
        }
        if campaign_id is not None:
            seats = self._partition(CAMPAIGN_PREFIX + campaign_id).values()
            counts["campaign"] = sum(not row.is_free(now) for row in seats)
        return counts

    # -- storage ---------------------------------------------------------------------------------------------------

    def _take_seat(self, partition: str, cap: int, holder: str, now: float) -> SlotKey | None:
        """A free seat of the partition, taken for `holder`. The search starts at a random seat, so instances
        taking seats at the same moment rarely race for the same one."""
        for _ in range(NUMBERS_TRIED):
            seat = self._free_seat(partition, cap, now)
            if seat is None:
                return None
            entity = {"PartitionKey": partition, "RowKey": seat.key[1], "holder": holder,
                      "expiresAt": now + self.lease_seconds}
            if self._submit([("update", entity, _if_unchanged(seat.etag))]):
                return seat.key
        return None

    def _free_seat(self, partition: str, cap: int, now: float) -> _Row | None:
        start = _seat(random.randrange(0, max(1, cap)))  # noqa: S311 (spreading, not security)
        free = "( holder eq '' or expiresAt le @now )"  # the SDK substitutes @names between spaces
        for condition in (f"RowKey ge @start and {free}", f"RowKey lt @start and {free}"):
            rows = self._table.query_entities(
                f"PartitionKey eq @pk and {condition}",
                parameters={"pk": partition, "start": start, "now": float(now)},
                results_per_page=1,
            )
            for entity in _first(rows, 1):
                return _row_from(entity)
        return None

    def _take_line(self, wanted: Wanted, now: float) -> tuple[str, SlotKey, float] | None:
        """A free line on one of the wanted numbers (the first few in order of preference, then a random few)."""
        cap = min(self.lines_per_number, wanted.per_number or self.lines_per_number)
        # In random order, so calls spread over the pool and instances rarely race for one number; a number
        # that just freed a line (`prefer`) first.
        others = [caller_id for caller_id in wanted.caller_ids if caller_id != wanted.prefer]
        random.shuffle(others)
        preferred = [wanted.prefer] if wanted.prefer in wanted.caller_ids else []
        for caller_id in (preferred + others)[:NUMBERS_TRIED]:
            _check_key("caller id", caller_id)
            partition = NUMBER_PREFIX + caller_id
            rows = self._partition(partition)
            lines = [rows.get(_line(i)) or _Row((partition, _line(i)), "", 0.0, None) for i in range(cap)]
            free = [row for row in lines if row.is_free(now)]
            if not free:
                continue
            line = random.choice(free)  # noqa: S311
            entity = self._holding(line.key, wanted, now)
            operations = [("create", entity) if line.etag is None else ("update", entity, _if_unchanged(line.etag))]
            start_at = now
            if wanted.campaign_id and not math.isinf(wanted.calls_per_second):
                rate_op, start_at = self._next_start(partition, rows, wanted, now)
                operations.append(rate_op)
            if self._submit(operations):
                return caller_id, line.key, start_at
        return None

    def _next_start(self, partition: str, rows: dict[str, _Row], wanted: Wanted, now: float) -> tuple[tuple, float]:
        """The rate row of the campaign on this number, moved on by one start; and when this call may start.
        The campaign's callsPerSecond is shared out over its numbers, so each number spaces its own starts."""
        assert wanted.campaign_id is not None
        key = RATE + wanted.campaign_id
        rate = rows.get(key)
        start_at = max(now, rate.next_start_at if rate else 0.0)
        spacing = max(1, len(wanted.caller_ids)) / wanted.calls_per_second
        entity = {"PartitionKey": partition, "RowKey": key, "nextStartAt": start_at + spacing}
        if rate is None:
            return ("create", entity), start_at
        return ("update", entity, _if_unchanged(rate.etag)), start_at

    def _holding(self, key: SlotKey, wanted: Wanted, now: float) -> dict[str, Any]:
        return {"PartitionKey": key[0], "RowKey": key[1], "holder": wanted.holder,
                "campaign": wanted.campaign_id or "", "expiresAt": now + self.lease_seconds,
                "checkAfter": now + self.check_after_seconds}

    def _move(self, key: SlotKey, old_holder: str, wanted: Wanted, now: float) -> bool:
        row = self._get(key)
        if row is None or row.holder != old_holder:
            return False
        entity = {"PartitionKey": key[0], "RowKey": key[1], "holder": wanted.holder,
                  "expiresAt": now + self.lease_seconds}
        return self._submit([("update", entity, _merge_if_unchanged(row.etag))])

    def _give_up(self, keys: Sequence[SlotKey], holder: str) -> int:
        freed = 0
        for key in keys:
            row = self._get(key)
            if row is None or row.holder != holder:
                continue  # given up before, or lapsed and taken by someone else: not ours to free
            entity = {"PartitionKey": key[0], "RowKey": key[1], "holder": "", "expiresAt": 0.0}
            freed += self._submit([("update", entity, _merge_if_unchanged(row.etag))])
        return freed

    def _get(self, key: SlotKey) -> _Row | None:
        try:
            return _row_from(self._table.get_entity(key[0], key[1]))
        except ResourceNotFoundError:
            return None

    def _partition(self, partition: str) -> dict[str, _Row]:
        rows = self._table.query_entities("PartitionKey eq @pk", parameters={"pk": partition})
        return {entity["RowKey"]: _row_from(entity) for entity in rows}

    def _submit(self, operations: list[tuple]) -> bool:
        """Run an entity-group transaction; False if it lost a race (nothing was changed)."""
        try:
            self._table.submit_transaction(operations)
        except TableTransactionError as error:
            if error.status_code in _LOST_RACE:
                return False
            raise
        return True


# -- pure helpers ---------------------------------------------------------------------------------------------------


def _first(rows: Any, limit: int) -> Iterator[Any]:
    """The first `limit` rows of a query, without asking for the page after them."""
    if limit <= 0:
        return
    for index, row in enumerate(rows, start=1):
        yield row
        if index >= limit:
            return


def _seat(index: int) -> str:
    return f"{SEAT}{index:05d}"


def _line(index: int) -> str:
    return f"{LINE}{index:03d}"


def _waiting_from(campaign_id: str, row_key: str) -> Waiting:
    ready_at, recipient_id, dial = row_key.rsplit("|", 2)
    return Waiting(campaign_id, recipient_id, int(dial), ready_at)


def _row_from(entity: Any) -> _Row:
    return _Row(
        (entity["PartitionKey"], entity["RowKey"]),
        entity.get("holder") or "",
        float(entity.get("expiresAt") or 0),
        entity.metadata["etag"],
        float(entity.get("nextStartAt") or 0),
    )


def _if_unchanged(etag: str | None) -> dict[str, Any]:
    return {"mode": UpdateMode.REPLACE, "etag": etag, "match_condition": MatchConditions.IfNotModified}


def _merge_if_unchanged(etag: str | None) -> dict[str, Any]:
    return {"mode": UpdateMode.MERGE, "etag": etag, "match_condition": MatchConditions.IfNotModified}


def _check_cap(name: str, cap: int, limit: int) -> None:
    if isinstance(cap, bool) or not isinstance(cap, int) or not 0 <= cap <= limit:
        raise ValueError(f"{name} must be an integer from 0 to {limit}, got {cap!r}")


def _check_key(name: str, value: str) -> None:
    """Holders, campaign ids and caller ids go into PartitionKeys and RowKeys, which forbid / \\ # ? and control
    characters (and cap keys at 1 KiB)."""
    if not isinstance(value, str) or not value or len(value) > 200:
        raise ValueError(f"{name} must be a non-empty string of at most 200 characters")
    if any(ch in _FORBIDDEN_KEY_CHARS or ord(ch) < 32 or 127 <= ord(ch) < 160 for ch in value):
        raise ValueError(f"{name} {value!r} contains a character Table storage keys forbid (/ \\ # ? or control)")
