"""Call legs in Azure Table storage.

One partition per call leg (its id, a random GUID), so load spreads over partitions and one leg's rows can
change together in an entity-group transaction:
- RowKey `leg`: the leg's current state, updated only with its ETag;
- RowKey `tl-<key>`: the timeline, one row per thing that happened (read back in time order);
- RowKey `ev-<ACS event id>`: marks an ACS event as applied (a repeat fails to create it and changes nothing),
  and keeps the events it caused for the caller until they are queued, so a repeat can queue what a crash lost.

Beside them, an index of the legs that have not ended, for reconciliation with ACS: PartitionKey `live-NN`
(16 buckets by a hash of the leg id, so writes spread), RowKey = the leg id, `checkAfter` = when to look at the
leg next (epoch seconds). It is written before the leg and removed when the leg ends, so it only ever holds the
calls in progress (plus the odd row a crash left behind, which reconciliation removes).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable, Iterable
from dataclasses import asdict
from typing import Any, TypeVar

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.data.tables import TableClient, TableTransactionError, UpdateMode

from shared.calls.legs import CallLeg, LegState, Operation, TimelineEntry
from shared.clock import Clock, iso, system_clock, timestamp
from shared.storage.contention import back_off

LEG_ROW = "leg"
TIMELINE_PREFIX = "tl-"
EVENT_PREFIX = "ev-"
MAX_UPDATE_ATTEMPTS = 20
MAX_OPERATIONS_KEPT = 100  # older finished operations live on in the timeline
LIVE_PREFIX = "live-"
LIVE_BUCKETS = 16

T = TypeVar("T")


class CallLegNotFoundError(LookupError):
    pass


class CallLegExistsError(Exception):
    pass


class DuplicateEventError(Exception):
    """The ACS event was applied before."""


class ConcurrentUpdateError(Exception):
    """Someone else changed the leg since it was read (ETag mismatch)."""


class CallLegStore:
    def __init__(self, table: TableClient, clock: Clock = system_clock) -> None:
        self._table = table
        self._clock = clock

    def now(self) -> str:
        """The store's clock, as its records keep the time (updates and timeline entries are stamped with it)."""
        return iso(self._clock())

    def ensure_table(self) -> None:
        try:
            self._table.create_table()
        except ResourceExistsError:
            pass

    def create(
        self, leg: CallLeg, timeline: Iterable[TimelineEntry] = (), *, check_after: float | None = None
    ) -> CallLeg:
        """Store a new leg; CallLegExistsError if its id is taken (how idempotency keys stay single-use).
        `check_after` (epoch seconds) lists it among the live legs, to be looked at then."""
        if check_after is not None:
            self.watch(leg.call_leg_id, check_after)
        operations = [("create", _leg_entity(leg))] + [
            ("create", _timeline_entity(leg.call_leg_id, e)) for e in timeline
        ]
        try:
            results = self._table.submit_transaction(operations)
        except TableTransactionError as error:
            if error.status_code == 409:
                raise CallLegExistsError(leg.call_leg_id) from error
            raise
        leg.etag = results[0].get("etag")
        return leg

    def get(self, call_leg_id: str) -> CallLeg:
        if not _is_leg_id(call_leg_id):
            raise CallLegNotFoundError(call_leg_id)  # not one of ours: no need to ask storage
        try:
            entity = self._table.get_entity(partition_key=call_leg_id, row_key=LEG_ROW)
        except ResourceNotFoundError:
            raise CallLegNotFoundError(call_leg_id) from None
        return _leg_from_entity(entity)

    def find(self, call_leg_id: str) -> CallLeg | None:
        try:
            return self.get(call_leg_id)
        except CallLegNotFoundError:
            return None

    def delete(self, call_leg_id: str) -> None:
        """Remove a leg and all its rows (used when ACS refused to place the call: nothing happened)."""
        rows = self._table.query_entities("PartitionKey eq @pk", parameters={"pk": call_leg_id}, select=["RowKey"])
        for row in rows:
            self._table.delete_entity(partition_key=call_leg_id, row_key=row["RowKey"])
        self.unwatch(call_leg_id)

    def timeline(self, call_leg_id: str) -> list[dict[str, Any]]:
        rows = self._table.query_entities(
            "PartitionKey eq @pk and RowKey ge @lo and RowKey lt @hi",
            parameters={"pk": call_leg_id, "lo": TIMELINE_PREFIX, "hi": "tl."},
        )
        ordered = sorted(rows, key=lambda row: (row["Time"], row["RowKey"]))
        return [{"time": row["Time"], "type": row["Kind"], **json.loads(row["Details"])} for row in ordered]

    def save(
        self,
        leg: CallLeg,
        timeline: Iterable[TimelineEntry] = (),
        *,
        acs_event_id: str | None = None,
        caused: list[tuple[str, str]] | None = None,
        sent: bool = False,
    ) -> CallLeg:
        """Write the leg (ETag-guarded), its new timeline rows and the event marker, all or nothing. `sent`: what
        the event caused needs no `mark_sent` later (it is safe to send again)."""
        leg.updated_at = self.now()
        _trim_operations(leg)
        operations: list[tuple] = [
            (
                "update",
                _leg_entity(leg),
                {"mode": UpdateMode.REPLACE, "etag": leg.etag, "match_condition": MatchConditions.IfNotModified},
            ),
        ]
        operations += [("upsert", _timeline_entity(leg.call_leg_id, entry)) for entry in timeline]
        if acs_event_id:
            marker = {
                "PartitionKey": leg.call_leg_id,
                "RowKey": EVENT_PREFIX + _safe_key(acs_event_id),
                "Caused": json.dumps(caused or []),
                "Sent": sent,
            }
            operations.append(("create", marker))
        try:
            results = self._table.submit_transaction(operations)
        except TableTransactionError as error:
            if error.status_code == 409:
                raise DuplicateEventError(acs_event_id) from error
            if error.status_code in (412, 404):
                raise ConcurrentUpdateError(leg.call_leg_id) from error
            raise
        leg.etag = results[0].get("etag")
        return leg

    def record_placed(self, leg: CallLeg, entry: TimelineEntry) -> None:
        """ACS took the call: its connection and server call ids, and the timeline row, in one transaction."""
        ids = {"PartitionKey": leg.call_leg_id, "RowKey": LEG_ROW, "acs_call_connection_id": leg.acs_call_connection_id}
        if leg.server_call_id:
            ids["server_call_id"] = leg.server_call_id
        if leg.acs_correlation_id:
            ids["acs_correlation_id"] = leg.acs_correlation_id
        self._table.submit_transaction([
            ("update", ids, {"mode": UpdateMode.MERGE}),
            ("upsert", _timeline_entity(leg.call_leg_id, entry)),
        ])

    def caused_by(self, call_leg_id: str, acs_event_id: str) -> tuple[list[tuple[str, str]], bool]:
        """What an applied ACS event caused, and whether it was marked as carried out (`mark_sent`)."""
        try:
            marker = self._table.get_entity(call_leg_id, EVENT_PREFIX + _safe_key(acs_event_id))
        except ResourceNotFoundError:
            return [], True
        caused = [(queue, text) for queue, text in json.loads(marker.get("Caused") or "[]")]
        return caused, bool(marker.get("Sent"))

    def mark_sent(self, call_leg_id: str, acs_event_id: str) -> None:
        marker = {"PartitionKey": call_leg_id, "RowKey": EVENT_PREFIX + _safe_key(acs_event_id), "Sent": True}
        self._table.update_entity(marker, mode=UpdateMode.MERGE)

    def update(
        self,
        call_leg_id: str,
        change: Callable[[CallLeg], T],
        timeline: Callable[[CallLeg, T], Iterable[TimelineEntry]] | None = None,
    ) -> tuple[CallLeg, T]:
        """Read, change and save a leg, starting again from a fresh read whenever another writer got there first."""
        for attempt in range(MAX_UPDATE_ATTEMPTS):
            back_off(attempt)
            leg = self.get(call_leg_id)
            result = change(leg)
            try:
                return self.save(leg, timeline(leg, result) if timeline else ()), result
            except ConcurrentUpdateError:
                continue
        raise ConcurrentUpdateError(call_leg_id)

    # -- the live legs, for reconciliation ----------------------------------------------------------------

    def watch(self, call_leg_id: str, check_after: float) -> None:
        """List the leg as live, to be looked at after `check_after` (epoch seconds); again moves that time."""
        row = {"PartitionKey": _live_partition(call_leg_id), "RowKey": call_leg_id, "checkAfter": float(check_after)}
        self._table.upsert_entity(row, mode=UpdateMode.REPLACE)

    def unwatch(self, call_leg_id: str) -> None:
        try:
            self._table.delete_entity(partition_key=_live_partition(call_leg_id), row_key=call_leg_id)
        except ResourceNotFoundError:
            pass

    def due_for_check(self, now: float | None = None, limit: int = 1000) -> list[str]:
        """Ids of live legs whose check time has come (one range query over the live buckets), at most `limit`."""
        now = timestamp(self._clock) if now is None else now
        rows = self._table.query_entities(
            "PartitionKey ge @lo and PartitionKey lt @hi and checkAfter le @now",
            parameters={"lo": LIVE_PREFIX, "hi": LIVE_PREFIX[:-1] + ".", "now": float(now)},
            select=["RowKey", "checkAfter"],
        )
        due = []
        for row in rows:
            due.append((row["checkAfter"], row["RowKey"]))
            if len(due) >= limit:
                break
        return [call_leg_id for _, call_leg_id in sorted(due)]

    def append_timeline(self, call_leg_id: str, entries: Iterable[TimelineEntry]) -> None:
        """Add timeline rows without touching the leg; upserts, so a repeat with the same keys adds nothing."""
        for entry in entries:
            self._table.upsert_entity(_timeline_entity(call_leg_id, entry), mode=UpdateMode.REPLACE)


