"""Calling windows: the local hours (and days) in which a campaign may call a recipient.

    {"start": "09:00", "end": "20:00", "days": ["mon", "tue", "wed", "thu", "fri", "sat"],
     "timeZone": "America/New_York"}

A window is read on the wall clock of the recipient's time zone when it is known, else the window's own
`timeZone`: a call may start when the local time is in [start, end) on one of `days` (every day when `days` is
left out). Windows do not cross midnight (`end` must be after `start`).

Daylight saving time: the wall clock is what counts, so a 09:00 start is 09:00 local on both sides of a change.
A start that a spring-forward jump skips (e.g. 02:30 on a day clocks go 02:00 -> 03:00) opens at the jump itself;
a start that a fall-back repeats opens at its first occurrence.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # index = datetime.weekday()
FIELDS = ("start", "end", "days", "timeZone")
MAX_ZONE_NAME_LENGTH = 64  # the longest IANA name has 32 characters; ZoneInfo turns a long one into a file path
_HH_MM = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")


@dataclass(frozen=True)
class CallingWindow:
    start: time
    end: time  # exclusive
    days: frozenset[int]  # weekday numbers, Monday = 0
    time_zone: str | None = None  # used when the recipient's time zone is not known

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "start": self.start.strftime("%H:%M"),
            "end": self.end.strftime("%H:%M"),
            "days": [DAY_NAMES[day] for day in sorted(self.days)],
        }
        if self.time_zone:
            out["timeZone"] = self.time_zone
        return out


def parse_window(obj: Any) -> CallingWindow:
    """Check and read a calling window; ValueError naming the field at fault."""
    if not isinstance(obj, Mapping):
        raise ValueError("calling window must be an object with 'start' and 'end'")
    unknown = sorted(str(key) for key in obj if key not in FIELDS)
    if unknown:
        raise ValueError(f"calling window has unknown field(s) {', '.join(unknown)}; allowed: {', '.join(FIELDS)}")
    start = _parse_time(obj, "start")
    end = _parse_time(obj, "end")
    if end <= start:
        raise ValueError(
            f"calling window 'end' ({end:%H:%M}) must be after 'start' ({start:%H:%M}); windows do not cross midnight"
        )
    time_zone = obj.get("timeZone")
    if time_zone is not None:
        zone_of(time_zone, "timeZone")
    return CallingWindow(start, end, _parse_days(obj.get("days")), time_zone)


def is_within(window: CallingWindow, now_utc: datetime, tz_name: str | None = None) -> bool:
    """Whether a call may start at `now_utc` for a recipient in `tz_name` (None: the window's time zone)."""
    local = _to_utc(now_utc).astimezone(_zone(window, tz_name))
    return local.weekday() in window.days and window.start <= local.time() < window.end


def next_allowed(window: CallingWindow, now_utc: datetime, tz_name: str | None = None) -> datetime:
    """`now_utc` if a call may start now, else the next instant (in UTC) the window opens."""
    now = _to_utc(now_utc)
    if is_within(window, now, tz_name):
        return now
    zone = _zone(window, tz_name)
    today = now.astimezone(zone).date()
    # Every allowed weekday comes round within a week; two weeks also cover one window swallowed by a DST jump.
    for offset in range(15):
        day = today + timedelta(days=offset)
        if day.weekday() not in window.days:
            continue
        opening = _opening(day, window.start, zone, not_before=now)
        # A window wholly inside a spring-forward jump (02:00-02:30 on the day 02:00 becomes 03:00) never opens.
        if opening is not None and is_within(window, opening, tz_name):
            return opening
    raise AssertionError("unreachable: a window has at least one day")  # pragma: no cover


def zone_of(name: Any, field: str = "timeZone") -> ZoneInfo:
    """The IANA time zone called `name`; ValueError naming `field` if there is none."""
    if not isinstance(name, str) or not name or len(name) > MAX_ZONE_NAME_LENGTH:
        raise ValueError(f"'{field}' must be an IANA time zone name such as 'America/New_York'")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a name the file system cannot look up
        raise ValueError(f"'{field}' is not a known IANA time zone: {name!r}") from None


def _zone(window: CallingWindow, tz_name: str | None) -> ZoneInfo:
    if tz_name:
        return zone_of(tz_name, "recipient timeZone")
    if window.time_zone:
        return zone_of(window.time_zone)
    raise ValueError("no time zone: the recipient has none and the calling window has no 'timeZone'")


def _to_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("now_utc must be timezone-aware (an instant in UTC)")
    return moment.astimezone(UTC)


def _opening(day: date, start: time, zone: ZoneInfo, *, not_before: datetime) -> datetime | None:
    """The first instant at or after `not_before` when the wall clock on `day` reads `start`, or None."""
    wall = datetime.combine(day, start)
    first = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if first.astimezone(zone).replace(tzinfo=None) != wall:
        # Skipped by a spring-forward jump. fold=0 read it with the old offset (after the jump); fold=1 with the
        # new one (before it). The jump lies between: find the first instant whose wall clock is past `start`.
        first = _first_at_or_after(wall, zone, wall.replace(tzinfo=zone, fold=1).astimezone(UTC), first)
    second = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)  # a fall-back repeat; == first on other days
    for candidate in (first, second):
        if candidate >= not_before and candidate.astimezone(zone).replace(tzinfo=None) >= wall:
            return candidate
    return None


def _first_at_or_after(wall: datetime, zone: ZoneInfo, low: datetime, high: datetime) -> datetime:
    """Bisect (to the second; zone changes fall on whole seconds) for the first instant in (low, high] whose
    local wall clock reads `wall` or later."""
    lo, hi = int(low.timestamp()), int(high.timestamp())
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if datetime.fromtimestamp(mid, zone).replace(tzinfo=None) >= wall:
            hi = mid
        else:
            lo = mid
    return datetime.fromtimestamp(hi, UTC)


def _parse_time(obj: Mapping[str, Any], field: str) -> time:
    value = obj.get(field)
    if value is None:
        raise ValueError(f"calling window '{field}' is required (a time 'HH:MM', 24-hour)")
    match = _HH_MM.fullmatch(value) if isinstance(value, str) else None
    if not match:
        raise ValueError(f"calling window '{field}' must be a time 'HH:MM' from 00:00 to 23:59, got {value!r}")
    return time(int(match[1]), int(match[2]))


def _parse_days(value: Any) -> frozenset[int]:
    if value is None:
        return frozenset(range(7))
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise ValueError("calling window 'days' must be a list of day names such as ['mon', 'tue']")
    if not value:
        raise ValueError("calling window 'days' must name at least one day (leave it out for every day)")
    days = set()
    for item in value:
        name = item.lower() if isinstance(item, str) else item
        if name not in DAY_NAMES:
            raise ValueError(f"calling window 'days' has {item!r}; use {', '.join(DAY_NAMES)}")
        days.add(DAY_NAMES.index(name))
    return frozenset(days)
