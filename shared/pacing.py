"""Campaign pacing that holds across every instance of the app, with its state only in Table storage.

Three limits hold however many processes call `Pacer.acquire` at the same time:
- a global concurrency cap (live calls),
- a concurrency cap per caller id (ACS limits concurrent calls per number; a campaign spreads its calls over a
  pool of caller ids),
- a global start rate (calls started per second).

Rows (table `pacing`). One partition per `scope` (a campaign id, or one scope for the whole app when campaigns
share caller ids): campaigns share slots only if they pass the same scope.
- RK `slot-global-000`..: one lease row per global slot;
- RK `slot-caller-<caller id>-000`..: one lease row per slot of that caller id.
  A slot row holds `holder` ("" when free), `expiresAt` and `startedAt` (epoch seconds). It is free when it has
  no holder or its lease has passed, so the slots of an instance that died mid-call come back by themselves.
- RK `rate`: `nextStartAt`, the earliest time the next call may start.

Why one partition per scope rather than one per caller id: a scope's starts all go through its one rate row
anyway, so more partitions would not spread that load; one partition lets a call's caller slot, global slot and
start be taken in ONE entity-group transaction, each row ETag-guarded (or inserted, for a row not created yet).
Either all of them are taken or none is: no half-taken slots to give back, and no half-released ones. A lost
race (412/409) just means reading again. The slot rows name their holder, so any instance can release a call by
its holder id (a call is started by one instance and its end is usually seen by another) with one query and one
transaction; no separate holder rows are needed.

Nothing sleeps: when a call cannot start now, `acquire` answers `Wait(seconds)` and the caller re-queues its
message with that visibility delay.

Times come from the instances' clocks (NTP-synchronised on Azure); skew between instances shifts the start rate by
as much (milliseconds). Leases must outlast calls (default 15 minutes), or be renewed.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError
from azure.data.tables import TableClient, TableTransactionError, UpdateMode

TABLE_NAME = "pacing"
GLOBAL = "global"  # the name `busy()` gives the global slots
RATE_ROW = "rate"
GLOBAL_PREFIX = "slot-global-"
CALLER_PREFIX = "slot-caller-"
MAX_CAP = 1000  # slot numbers are three digits
MAX_ATTEMPTS = 6  # lost races before answering Wait: others are taking slots right now, come back soon
_LOST_RACE = (404, 409, 412)  # gone, created by someone else meanwhile, changed by someone else meanwhile
_FORBIDDEN_KEY_CHARS = set("/\\#?")

SlotKey = tuple[str, str]  # (PartitionKey, RowKey)


class PacingContentionError(RuntimeError):
    """Other writers changed the same rows every time (not expected outside pathological load); retry later."""


@dataclass(frozen=True)
class Grant:
    """A call may start now. Keep it, or just the holder id, to release the slots when the call ends."""

    holder: str
    scope: str
    caller_id: str
    slots: tuple[SlotKey, ...]  # the caller id's slot row, then the global slot row
    started_at: float  # the start time the rate row gave this call (the Pacer's clock, epoch seconds)
    expires_at: float  # when the leases lapse unless renewed or released


@dataclass(frozen=True)
class Wait:
    """The call may not start yet: ask again in at least `seconds`. `reason` is "slots" or "rate" (for logs)."""

    seconds: float
    reason: str


@dataclass
class _Row:
    rk: str
    holder: str
    expires_at: float
    started_at: float
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
        to wait. Asking again with a holder that still has its slots answers the same Grant, so a redelivered
        queue message does not count one call twice. `calls_per_second=math.inf` means no rate limit."""
        _check_key("holder", holder)
        _check_key("scope", scope)
        caps = _caller_caps(caller_ids, per_caller_id)
        _check_cap("max_concurrent", max_concurrent)
        if not calls_per_second > 0:
            raise ValueError(f"calls_per_second must be > 0, got {calls_per_second}")

        lost_start = False
        for _ in range(MAX_ATTEMPTS):
            now = self._clock()
            rows, rate = self._read(scope)
            if grant := _held_grant(holder, scope, rows, now):
                return grant
            next_at = float(rate["nextStartAt"]) if rate is not None else now
            if now < next_at:
                return Wait(next_at - now, "rate")
            picked = _pick_slots(caps, max_concurrent, rows, now)
            if picked is None:
                return self._slots_wait()
            caller_id, caller_row, global_row = picked
            operations = [self._take(scope, row, holder, now) for row in (caller_row, global_row)]
            if not math.isinf(calls_per_second):
                operations.append(_move_rate(scope, rate, max(now, next_at) + 1.0 / calls_per_second))
            if self._submit(operations):
                keys = ((scope, caller_row.rk), (scope, global_row.rk))
                return Grant(holder, scope, caller_id, keys, now, now + self._lease)
            # Another instance took one of these rows, or a start, since we read: read again. With a rate, the
            # one rate row is what every acquire races for, so a lost race is nearly always a start someone else
            # took (and the next read usually answers "rate").
            lost_start = not math.isinf(calls_per_second)
        if lost_start:
            return Wait(1.0 / calls_per_second, "rate")  # starts are going as fast as allowed: not a slot shortage
        return self._slots_wait()

    def release(self, grant: Grant) -> int:
        """Free exactly the grant's slots, if its holder still has them; how many were freed. Safe to repeat, and
        does nothing to a slot that lapsed and was taken by someone else meanwhile."""
        return self._change_held(grant.holder, grant.scope, _freed, only=set(grant.slots))

    def release_holder(self, holder: str, scope: str, caller_ids: Sequence[str] | None = None) -> int:
        """Free every slot `holder` has in `scope`, from any instance (the Grant need not be kept); how many were
        freed. `caller_ids` is not needed (slot rows name their holder); it is accepted so callers may pass it."""
        del caller_ids
        return self._change_held(holder, scope, _freed)

    def renew(self, holder: str, scope: str) -> bool:
        """Extend the holder's leases to lease_seconds from now (for calls longer than a lease); False if it
        holds nothing any more."""
        expires_at = self._clock() + self._lease
        return self._change_held(holder, scope, lambda entity: {**entity, "expiresAt": expires_at}) > 0

    def busy(self, scope: str) -> dict[str, int]:
        """Live slots per caller id, and under "global" (for logs, dashboards and tests)."""
        now = self._clock()
        rows, _ = self._read(scope)
        counts: dict[str, int] = {}
        for row in rows.values():
            name = GLOBAL if row.rk.startswith(GLOBAL_PREFIX) else _caller_of(row.rk)
            counts[name] = counts.get(name, 0) + (not row.is_free(now))
        return counts

    # -- storage ------------------------------------------------------------------------------------------------

    def _read(self, scope: str) -> tuple[dict[str, _Row], Any | None]:
        """Every slot row of the scope and its rate row, in one query of one partition (a few hundred small rows
        at most)."""
        slots: dict[str, _Row] = {}
        rate = None
        for entity in self._table.query_entities("PartitionKey eq @pk", parameters={"pk": scope}):
            if entity["RowKey"] == RATE_ROW:
                rate = entity
            else:
                slots[entity["RowKey"]] = _row_from_entity(entity)
        return slots, rate

    def _take(self, scope: str, row: _Row, holder: str, now: float) -> tuple:
        entity = {
            "PartitionKey": scope,
            "RowKey": row.rk,
            "holder": holder,
            "expiresAt": now + self._lease,
            "startedAt": now,
        }
        if row.etag is None:
            return ("create", entity)  # 409 if another instance created it first
        return ("update", entity, _if_unchanged(row.etag))

    def _change_held(
        self,
        holder: str,
        scope: str,
        change: Callable[[dict[str, Any]], dict[str, Any]],
        only: set[SlotKey] | None = None,
    ) -> int:
        """Rewrite the slot rows `holder` has (all, or those in `only`; lapsed or not, as long as nobody else took
        them) in one ETag-guarded transaction, reading again if another writer got in first; how many changed."""
        _check_key("holder", holder)
        _check_key("scope", scope)
        for _ in range(MAX_ATTEMPTS):
            held = list(
                self._table.query_entities(
                    "PartitionKey eq @pk and holder eq @holder", parameters={"pk": scope, "holder": holder}
                )
            )
            if only is not None:
                held = [entity for entity in held if (scope, entity["RowKey"]) in only]
            operations = [("update", change(dict(entity)), _if_unchanged(entity.metadata["etag"])) for entity in held]
            if not operations or self._submit(operations):
                return len(operations)
        raise PacingContentionError(f"the slots of {holder!r} in {scope!r} kept changing under us")

    def _submit(self, operations: list[tuple]) -> bool:
        """Run an entity-group transaction; False if it lost a race (nothing was changed)."""
        try:
            self._table.submit_transaction(operations)
        except TableTransactionError as error:
            if error.status_code in _LOST_RACE:
                return False
            raise
        return True

    def _slots_wait(self) -> Wait:
        return Wait(random.uniform(*self._busy_wait), "slots")  # noqa: S311 (jitter, not security)