def _live_partition(call_leg_id: str) -> str:
    bucket = int(hashlib.sha256(call_leg_id.encode()).hexdigest()[:8], 16) % LIVE_BUCKETS
    return f"{LIVE_PREFIX}{bucket:02d}"


def _is_leg_id(text: str) -> bool:
    try:
        return str(uuid.UUID(text)) == text
    except (ValueError, TypeError, AttributeError):
        return False


def _safe_key(text: str) -> str:
    # RowKeys may not contain / \ # ? or control characters.
    return "".join(c if c.isalnum() or c in "-_.:" else "_" for c in text)[:200]


def _timeline_entity(call_leg_id: str, entry: TimelineEntry) -> dict[str, Any]:
    return {
        "PartitionKey": call_leg_id,
        "RowKey": TIMELINE_PREFIX + _safe_key(entry.key),
        "Time": entry.time,
        "Kind": entry.kind,
        "Details": json.dumps(entry.details),
    }


def _trim_operations(leg: CallLeg) -> None:
    finished = [op_id for op_id, op in leg.operations.items() if op.status in ("completed", "failed")]
    for op_id in finished[: max(0, len(leg.operations) - MAX_OPERATIONS_KEPT)]:
        del leg.operations[op_id]


_JSON_FIELDS = (
    "targets", "requested_call_events", "participants", "end_reason", "plan", "outcome_code", "decision", "presses",
    "pacing", "choice",
)  # fmt: skip


def _leg_entity(leg: CallLeg) -> dict[str, Any]:
    entity: dict[str, Any] = {"PartitionKey": leg.call_leg_id, "RowKey": LEG_ROW}
    for name, value in asdict(leg).items():
        if name in ("call_leg_id", "etag", "operations") or value is None:
            continue
        entity[name] = json.dumps(value) if name in _JSON_FIELDS else value
    entity["state"] = leg.state.value
    entity["operations"] = json.dumps({op_id: asdict(op) for op_id, op in leg.operations.items()})
    return entity


def _leg_from_entity(entity: Any) -> CallLeg:
    values = {k: v for k, v in entity.items() if k not in ("PartitionKey", "RowKey", "Timestamp")}
    for name in _JSON_FIELDS:
        if name in values:
            values[name] = json.loads(values[name])
    operations = {op_id: Operation(**op) for op_id, op in json.loads(values.pop("operations", "{}")).items()}
    leg = CallLeg(call_leg_id=entity["PartitionKey"], operations=operations, **values)
    leg.state = LegState(leg.state)
    leg.etag = entity.metadata.get("etag")
    return leg
