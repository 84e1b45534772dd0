"""Campaign pacing that holds across every instance of the app, with its state only in Table storage.

Three limits hold however many processes call `Pacer.acquire` at the same time:
- a global concurrency cap (live calls),
- a concurrency cap per caller id (ACS limits concurrent calls per number; a campaign spreads its calls over a
  pool of caller ids),
- a global start rate (calls started per second).

Rows (table `pacing`; `scope`, e.g. a campaign id, namespaces them: campaigns share slots only if they share a scope):
- PK `<scope>-slots-global`, RK `000`..`cap-1`: one lease row per global slot;
- PK `<scope>-slots-<caller id>`, RK `000`..`cap-1`: one lease row per slot of that caller id.
  A slot row holds `holder` ("" when free) and `expiresAt` (epoch seconds). It is free when it has no holder or
  its lease has passed, so the slots of an instance that died mid-call come back by themselves.
- PK `<scope>-rate`, RK `rate`: `nextStartAt`, the earliest time the next call may start.
- PK `<scope>-holders`, RK `<holder>`: which slot rows a holder has, so any instance can release by holder id
  (a call is started by one instance and its end is usually seen by another).

Every change is an ETag-guarded update, or an insert for a row that does not exist yet (409 if someone else
created it first), so two instances can never both take one slot or one start: the loser gets 412/409 and tries
another slot or reads again. Nothing sleeps: when a call cannot start now, `acquire` answers `Wait(seconds)` and
the caller re-queues its message with that visibility delay.

Times come from the instances' clocks (NTP-synchronised on Azure). Skew between instances shifts the start rate by
as much (milliseconds); leases are minutes long.
"""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.data.tables import TableClient, UpdateMode

TABLE_NAME = "pacing"
GLOBAL = "global"
RATE_ROW = "rate"
MAX_CAP = 1000  # slot RowKeys are three digits
MAX_SLOT_ATTEMPTS = 8  # lost races before answering Wait: others are taking slots right now, come back soon
MAX_ROW_ATTEMPTS = 20  # re-reads of one row (rate, or a slot being freed) before giving up
_LOST_RACE = (404, 409, 412)  # gone, created by someone else, changed by someone else
_FORBIDDEN_KEY_CHARS = set("/\\#?")

SlotKey = tuple[str, str]  # (PartitionKey, RowKey)


@dataclass(frozen=True)
class Grant:
    """A call may start now. Keep it (or just the holder id) to release the slots when the call ends."""

    holder: str
    scope: str
    caller_id: str
    slots: tuple[SlotKey, ...]  # the caller id's slot row, then the global slot row
    started_at: float  # the start time the rate row gave this call (the Pacer's clock, epoch seconds)
    expires_at: float  # when the leases lapse unless renewed or released


@dataclass(frozen=True)
class Wait:
    """The call may not start now; ask again in `seconds`. `reason` is "slots" or "rate" (for logs)."""

    seconds: float
    reason: str


@dataclass
class _Row:
    key: SlotKey
    holder: str
    expires_at: float
    etag: str | None  # None: the row does not exist yet (it is created when taken)

    def is_free(self, now: float) -> bool:
        return not self.holder or self.expires_at <= now


