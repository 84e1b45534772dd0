"""Timer schedules, read the way the host reads them (WebJobs `TimerSchedule.Create`): the resolved expression is
an NCRONTAB expression if it parses as one, else a .NET TimeSpan, else the function is refused.

* NCRONTAB (the NCrontab library the host uses): six fields `{second} {minute} {hour} {day} {month}
  {day-of-week}`, or the classic five without seconds. A field is `*`, a value, a range `a-b`, a step `*/n`, `a/n`
  or `a-b/n`, or a comma list of those. Months and days of the week also take English names, or any prefix of
  them (`Jan`, `January`, `Mon`, `Monday`), in any case; days of the week run 0-6 from Sunday. A day and a day of
  the week must both match (Unix cron accepts either).
* TimeSpan: a constant interval counted from the start of the previous run: `hh:mm:ss`, `hh:mm`, `d.hh:mm:ss`,
  `d` (whole days), each with optional `.fffffff`; `d:hh:mm[:ss]` too, which is how "24:00:00" means 24 days.

NCRONTAB times are wall-clock times in the schedule's time zone: UTC, as in Azure, unless WEBSITE_TIME_ZONE (or
TZ) names a tz database zone.

Why not croniter, the maintained PyPI library that reads six fields with second_at_beginning=True? Its rules differ
from NCrontab's exactly where devhost must agree with the host: it refuses names the host accepts ("Monday", "J"),
accepts what the host refuses (day of week 7, L, W, #, ?, H), runs "10-5" as a wrap-around where NCrontab swaps it
to 5-10, refuses "*/0" (NCrontab: every value), and ORs day and day of week unless told not to. An adapter would
have to parse every field itself, so this module ports the NCrontab rules directly instead.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import ClassVar
from zoneinfo import ZoneInfo

TIME_ZONE_SETTINGS = ("WEBSITE_TIME_ZONE", "TZ")  # the app settings that move schedules off UTC, in this order
GREGORIAN_CYCLE_YEARS = 400  # the calendar repeats after this, so a time not found within it never comes


class ScheduleError(ValueError):
    """A schedule expression or time zone the host would refuse."""


@dataclass(frozen=True)
class CronSchedule:
    """An NCRONTAB expression, expanded to the values each field allows."""

    expression: str
    seconds: frozenset[int]
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    days_of_week: frozenset[int]  # 0 = Sunday
    time_zone: tzinfo = UTC
    adjust_for_dst: ClassVar[bool] = True  # what the host reports in TimerRequest.schedule

    def describe(self) -> str:
        return f"'{self.expression}' (NCRONTAB, time zone {time_zone_name(self.time_zone)})"

    def next_after(self, moment: datetime) -> datetime | None:
        """The first occurrence strictly after `moment` (an aware datetime), in UTC; None if it never comes."""
        moment = moment.astimezone(UTC)
        wall = moment.astimezone(self.time_zone).replace(tzinfo=None)
        while (wall := self._next_wall_time(wall)) is not None:
            # A wall time that does not exist (clocks going forward) lands just after the gap; one that occurs
            # twice (clocks going back) counts once, at its first occurrence, which may already be past.
            occurrence = wall.replace(tzinfo=self.time_zone).astimezone(UTC)
            if occurrence > moment:
                return occurrence
        return None

    def _next_wall_time(self, after: datetime) -> datetime | None:
        """NCrontab's rule on naive wall-clock time: the first matching whole second after `after`."""
        candidate = after.replace(microsecond=0) + timedelta(seconds=1)
        last_year = after.year + GREGORIAN_CYCLE_YEARS
        try:
            while candidate.year <= last_year:
                if candidate.month not in self.months:
                    candidate = _start_of_next_month(candidate)
                elif candidate.day not in self.days or _day_of_week(candidate) not in self.days_of_week:
                    candidate = candidate.replace(hour=0, minute=0, second=0) + timedelta(days=1)
                elif candidate.hour not in self.hours:
                    candidate = candidate.replace(minute=0, second=0) + timedelta(hours=1)
                elif candidate.minute not in self.minutes:
                    candidate = candidate.replace(second=0) + timedelta(minutes=1)
                elif candidate.second not in self.seconds:
                    candidate += timedelta(seconds=1)
                else:
                    return candidate
        except OverflowError:  # past year 9999
            return None
        return None


@dataclass(frozen=True)
class IntervalSchedule:
    """A TimeSpan schedule: the next run is due this long after the previous one started."""

    expression: str
    interval: timedelta
    adjust_for_dst: ClassVar[bool] = False

    def describe(self) -> str:
        return f"'{self.expression}' (TimeSpan: every {self.interval})"

    def next_after(self, moment: datetime) -> datetime:
        return moment.astimezone(UTC) + self.interval