# -- pure helpers -------------------------------------------------------------------------------------------------


def _held_grant(holder: str, scope: str, rows: Mapping[str, _Row], now: float) -> Grant | None:
    """The Grant `holder` already has. Slots are only ever taken in pairs (one transaction), so a holder with a
    live global slot also has its caller slot."""
    mine = [row for row in rows.values() if row.holder == holder and not row.is_free(now)]
    caller_row = next((row for row in mine if row.rk.startswith(CALLER_PREFIX)), None)
    global_row = next((row for row in mine if row.rk.startswith(GLOBAL_PREFIX)), None)
    if caller_row is None or global_row is None:
        return None
    expires_at = min(caller_row.expires_at, global_row.expires_at)
    keys = ((scope, caller_row.rk), (scope, global_row.rk))
    return Grant(holder, scope, _caller_of(caller_row.rk), keys, caller_row.started_at, expires_at)


def _pick_slots(
    caps: Mapping[str, int], max_concurrent: int, rows: Mapping[str, _Row], now: float
) -> tuple[str, _Row, _Row] | None:
    """A free caller slot (of the least-used caller id) and a free global slot, or None if either is full."""
    global_free = _free_rows(GLOBAL_PREFIX, rows, max_concurrent, now)
    if not global_free:
        return None
    for caller_id in _least_used_first(caps, rows, now):
        caller_free = _free_rows(_caller_prefix(caller_id), rows, caps[caller_id], now)
        if caller_free:
            return caller_id, caller_free[0], global_free[0]
    return None