class Pacer:
    def __init__(
        self,
        table: TableClient,
        *,
        lease_seconds: float = 900,
        clock: Callable[[], float] = time.time,
        busy_wait: tuple[float, float] = (1.0, 3.0),
    ) -> None:
        """`busy_wait`: the range a Wait for a free slot is drawn from; the jitter keeps waiters from coming
        back all at once."""
        self._table = table
        self._lease = lease_seconds
        self._clock = clock
        self._busy_wait = busy_wait

    def ensure_table(self) -> None:
        try:
            self._table.create_table()
        except ResourceExistsError:
            pass

    # -- acquire ------------------------------------------------------------------------------------------------

    def acquire(
        self,
        holder: str,
        scope: str,
        caller_ids: Sequence[str],
        *,
        max_concurrent: int,
        per_caller_id: Mapping[str, int] | int,
        calls_per_second: float,
    ) -> Grant | Wait:
        """Take a caller-id slot, a global slot and a start for `holder` (e.g. the call leg id), or say how long
        to wait. Asking again with the same holder while it still holds its slots answers the same Grant, so a
        redelivered queue message does not count one call twice. `calls_per_second=math.inf` means no rate limit.
        """
        _check_key("holder", holder)
        _check_key("scope", scope)
        caps = _caller_caps(caller_ids, per_caller_id)
        _check_cap("max_concurrent", max_concurrent)
        if not calls_per_second > 0:
            raise ValueError(f"calls_per_second must be > 0, got {calls_per_second}")

        now = self._clock()
        slots = self._read_slots(scope)
        if grant := self._held_grant(holder, scope, slots, now):
            return grant
        # Cheap early answer before writing anything: every write that is undone costs others a lost race.
        rate_row = self._get((_rate_pk(scope), RATE_ROW))
        if rate_row is not None and now < float(rate_row["nextStartAt"]):
            return Wait(float(rate_row["nextStartAt"]) - now, "rate")
        taken = self._take_slots(holder, scope, caps, max_concurrent, slots, now)
        if taken is None:
            return self._slots_wait()
        caller_id, rows = taken
        try:
            started = self._take_start(scope, calls_per_second, rate_row)
            if isinstance(started, Wait):
                self._give_back(rows, holder)
                return started
            expires_at = now + self._lease
            self._write_holder(scope, holder, caller_id, [row.key for row in rows], started, expires_at)
        except BaseException:
            self._give_back(rows, holder)  # never keep slots that nobody will release
            raise
        return Grant(holder, scope, caller_id, tuple(row.key for row in rows), started, expires_at)

    def _held_grant(self, holder: str, scope: str, slots: Mapping[str, list[_Row]], now: float) -> Grant | None:
        """The Grant `holder` already has, if a whole acquire finished for it and its leases are live.

        Only the holder row (written last) counts: slots held by this holder without it belong to an acquire
        still running elsewhere (a duplicate queue delivery) or one that died halfway. Those are left alone, never
        freed here, since freeing another acquire's slot could let a call run without one; they lapse instead.
        """
        entity = self._get((_holders_pk(scope), holder))
        if entity is None:
            return None
        keys = [tuple(key) for key in json.loads(entity["slots"])]
        rows = {row.key: row for pk_rows in slots.values() for row in pk_rows}
        live = [rows[key] for key in keys if key in rows and rows[key].holder == holder and not rows[key].is_free(now)]
        if len(live) != len(keys):
            return None  # lapsed or released: start afresh
        expires_at = min(row.expires_at for row in live)
        return Grant(holder, scope, entity["callerId"], tuple(keys), float(entity["startedAt"]), expires_at)

    def _take_slots(
        self,
        holder: str,
        scope: str,
        caps: Mapping[str, int],
        max_concurrent: int,
        slots: dict[str, list[_Row]],
        now: float,
    ) -> tuple[str, list[_Row]] | None:
        """A caller-id slot and then a global slot, or None (and nothing held) if either is not to be had."""
        global_free = _free_rows(_slot_pk(scope, GLOBAL), slots, max_concurrent, now)
        if not global_free:
            return None
        attempts = 0
        for caller_id in _least_used_first(scope, caps, slots, now):
            for row in _free_rows(_slot_pk(scope, caller_id), slots, caps[caller_id], now):
                if attempts >= MAX_SLOT_ATTEMPTS:
                    return None
                attempts += 1
                if caller_row := self._take(row, holder, now):
                    break
            else:
                continue  # this caller id is full (or was taken meanwhile): try the next one
            while global_free and attempts < MAX_SLOT_ATTEMPTS:
                attempts += 1
                if global_row := self._take(global_free.pop(), holder, now):
                    return caller_id, [caller_row, global_row]
            self._give_back([caller_row], holder)
            return None
        return None

    def _take(self, row: _Row, holder: str, now: float) -> _Row | None:
        """Lease one slot row with its ETag (or create it); None if another instance got there first."""
        entity = {
            "PartitionKey": row.key[0],
            "RowKey": row.key[1],
            "holder": holder,
            "expiresAt": now + self._lease,
            "acquiredAt": now,
        }
        try:
            if row.etag is None:
                metadata = self._table.create_entity(entity)
            else:
                metadata = self._table.update_entity(
                    entity, mode=UpdateMode.REPLACE, etag=row.etag, match_condition=MatchConditions.IfNotModified
                )
        except HttpResponseError as error:
            if error.status_code in _LOST_RACE:
                return None
            raise
        return _Row(row.key, holder, now + self._lease, metadata.get("etag"))

    def _take_start(self, scope: str, calls_per_second: float, entity: Any | None) -> float | Wait:
        """Move `nextStartAt` on by 1/rate if it has come; the start time taken, or how long to wait.
        `entity` is the rate row as read before (its ETag saves a read when nobody changed it since)."""
        if math.isinf(calls_per_second):
            return self._clock()
        interval = 1.0 / calls_per_second
        key = (_rate_pk(scope), RATE_ROW)
        for attempt in range(MAX_ROW_ATTEMPTS):
            now = self._clock()
            if attempt:
                entity = self._get(key)
            next_at = float(entity["nextStartAt"]) if entity else now
            if now < next_at:
                return Wait(next_at - now, "rate")
            row = {"PartitionKey": key[0], "RowKey": key[1], "nextStartAt": max(now, next_at) + interval}
            try:
                if entity is None:
                    self._table.create_entity(row)
                else:
                    self._table.update_entity(
                        row,
                        mode=UpdateMode.REPLACE,
                        etag=entity.metadata["etag"],
                        match_condition=MatchConditions.IfNotModified,
                    )
            except HttpResponseError as error:
                if error.status_code in _LOST_RACE:
                    continue  # another instance took a start: read again
                raise
            return now
        return Wait(interval, "rate")  # lost every race: starts are going as fast as allowed

    def _write_holder(
        self, scope: str, holder: str, caller_id: str, keys: list[SlotKey], started_at: float, expires_at: float
    ) -> None:
        entity = {
            "PartitionKey": _holders_pk(scope),
            "RowKey": holder,
            "callerId": caller_id,
            "startedAt": started_at,
            "slots": json.dumps(keys),
            "expiresAt": expires_at,
        }
        self._table.upsert_entity(entity, mode=UpdateMode.REPLACE)

    def _slots_wait(self) -> Wait:
        return Wait(random.uniform(*self._busy_wait), "slots")  # noqa: S311 (jitter, not security)

    # -- release, renew -----------------------------------------------------------------------------------------

    def release(self, grant: Grant) -> int:
        """Free the grant's slots if this holder still has them; how many were freed. Safe to repeat, and does
        nothing to a slot that lapsed and was taken by someone else."""
        freed = sum(self._free_if_held(key, grant.holder) for key in grant.slots)
        self._delete_holder(grant.scope, grant.holder)
        return freed

    def release_holder(self, holder: str, scope: str, caller_ids: Sequence[str] | None = None) -> int:
        """Free whatever slots `holder` has in `scope`, from any instance; how many were freed. `caller_ids` is
        not needed (the holder row, or a scan of the scope's slots, finds them) and is accepted for symmetry."""
        del caller_ids
        _check_key("holder", holder)
        _check_key("scope", scope)
        freed = sum(self._free_if_held(key, holder) for key in self._holder_slots(scope, holder))
        self._delete_holder(scope, holder)
        return freed

    def renew(self, holder: str, scope: str) -> bool:
        """Extend the holder's leases by lease_seconds (for calls longer than a lease); False if any was lost."""
        keys = self._holder_slots(scope, holder)
        renewed = [self._extend_if_held(key, holder) for key in keys]
        return bool(keys) and all(renewed)

    def busy(self, scope: str) -> dict[str, int]:
        """Live slots per caller id, and under "global" (for logs, dashboards and tests)."""
        now = self._clock()
        counts: dict[str, int] = {}
        for pk, rows in self._read_slots(scope).items():
            name = GLOBAL if pk == _slot_pk(scope, GLOBAL) else _caller_of(scope, pk)
            if name is not None:
                counts[name] = sum(not row.is_free(now) for row in rows)
        return counts

    def _holder_slots(self, scope: str, holder: str) -> list[SlotKey]:
        entity = self._get((_holders_pk(scope), holder))
        if entity is not None:
            return [tuple(key) for key in json.loads(entity["slots"])]
        # No holder row: the acquire died before writing it, or it was released already. Look in the slots.
        rows = self._table.query_entities(
            "PartitionKey ge @lo and PartitionKey lt @hi and holder eq @holder",
            parameters={"lo": _slot_pk(scope, ""), "hi": _slots_end(scope), "holder": holder},
            select=["PartitionKey", "RowKey"],
        )
        return [(row["PartitionKey"], row["RowKey"]) for row in rows]

    def _give_back(self, rows: list[_Row], holder: str) -> None:
        for row in rows:
            if not self._clear(row):
                self._free_if_held(row.key, holder)

    def _free_if_held(self, key: SlotKey, holder: str) -> bool:
        for _ in range(MAX_ROW_ATTEMPTS):
            entity = self._get(key)
            if entity is None or entity.get("holder") != holder:
                return False  # freed already, or lapsed and taken by someone else: not ours to free
            if self._clear(_Row(key, holder, float(entity.get("expiresAt", 0)), entity.metadata["etag"])):
                return True
        return False

    def _clear(self, row: _Row) -> bool:
        entity = {"PartitionKey": row.key[0], "RowKey": row.key[1], "holder": "", "expiresAt": 0.0}
        return self._update_if_unchanged(entity, row.etag)

    def _extend_if_held(self, key: SlotKey, holder: str) -> bool:
        for _ in range(MAX_ROW_ATTEMPTS):
            entity = self._get(key)
            if entity is None or entity.get("holder") != holder:
                return False
            row = {"PartitionKey": key[0], "RowKey": key[1], "holder": holder,
                   "expiresAt": self._clock() + self._lease, "acquiredAt": entity.get("acquiredAt", 0.0)}  # fmt: skip
            if self._update_if_unchanged(row, entity.metadata["etag"]):
                return True
        return False

    def _update_if_unchanged(self, entity: dict[str, Any], etag: str | None) -> bool:
        if etag is None:
            return False
        try:
            self._table.update_entity(
                entity, mode=UpdateMode.REPLACE, etag=etag, match_condition=MatchConditions.IfNotModified
            )
        except HttpResponseError as error:
            if error.status_code in _LOST_RACE:
                return False
            raise
        return True

    def _delete_holder(self, scope: str, holder: str) -> None:
        try:
            self._table.delete_entity(partition_key=_holders_pk(scope), row_key=holder)
        except ResourceNotFoundError:
            pass

    # -- reading ------------------------------------------------------------------------------------------------

    def _get(self, key: SlotKey) -> Any | None:
        try:
            return self._table.get_entity(partition_key=key[0], row_key=key[1])
        except ResourceNotFoundError:
            return None

    def _read_slots(self, scope: str) -> dict[str, list[_Row]]:
        """Every slot row of the scope (global and all caller ids) in one range query: a few hundred small rows
        at most, cheaper than a query per caller id."""
        rows = self._table.query_entities(
            "PartitionKey ge @lo and PartitionKey lt @hi",
            parameters={"lo": _slot_pk(scope, ""), "hi": _slots_end(scope)},
            select=["PartitionKey", "RowKey", "holder", "expiresAt"],
        )
        slots: dict[str, list[_Row]] = {}
        for row in rows:
            key = (row["PartitionKey"], row["RowKey"])
            parsed = _Row(key, row.get("holder") or "", float(row.get("expiresAt") or 0), row.metadata.get("etag"))
            slots.setdefault(key[0], []).append(parsed)
        return slots