Schedule = CronSchedule | IntervalSchedule


def parse_schedule(expression: str, time_zone: tzinfo = UTC) -> Schedule:
    """The host's order: an NCRONTAB expression if it is one, else a TimeSpan; anything else is refused."""
    try:
        return parse_ncrontab(expression, time_zone)
    except ScheduleError as cron_error:
        interval = parse_dotnet_timespan(expression)
        if interval is None:
            raise ScheduleError(
                f"the schedule expression {expression!r} was not recognized as a valid cron expression or timespan "
                f"string ({cron_error})"
            ) from None
    if interval <= timedelta(0):
        # The host would accept it and then invoke the function back to back without end.
        raise ScheduleError(f"the TimeSpan schedule {expression!r} must be longer than zero")
    return IntervalSchedule(expression, interval)


# --- NCRONTAB ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Field:
    kind: str  # NCrontab's name for the field, used in its error messages
    minimum: int
    maximum: int
    names: tuple[str, ...] = ()


_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December")  # fmt: skip
_DAYS_OF_WEEK = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")
_FIELDS = (
    _Field("Second", 0, 59),
    _Field("Minute", 0, 59),
    _Field("Hour", 0, 23),
    _Field("Day", 1, 31),
    _Field("Month", 1, 12, _MONTHS),
    _Field("DayOfWeek", 0, 6, _DAYS_OF_WEEK),
)


def parse_ncrontab(expression: str, time_zone: tzinfo = UTC) -> CronSchedule:
    """Parse like NCrontab with the host's options: five fields mean no seconds, any other count means six."""
    fields = [token for token in expression.split(" ") if token]
    if len(fields) == 5:
        fields.insert(0, "0")  # NCrontab runs a five-field schedule at second 0
    elif len(fields) != 6:
        raise ScheduleError(
            f"{expression!r} is an invalid crontab expression: it must contain 6 components of a schedule in the "
            "sequence of seconds, minutes, hours, days, months, and days of week"
        )
    values = [_parse_field(text, field) for text, field in zip(fields, _FIELDS, strict=True)]
    return CronSchedule(expression, *values, time_zone=time_zone)


def _parse_field(text: str, field: _Field) -> frozenset[int]:
    values: set[int] = set()
    try:
        for part in text.split(","):
            values.update(_parse_part(part, field))
    except ScheduleError as exc:
        raise ScheduleError(f"'{text}' is not a valid [{field.kind}] crontab field expression: {exc}") from None
    return frozenset(values)


def _parse_part(part: str, field: _Field) -> range:
    """One list element: '*', 'v', 'a-b', each with an optional '/step'."""
    step = 1
    slash = part.find("/")
    if slash > 0:  # NCrontab looks for a step only after the first character
        step = max(1, _integer(part[slash + 1 :]))  # and treats a step below 1 as 1
        part = part[:slash]
    if part == "*":
        return range(field.minimum, field.maximum + 1, step)
    dash = part.find("-")
    if dash > 0:
        # NCrontab swaps a reversed range rather than wrapping around.
        first, last = sorted((_value(part[:dash], field), _value(part[dash + 1 :], field)))
    else:
        first = _value(part, field)
        last = field.maximum if slash > 0 else first  # 'v/step' runs from v to the end of the field
    for value in (first, last):
        if value < field.minimum:
            raise ScheduleError(
                f"{value} is lower than the minimum allowable value for the [{field.kind}] field; value must be "
                f"between {field.minimum} and {field.maximum} (all inclusive)"
            )
        if value > field.maximum:
            raise ScheduleError(
                f"{value} is higher than the maximum allowable value for the [{field.kind}] field; value must be "
                f"between {field.minimum} and {field.maximum} (all inclusive)"
            )
    return range(first, last + 1, step)


def _value(text: str, field: _Field) -> int:
    if not text:
        raise ScheduleError("a crontab field value cannot be empty")
    if text[0].isdigit():
        return _integer(text)
    if not field.names:
        raise ScheduleError(
            f"'{text}' must be a numeric value between {field.minimum} and {field.maximum} (all inclusive)"
        )
    for index, name in enumerate(field.names):
        if name.lower().startswith(text.lower()):  # the first name it is a prefix of: 'Ma' is March, not May
            return field.minimum + index
    raise ScheduleError(f"'{text}' is not a known value name; use one of {', '.join(field.names)}")


