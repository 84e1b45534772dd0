"""Times the bench reads from the emulator's logs: how fast the app reacts to events, and how long freed slots
stay idle. Pure functions over the rows of GET /emulator/callbacks, /emulator/requests and /emulator/calls/history.
"""

from __future__ import annotations

import bisect
import math
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from devstack.demo import EmulatedCall

EVENT_PREFIX = "Microsoft.Communication."
HANG_UP = frozenset({"terminate", "hangUp"})


@dataclass(frozen=True)
class Spread:
    """A few numbers that describe a sample of seconds."""

    count: int
    mean: float
    p50: float
    p95: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Spread:
        if not values:
            return NO_SAMPLE
        return cls(len(values), sum(values) / len(values), percentile(values, 50), percentile(values, 95))


NO_SAMPLE = Spread(0, math.nan, math.nan, math.nan)


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile, interpolated between the two nearest ranks (numpy's default, "linear")."""
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def _moment(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def reaction_times(
    deliveries: Iterable[Mapping[str, Any]],
    requests: Iterable[Mapping[str, Any]],
    event: str,
    operations: Collection[str],
    calls: Collection[str],
) -> list[float]:
    """For each call in `calls`: from the start of the delivery attempt that delivered its `event` (e.g.
    "CallConnected") to the arrival of the first request among `operations` (e.g. {"play"}) the emulator got for
    that call after it. Calls without both are left out."""
    arrivals: dict[str, list[datetime]] = defaultdict(list)
    for row in requests:
        if row.get("operation") in operations and row.get("callConnectionId") in calls:
            moment = _moment(row.get("receivedAt"))
            if moment is not None:
                arrivals[row["callConnectionId"]].append(moment)
    seconds = []
    for row in deliveries:
        if row.get("type") != EVENT_PREFIX + event or row.get("status") != "delivered":
            continue
        started = _moment(row.get("attemptStartedAt"))
        if started is None:
            continue
        later = [moment for moment in arrivals.get(row.get("callConnectionId", ""), []) if moment >= started]
        if later:
            seconds.append((min(later) - started).total_seconds())
    return seconds


def answer_times(deliveries: Iterable[Mapping[str, Any]], calls: Collection[str]) -> list[float]:
    """How long the app took to answer each delivered callback: from the start of the attempt that delivered it to
    the emulator having the answer. The emulator sends a call's events one at a time, so this holds back the
    call's next event."""
    seconds = []
    for row in deliveries:
        started, completed = _moment(row.get("attemptStartedAt")), _moment(row.get("completedAt"))
        if row.get("status") == "delivered" and row.get("callConnectionId") in calls and started and completed:
            seconds.append((completed - started).total_seconds())
    return seconds


def slot_idle_times(calls: Sequence[EmulatedCall], cap: int) -> list[float]:
    """For each call that ended while `cap` calls were live and more calls were still to come (in the bench every
    recipient gets one call, so: while recipients were waiting): from its end to the next call's creation, as the
    emulator saw both. With the cap full there was no other free slot, so that is how long the freed one stayed
    empty."""
    creations = sorted(c.created_at for c in calls)
    changes = sorted([(c.ended_at, -1) for c in calls if c.ended_at is not None] + [(t, 1) for t in creations])
    idle, live = [], 0
    for moment, change in changes:  # an end sorts before a creation at the same instant
        if change < 0 and live >= cap:
            following = bisect.bisect_left(creations, moment)
            if following < len(creations):
                idle.append((creations[following] - moment).total_seconds())
        live += change
    return idle