def _free_rows(prefix: str, rows: Mapping[str, _Row], cap: int, now: float) -> list[_Row]:
    """Free slot rows below the cap (missing ones too, to be created), in random order so that instances reading
    the same snapshot do not all race for the same row. Empty if `cap` leases are live already (some may be on
    rows above a lowered cap: those drain before new leases are given)."""
    live = sum(not row.is_free(now) for rk, row in rows.items() if rk.startswith(prefix) and _is_slot(rk, prefix))
    if live >= cap:
        return []
    slots = [rows.get(f"{prefix}{i:03d}") or _Row(f"{prefix}{i:03d}", "", 0.0, 0.0, None) for i in range(cap)]
    free = [row for row in slots if row.is_free(now)]
    random.shuffle(free)
    return free


def _least_used_first(caps: Mapping[str, int], rows: Mapping[str, _Row], now: float) -> list[str]:
    """Caller ids by the share of their cap in use, ties in random order, so calls spread over the pool."""
    live: dict[str, int] = {}
    for row in rows.values():
        if row.rk.startswith(CALLER_PREFIX) and not row.is_free(now):
            caller_id = _caller_of(row.rk)
            live[caller_id] = live.get(caller_id, 0) + 1
    usable = [caller_id for caller_id, cap in caps.items() if cap > 0]
    random.shuffle(usable)
    return sorted(usable, key=lambda caller_id: live.get(caller_id, 0) / caps[caller_id])


def _freed(entity: dict[str, Any]) -> dict[str, Any]:
    return {**entity, "holder": "", "expiresAt": 0.0}


def _move_rate(scope: str, rate: Any | None, next_start_at: float) -> tuple:
    entity = {"PartitionKey": scope, "RowKey": RATE_ROW, "nextStartAt": next_start_at}
    if rate is None:
        return ("create", entity)
    return ("update", entity, _if_unchanged(rate.metadata["etag"]))


def _if_unchanged(etag: str) -> dict[str, Any]:
    return {"mode": UpdateMode.REPLACE, "etag": etag, "match_condition": MatchConditions.IfNotModified}


def _row_from_entity(entity: Any) -> _Row:
    return _Row(
        entity["RowKey"],
        entity.get("holder") or "",
        float(entity.get("expiresAt") or 0),
        float(entity.get("startedAt") or 0),
        entity.metadata["etag"],
    )


def _caller_prefix(caller_id: str) -> str:
    return f"{CALLER_PREFIX}{caller_id}-"


def _caller_of(rk: str) -> str:
    return rk[len(CALLER_PREFIX) : -4]  # slot-caller-<caller id>-NNN


def _is_slot(rk: str, prefix: str) -> bool:
    # Caller id "+1555" must not count the slots of "+1555-2": after the prefix come exactly three digits.
    rest = rk[len(prefix) :]
    return len(rest) == 3 and rest.isdigit()


def _caller_caps(caller_ids: Sequence[str], per_caller_id: Mapping[str, int] | int) -> dict[str, int]:
    if isinstance(caller_ids, str) or not caller_ids:
        raise ValueError("caller_ids must be a non-empty list of caller ids")
    caps: dict[str, int] = {}
    for caller_id in caller_ids:
        _check_key("caller id", caller_id)
        if isinstance(per_caller_id, Mapping):
            if caller_id not in per_caller_id:
                raise ValueError(f"per_caller_id has no cap for caller id {caller_id!r}")
            caps[caller_id] = per_caller_id[caller_id]
        else:
            caps[caller_id] = per_caller_id
        _check_cap(f"per_caller_id[{caller_id!r}]", caps[caller_id])
    return caps


def _check_cap(name: str, cap: int) -> None:
    if isinstance(cap, bool) or not isinstance(cap, int) or not 0 <= cap < MAX_CAP:
        raise ValueError(f"{name} must be an integer from 0 to {MAX_CAP - 1}, got {cap!r}")


def _check_key(name: str, value: str) -> None:
    """Holder, scope and caller ids go into PartitionKeys and RowKeys, which forbid / \\ # ? and control
    characters (and cap keys at 1 KiB)."""
    if not isinstance(value, str) or not value or len(value) > 200:
        raise ValueError(f"{name} must be a non-empty string of at most 200 characters")
    if any(ch in _FORBIDDEN_KEY_CHARS or ord(ch) < 32 or 127 <= ord(ch) < 160 for ch in value):
        raise ValueError(f"{name} {value!r} contains a character Table storage keys forbid (/ \\ # ? or control)")