def _integer(text: str) -> int:
    if not (text.isascii() and text.isdigit()):
        raise ScheduleError(f"'{text}' is not a whole number")
    return int(text)


def _day_of_week(moment: datetime) -> int:
    return (moment.weekday() + 1) % 7  # Python counts from Monday = 0, NCrontab from Sunday = 0


def _start_of_next_month(moment: datetime) -> datetime:
    if moment.month == 12:
        return datetime(moment.year + 1, 1, 1)
    return datetime(moment.year, moment.month + 1, 1)


# --- TimeSpan ---------------------------------------------------------------------------------------------------

# The forms .NET's TimeSpan.TryParse accepts, in the order it tries them: the invariant ones (days end in '.'),
# then the culture's (days end in ':'). The first whose numbers are in range wins, so "23:00:00" is 23 hours and
# "24:00:00", out of range as hh:mm:ss, is 24 days.
_TIMESPAN_FORMS = tuple(
    re.compile(pattern)
    for pattern in (
        r"(?P<d>[0-9]+)",
        r"(?P<h>[0-9]+):(?P<m>[0-9]+)",
        r"(?P<h>[0-9]+):(?P<m>[0-9]+):(?P<s>[0-9]+)",
        r"(?P<d>[0-9]+)\.(?P<h>[0-9]+):(?P<m>[0-9]+)",
        r"(?P<d>[0-9]+):(?P<h>[0-9]+):(?P<m>[0-9]+)",
        r"(?P<h>[0-9]+):(?P<m>[0-9]+):(?P<s>[0-9]+)\.(?P<f>[0-9]+)",
        r"(?P<d>[0-9]+)[.:](?P<h>[0-9]+):(?P<m>[0-9]+):(?P<s>[0-9]+)",
        r"(?P<d>[0-9]+)[.:](?P<h>[0-9]+):(?P<m>[0-9]+):(?P<s>[0-9]+)\.(?P<f>[0-9]+)",
    )
)
_TIMESPAN_LIMITS = {"d": 10_675_199, "h": 23, "m": 59, "s": 59}  # TimeSpan.MaxValue is 10675199 days


def parse_dotnet_timespan(text: str) -> timedelta | None:
    """'00:05:00' -> 5 minutes, '1.00:00:00' -> 1 day, '25:00:00:00' -> 25 days; None if .NET would not parse it."""
    text = text.strip()
    sign = -1 if text.startswith("-") else 1
    text = text.removeprefix("-")
    for form in _TIMESPAN_FORMS:
        match = form.fullmatch(text)
        if not match:
            continue
        parts = match.groupdict()
        numbers = {key: int(value) for key, value in parts.items() if key != "f"}
        fraction = parts.get("f") or ""
        if len(fraction) > 7 or any(numbers[key] > limit for key, limit in _TIMESPAN_LIMITS.items() if key in numbers):
            continue
        interval = timedelta(
            days=numbers.get("d", 0),
            hours=numbers.get("h", 0),
            minutes=numbers.get("m", 0),
            seconds=numbers.get("s", 0),
            microseconds=round(int(fraction.ljust(7, "0")) / 10) if fraction else 0,  # 7 digits of 100 ns ticks
        )
        return sign * interval
    return None


# --- time zone --------------------------------------------------------------------------------------------------


def schedule_time_zone(environ: Mapping[str, str]) -> tzinfo:
    """UTC, as in Azure, unless WEBSITE_TIME_ZONE or TZ names a tz database zone (what Linux plans expect)."""
    for setting in TIME_ZONE_SETTINGS:
        value = environ.get(setting, "").strip()
        if value:
            return _zone(setting, value)
    return UTC


def _zone(setting: str, value: str) -> tzinfo:
    name = value.removeprefix(":")  # TZ=":Europe/Paris" is the POSIX spelling of the same zone
    try:
        if name.startswith("/"):  # TZ=/etc/localtime names a zone file
            with open(name, "rb") as zone_file:
                return ZoneInfo.from_file(zone_file, key=name)
        return ZoneInfo(name)
    except (OSError, ValueError) as exc:  # ZoneInfoNotFoundError is a KeyError, caught below
        raise ScheduleError(f"{setting}={value!r} is not a usable time zone: {exc}") from None
    except KeyError:
        raise ScheduleError(
            f"{setting}={value!r} is not a tz database time zone name such as 'America/New_York' (Windows names "
            "such as 'Eastern Standard Time' work only on Windows plans)"
        ) from None


def time_zone_name(zone: tzinfo) -> str:
    return getattr(zone, "key", None) or str(zone)