# -- keys and small pure helpers ----------------------------------------------------------------------------------


def _slot_pk(scope: str, name: str) -> str:
    return f"{scope}-slots-{name}"


def _slots_end(scope: str) -> str:
    return f"{scope}-slots."  # "." sorts right after "-": the end of the `<scope>-slots-` range


def _caller_of(scope: str, pk: str) -> str | None:
    prefix = _slot_pk(scope, "")
    name = pk[len(prefix) :] if pk.startswith(prefix) else None
    return None if name == GLOBAL else name


def _rate_pk(scope: str) -> str:
    return f"{scope}-rate"


def _holders_pk(scope: str) -> str:
    return f"{scope}-holders"


def _slot_rk(index: int) -> str:
    return f"{index:03d}"


def _free_rows(pk: str, slots: Mapping[str, list[_Row]], cap: int, now: float) -> list[_Row]:
    """Free slot rows below the cap (missing ones too, to be created), in random order so that instances reading
    the same snapshot do not all race for the same row. Empty if the partition already has `cap` live leases
    (which can be on rows above a lowered cap: those drain before new ones are given)."""
    rows = {row.key[1]: row for row in slots.get(pk, [])}
    if sum(not row.is_free(now) for row in rows.values()) >= cap:
        return []
    free = [rows.get(_slot_rk(i)) or _Row((pk, _slot_rk(i)), "", 0.0, None) for i in range(cap)]
    free = [row for row in free if row.is_free(now)]
    random.shuffle(free)
    return free


