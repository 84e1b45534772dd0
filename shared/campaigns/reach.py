"""Time to reach: how fast a campaign got through to people, next to the best its lines allow.

- reached: done recipients whose call was picked up (any outcome in REACHED_OUTCOMES);
- over time: from the counters' per-minute timeline of ends, never from the rows;
- milestones: when 50% and 90% of the recipients were reached, in seconds since the first call (to the end of
  the minute the share was crossed: the timeline's resolution);
- ideal: `share x recipients x meanCallSeconds / concurrency`, where concurrency = min(pacing.maxConcurrentCalls,
  len(callerIds) x pacing.maxConcurrentCallsPerCallerId), and never less than `share x recipients /
  callsPerSecond` (the rate cap). It is what the lines could do if everyone picked up at the first call.

Pure functions of the counts, the campaign's settings and the recipients' number.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from shared.calls.flow import (
    ANSWERED,
    ANSWERED_WITHOUT_INPUT,
    CHOSEN,
    CONFIRMED,
    DECLINED,
    ESCALATED,
    OPTED_OUT,
)
from shared.campaigns.counters import Counts, minute_start, parse_time

REACHED_OUTCOMES = (CONFIRMED, DECLINED, CHOSEN, ESCALATED, OPTED_OUT, ANSWERED, ANSWERED_WITHOUT_INPUT)
MILESTONES = (0.5, 0.9)
MAX_POINTS = 24


def effective_concurrency(config: Mapping[str, Any]) -> int:
    """How many calls the campaign may have at once: its own cap, or its numbers' caps if those are lower."""
    pacing = config.get("pacing") or {}
    cap = int(pacing.get("maxConcurrentCalls") or 1)
    per_number = int(pacing.get("maxConcurrentCallsPerCallerId") or cap)
    numbers = len(config.get("callerIds") or []) or 1
    return max(1, min(cap, numbers * per_number))


def ideal_seconds(
    recipients: int, mean_call_seconds: float | None, config: Mapping[str, Any], share: float = 1.0
) -> float | None:
    """The shortest time to reach `share` of `recipients` (see the module's docstring); None without a mean."""
    if recipients <= 0 or mean_call_seconds is None:
        return None
    wanted = math.ceil(share * recipients)
    by_lines = wanted * mean_call_seconds / effective_concurrency(config)
    rate = float((config.get("pacing") or {}).get("callsPerSecond") or 0)
    by_rate = wanted / rate if rate > 0 else 0.0
    return round(max(by_lines, by_rate), 1)


def reached_count(by_outcome: Mapping[str, int]) -> int:
    return sum(by_outcome.get(name, 0) for name in REACHED_OUTCOMES)


Point = tuple[datetime, datetime, int, int]  # a bin of the timeline: start, end, reached so far, done so far


def timeline(counts: Counts) -> list[Point]:
    """The counters' timeline as running totals, in time order."""
    reached = done = 0
    points = []
    for minute in sorted(counts.ended):
        outcomes = counts.ended[minute]
        reached += reached_count(outcomes)
        done += sum(outcomes.values())
        points.append((minute_start(minute), minute_start(minute + counts.bin_minutes), reached, done))
    return points


def reached_after(
    points: list[Point], recipients: int, share: float, start: datetime, last: datetime | None
) -> float | None:
    """Seconds from `start` until `share` of the recipients were reached; None if not (yet)."""
    wanted = math.ceil(share * recipients)
    if recipients <= 0 or wanted <= 0:
        return None
    for _, end, reached, _ in points:
        if reached >= wanted:
            moment = min(end, last) if last else end  # no later than the last end: the bin may reach past it
            return max(0.0, round((moment - start).total_seconds()))
    return None


def over_time(
    points: list[Point], recipients: int, start: datetime, until: datetime, step: int
) -> list[dict[str, Any]]:
    """The reached and done shares at most MAX_POINTS times from `start` to `until`, every `step` seconds."""
    if recipients <= 0:
        return []
    series: list[dict[str, Any]] = []
    index = reached = done = 0
    moment = start
    while True:
        moment = min(moment + timedelta(seconds=step), until)
        # A bin counts once it has begun: the timeline knows ends to the minute, not finer.
        while index < len(points) and points[index][0] <= moment:
            _, _, reached, done = points[index]
            index += 1
        series.append(
            {
                "at": moment.isoformat(),
                "elapsedSeconds": round((moment - start).total_seconds()),
                "reachedShare": round(reached / recipients, 4),
                "doneShare": round(done / recipients, 4),
            }
        )
        if moment >= until or len(series) >= MAX_POINTS:
            return series


def reach(
    counts: Counts,
    config: Mapping[str, Any],
    start: datetime | None,
    until: datetime | None,
    mean_call_seconds: float | None,
    step: int,
) -> dict[str, Any]:
    """The summary's `reach` block."""
    recipients = counts.recipients
    reached = reached_count(counts.by_outcome)
    done = sum(counts.by_outcome.values())
    points = timeline(counts)
    last = points[-1][1] if points else None
    last_end = parse_time(counts.last_ended_at)
    milestones = [
        {
            "share": share,
            "reachedAfterSeconds": reached_after(points, recipients, share, start, last_end or last) if start else None,
            "idealSeconds": ideal_seconds(recipients, mean_call_seconds, config, share),
        }
        for share in MILESTONES
    ]
    return {
        "reached": reached,
        "reachedShare": round(reached / recipients, 4) if recipients else None,
        "doneShare": round(done / recipients, 4) if recipients else None,
        "milestones": milestones,
        "ideal": {
            "concurrency": effective_concurrency(config),
            "meanCallSeconds": mean_call_seconds,
            "seconds": ideal_seconds(recipients, mean_call_seconds, config),
        },
        "overTime": over_time(points, recipients, start, until, step) if start and until and until > start else [],
    }
