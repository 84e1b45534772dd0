"""Timer schedules as the host reads them: NCRONTAB (six fields or five), .NET TimeSpan, time zones."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from devhost.schedules import (
    CronSchedule,
    IntervalSchedule,
    ScheduleError,
    parse_dotnet_timespan,
    parse_schedule,
    schedule_time_zone,
)

THURSDAY = datetime(2026, 1, 1, tzinfo=UTC)  # 1 January 2026 is a Thursday


def occurrences(expression: str, count: int = 3, after: datetime = THURSDAY, **kwargs) -> list[str]:
    schedule = parse_schedule(expression, **kwargs)
    found, moment = [], after
    for _ in range(count):
        moment = schedule.next_after(moment)
        found.append(moment.isoformat())
    return found


# --- NCRONTAB ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        # six fields, seconds first
        ("* * * * * *", ["2026-01-01T00:00:01+00:00", "2026-01-01T00:00:02+00:00", "2026-01-01T00:00:03+00:00"]),
        ("*/20 * * * * *", ["2026-01-01T00:00:20+00:00", "2026-01-01T00:00:40+00:00", "2026-01-01T00:01:00+00:00"]),
        ("0 */5 * * * *", ["2026-01-01T00:05:00+00:00", "2026-01-01T00:10:00+00:00", "2026-01-01T00:15:00+00:00"]),
        ("5-7 * * * * *", ["2026-01-01T00:00:05+00:00", "2026-01-01T00:00:06+00:00", "2026-01-01T00:00:07+00:00"]),
        ("5,8 0 0 * * *", ["2026-01-01T00:00:05+00:00", "2026-01-01T00:00:08+00:00", "2026-01-02T00:00:05+00:00"]),
        ("0 30 9 * * 1-5", ["2026-01-01T09:30:00+00:00", "2026-01-02T09:30:00+00:00", "2026-01-05T09:30:00+00:00"]),
        # five fields: no seconds, so second 0
        ("*/15 * * * *", ["2026-01-01T00:15:00+00:00", "2026-01-01T00:30:00+00:00", "2026-01-01T00:45:00+00:00"]),
        ("30 9 * * Mon", ["2026-01-05T09:30:00+00:00", "2026-01-12T09:30:00+00:00", "2026-01-19T09:30:00+00:00"]),
    ],
)
def test_ncrontab_occurrences(expression: str, expected: list[str]) -> None:
    assert occurrences(expression) == expected


def test_names_may_be_full_or_any_prefix_in_any_case() -> None:
    monday_in_january = occurrences("0 30 9 * Jan Mon")

    assert occurrences("0 30 9 * JANUARY monday") == monday_in_january
    assert occurrences("0 30 9 * J M") == monday_in_january  # the first name each is a prefix of
    assert occurrences("0 0 0 1 Ma *", count=1) == ["2026-03-01T00:00:00+00:00"]  # March, not May


def test_a_day_and_a_day_of_week_must_both_match() -> None:
    # Unix cron would run on every 13th and every Friday; NCrontab only on Friday the 13th.
    assert occurrences("0 0 0 13 * Fri") == [
        "2026-02-13T00:00:00+00:00",
        "2026-03-13T00:00:00+00:00",
        "2026-11-13T00:00:00+00:00",
    ]


def test_ncrontab_quirks_are_kept() -> None:
    assert occurrences("0 0 10-5 * * *", count=1) == occurrences("0 0 5-10 * * *", count=1)  # swapped, not wrapped
    assert occurrences("*/0 * * * * *") == occurrences("* * * * * *")  # a step below 1 counts as 1
    assert occurrences("5/20 * * * * *") == [  # 'v/step' runs from v to the end of the field
        "2026-01-01T00:00:05+00:00",
        "2026-01-01T00:00:25+00:00",
        "2026-01-01T00:00:45+00:00",
    ]


def test_months_too_short_for_the_day_are_skipped() -> None:
    assert occurrences("0 0 0 31 * *") == [
        "2026-01-31T00:00:00+00:00",
        "2026-03-31T00:00:00+00:00",
        "2026-05-31T00:00:00+00:00",
    ]
    assert occurrences("0 0 0 29 2 *", count=1) == ["2028-02-29T00:00:00+00:00"]


def test_a_schedule_that_never_occurs_has_no_next_time() -> None:
    assert parse_schedule("0 0 0 30 2 *").next_after(THURSDAY) is None


def test_the_next_occurrence_is_strictly_after_the_given_moment() -> None:
    on_the_dot = datetime(2026, 1, 1, 9, 30, tzinfo=UTC)

    assert parse_schedule("0 30 9 * * *").next_after(on_the_dot) == on_the_dot + timedelta(days=1)
    assert parse_schedule("* * * * * *").next_after(on_the_dot + timedelta(milliseconds=400)) == on_the_dot.replace(
        second=1
    )


@pytest.mark.parametrize(
    ("expression", "reason"),
    [
        ("0 0 0 * * 7", "7 is higher than the maximum allowable value for the [DayOfWeek] field"),
        ("60 * * * * *", "[Second]"),
        ("0 0 0 0 * *", "0 is lower than the minimum allowable value for the [Day] field"),
        ("0 0 0 L * *", "'L' is not a valid [Day] crontab field expression"),  # Quartz-style extensions
        ("0 0 0 ? * *", "[Day]"),
        ("0 0 0 * * 1#2", "[DayOfWeek]"),
        ("0 0 12 * * Ma", "'Ma' is not a known value name"),  # a prefix of no day
        ("0 0 0 1 1 * 2027", "must contain 6 components"),  # no year field
        ("* * * *", "must contain 6 components"),
        ("0 0 0 1-", "must contain 6 components"),
        ("0 0 0 1- * *", "cannot be empty"),
        ("every minute", "must contain 6 components"),
    ],
)
def test_expressions_the_host_refuses_are_refused_with_the_reason(expression: str, reason: str) -> None:
    with pytest.raises(ScheduleError) as refused:
        parse_schedule(expression)

    message = str(refused.value)
    assert f"the schedule expression {expression!r} was not recognized as a valid cron expression" in message
    assert reason in message


# --- TimeSpan ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("00:00:05", timedelta(seconds=5)),
        ("01:00:00", timedelta(hours=1)),
        ("1.00:00:00", timedelta(days=1)),
        ("2.03:04:05", timedelta(days=2, hours=3, minutes=4, seconds=5)),
        ("00:30", timedelta(minutes=30)),  # hh:mm
        ("7", timedelta(days=7)),  # a bare number is days
        ("00:00:00.5", timedelta(milliseconds=500)),
        ("1.02:03", timedelta(days=1, hours=2, minutes=3)),  # d.hh:mm
        ("23:00:00", timedelta(hours=23)),
        ("24:00:00", timedelta(days=24)),  # not a valid hh:mm:ss, so d:hh:mm, as the Microsoft docs warn
        ("25:00:00:00", timedelta(days=25)),
        (" 00:01:00 ", timedelta(minutes=1)),
    ],
)
def test_dotnet_timespans(text: str, expected: timedelta) -> None:
    assert parse_dotnet_timespan(text) == expected


@pytest.mark.parametrize("text", ["00:60", "00:00:60", "24:00", "1.24:00:00", "00:00:00.12345678", "1h", "", "::"])
def test_text_dotnet_does_not_parse_as_a_timespan(text: str) -> None:
    assert parse_dotnet_timespan(text) is None


def test_a_timespan_schedule_counts_from_the_given_moment() -> None:
    schedule = parse_schedule("00:00:05")
    started = datetime(2026, 1, 1, 12, 0, 0, 300_000, tzinfo=UTC)

    assert isinstance(schedule, IntervalSchedule)
    assert schedule.next_after(started) == started + timedelta(seconds=5)  # not aligned to the clock


def test_a_six_field_expression_is_cron_and_one_token_is_a_timespan() -> None:
    assert isinstance(parse_schedule("0 0 * * * *"), CronSchedule)
    assert isinstance(parse_schedule("01:00:00"), IntervalSchedule)


@pytest.mark.parametrize("text", ["00:00:00", "-00:00:05"])
def test_a_timespan_that_is_not_positive_is_refused(text: str) -> None:
    with pytest.raises(ScheduleError, match="must be longer than zero"):
        parse_schedule(text)


# --- time zones -------------------------------------------------------------------------------------------------


def test_schedules_run_in_utc_unless_a_time_zone_is_set() -> None:
    assert schedule_time_zone({}) is UTC
    assert schedule_time_zone({"WEBSITE_TIME_ZONE": "America/New_York"}) == ZoneInfo("America/New_York")
    assert schedule_time_zone({"TZ": ":Europe/Paris"}) == ZoneInfo("Europe/Paris")
    # WEBSITE_TIME_ZONE is the app setting; it wins over the process's TZ.
    assert schedule_time_zone({"WEBSITE_TIME_ZONE": "Asia/Tokyo", "TZ": "Europe/Paris"}) == ZoneInfo("Asia/Tokyo")


def test_a_windows_time_zone_name_is_refused_with_a_hint() -> None:
    with pytest.raises(ScheduleError, match="WEBSITE_TIME_ZONE='Eastern Standard Time' is not a tz database"):
        schedule_time_zone({"WEBSITE_TIME_ZONE": "Eastern Standard Time"})


def test_cron_times_are_wall_clock_times_in_the_zone_across_daylight_saving() -> None:
    new_york = ZoneInfo("America/New_York")

    # 10:00 in New York is 15:00 UTC in winter and 14:00 UTC in summer.
    assert occurrences("0 0 10 * * *", count=1, time_zone=new_york) == ["2026-01-01T15:00:00+00:00"]
    summer = datetime(2026, 7, 1, tzinfo=UTC)
    assert occurrences("0 0 10 * * *", count=1, after=summer, time_zone=new_york) == ["2026-07-01T14:00:00+00:00"]


def test_a_time_skipped_when_clocks_go_forward_runs_just_after_the_gap() -> None:
    # 8 March 2026, Los Angeles: 02:00 PST jumps to 03:00 PDT, so 02:30 does not exist that day.
    before = datetime(2026, 3, 7, 12, tzinfo=UTC)

    assert occurrences("0 30 2 * * *", count=2, after=before, time_zone=ZoneInfo("America/Los_Angeles")) == [
        "2026-03-08T10:30:00+00:00",  # 03:30 PDT
        "2026-03-09T09:30:00+00:00",  # 02:30 PDT
    ]


def test_a_time_repeated_when_clocks_go_back_runs_once() -> None:
    # 1 November 2026, Los Angeles: 01:00-01:59 happens twice (PDT, then PST).
    before = datetime(2026, 10, 31, 12, tzinfo=UTC)

    assert occurrences("0 30 1 * * *", count=2, after=before, time_zone=ZoneInfo("America/Los_Angeles")) == [
        "2026-11-01T08:30:00+00:00",  # 01:30 PDT only
        "2026-11-02T09:30:00+00:00",
    ]