def _least_used_first(scope: str, caps: Mapping[str, int], slots: Mapping[str, list[_Row]], now: float) -> list[str]:
    """Caller ids by the share of their cap in use, ties in random order, so calls spread over the pool."""

    def load(caller_id: str) -> float:
        rows = slots.get(_slot_pk(scope, caller_id), [])
        return sum(not row.is_free(now) for row in rows) / caps[caller_id]

    usable = [caller_id for caller_id, cap in caps.items() if cap > 0]
    random.shuffle(usable)
    return sorted(usable, key=load)


def _caller_caps(caller_ids: Sequence[str], per_caller_id: Mapping[str, int] | int) -> dict[str, int]:
    if isinstance(caller_ids, str) or not caller_ids:
        raise ValueError("caller_ids must be a non-empty list of caller ids")
    caps: dict[str, int] = {}
    for caller_id in caller_ids:
        _check_key("caller id", caller_id)
        if caller_id == GLOBAL:
            raise ValueError(f"caller id may not be {GLOBAL!r} (it names the global slots)")
        if isinstance(per_caller_id, Mapping):
            if caller_id not in per_caller_id:
                raise ValueError(f"per_caller_id has no cap for caller id {caller_id!r}")
            caps[caller_id] = per_caller_id[caller_id]
        else:
            caps[caller_id] = per_caller_id
        _check_cap(f"per_caller_id[{caller_id!r}]", caps[caller_id])
    return caps


def _check_cap(name: str, cap: int) -> None:
    if isinstance(cap, bool) or not isinstance(cap, int) or not 0 <= cap <= MAX_CAP:
        raise ValueError(f"{name} must be an integer from 0 to {MAX_CAP}, got {cap!r}")


def _check_key(name: str, value: str) -> None:
    """Holder, scope and caller ids become PartitionKeys/RowKeys, which forbid / \\ # ? and control characters."""
    if not isinstance(value, str) or not value or len(value) > 200:
        raise ValueError(f"{name} must be a non-empty string of at most 200 characters")
    if any(ch in _FORBIDDEN_KEY_CHARS or ord(ch) < 32 or 127 <= ord(ch) < 160 for ch in value):
        raise ValueError(f"{name} {value!r} contains a character Table storage keys forbid (/ \\ # ? or control)")
