"""Calling windows: when a recipient may be called, read on the wall clock of the right time zone."""

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.campaigns.calling_windows import CallingWindow, is_within, next_allowed, parse_window, zone_of

WEEKDAYS_AND_SAT = ["mon", "tue", "wed", "thu", "fri", "sat"]
NEW_YORK = "America/New_York"


def _window(**overrides) -> CallingWindow:
    obj = {"start": "09:00", "end": "20:00", "days": WEEKDAYS_AND_SAT, "timeZone": NEW_YORK}
    obj.update(overrides)
    return parse_window({k: v for k, v in obj.items() if v is not None})


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# -- inside and outside ---------------------------------------------------------------------------------------------


def test_inside_the_window_is_now():
    now = _utc("2026-01-14T15:00:00")  # Wednesday 10:00 EST
    assert is_within(_window(), now)
    assert next_allowed(_window(), now) == now


def test_before_start_opens_the_same_day():
    now = _utc("2026-01-14T12:00:00")  # Wednesday 07:00 EST
    assert not is_within(_window(), now)
    assert next_allowed(_window(), now) == _utc("2026-01-14T14:00:00")


def test_after_end_opens_the_next_day():
    now = _utc("2026-01-14T02:00:00")  # Tuesday 21:00 EST (already Wednesday in UTC)
    assert next_allowed(_window(), now) == _utc("2026-01-14T14:00:00")


def test_start_is_inclusive_and_end_exclusive():
    assert is_within(_window(), _utc("2026-01-14T14:00:00"))  # 09:00:00 EST
    assert is_within(_window(), _utc("2026-01-15T00:59:59"))  # 19:59:59 EST
    assert not is_within(_window(), _utc("2026-01-15T01:00:00"))  # 20:00:00 EST
    assert next_allowed(_window(), _utc("2026-01-15T01:00:00")) == _utc("2026-01-15T14:00:00")


def test_skipped_days_are_skipped():
    now = _utc("2026-01-18T02:00:00")  # Saturday 21:00 EST; no Sundays
    assert next_allowed(_window(), now) == _utc("2026-01-19T14:00:00")  # Monday 09:00 EST
    sunday_noon = _utc("2026-01-18T17:00:00")
    assert not is_within(_window(), sunday_noon)
    assert next_allowed(_window(), sunday_noon) == _utc("2026-01-19T14:00:00")


def test_end_of_week_wraps_round():
    mondays = _window(days=["mon"])
    assert next_allowed(mondays, _utc("2026-01-13T15:00:00")) == _utc("2026-01-19T14:00:00")  # Tue -> next Mon
    # Monday after the window closed: a whole week on.
    assert next_allowed(mondays, _utc("2026-01-13T02:00:00")) == _utc("2026-01-19T14:00:00")


def test_days_left_out_means_every_day():
    every_day = parse_window({"start": "09:00", "end": "20:00", "timeZone": NEW_YORK})
    assert every_day.days == frozenset(range(7))
    assert is_within(every_day, _utc("2026-01-18T17:00:00"))  # a Sunday


# -- time zones -----------------------------------------------------------------------------------------------------


def test_the_recipients_time_zone_wins_over_the_campaigns():
    now = _utc("2026-01-14T08:30:00")  # 08:30 in London, 03:30 in New York, 17:30 in Tokyo
    window = _window()
    assert next_allowed(window, now) == _utc("2026-01-14T14:00:00")
    assert next_allowed(window, now, "Europe/London") == _utc("2026-01-14T09:00:00")
    assert is_within(window, now, "Asia/Tokyo")
    assert next_allowed(window, now, "Asia/Tokyo") == now


def test_a_recipients_day_can_differ_from_the_campaigns():
    # Saturday 23:30 UTC: still Saturday in New York (18:30), already Sunday 08:30 in Tokyo (no Sundays).
    now = _utc("2026-01-17T23:30:00")
    assert is_within(_window(), now)
    assert next_allowed(_window(), now, "Asia/Tokyo") == _utc("2026-01-19T00:00:00")  # Monday 09:00 JST


def test_any_aware_datetime_is_accepted_and_answers_come_in_utc():
    now = datetime(2026, 1, 14, 7, 0, tzinfo=timezone(timedelta(hours=-5)))  # 07:00 EST as an offset
    assert next_allowed(_window(), now) == _utc("2026-01-14T14:00:00")
    assert next_allowed(_window(), now).tzinfo is UTC


# -- daylight saving time -------------------------------------------------------------------------------------------


def test_spring_forward_keeps_the_local_start():
    every_day = _window(days=None)
    # Saturday 7 March 2026 20:30 EST; clocks go forward that night, so 09:00 on Sunday is EDT (UTC-4).
    assert next_allowed(every_day, _utc("2026-03-08T01:30:00")) == _utc("2026-03-08T13:00:00")
    assert is_within(every_day, _utc("2026-03-08T13:00:00"))
    assert not is_within(every_day, _utc("2026-03-08T12:59:59"))


def test_fall_back_keeps_the_local_start():
    every_day = _window(days=None)
    # Saturday 31 October 2026 21:00 EDT; clocks go back that night, so 09:00 on Sunday is EST (UTC-5).
    assert next_allowed(every_day, _utc("2026-11-01T01:00:00")) == _utc("2026-11-01T14:00:00")
    assert is_within(every_day, _utc("2026-11-01T14:00:00"))
    assert not is_within(every_day, _utc("2026-11-01T13:59:59"))


def test_europe_changes_on_its_own_date():
    london = _window(days=None, timeZone="Europe/London")
    # 29 March 2026: London goes to BST (UTC+1) while New York changed three weeks before.
    assert next_allowed(london, _utc("2026-03-28T21:00:00")) == _utc("2026-03-29T08:00:00")
    assert next_allowed(london, _utc("2026-03-27T21:00:00")) == _utc("2026-03-28T09:00:00")


def test_a_start_skipped_by_spring_forward_opens_at_the_jump():
    window = _window(start="02:30", end="05:00", days=None)
    # 8 March 2026: New York goes 02:00 EST -> 03:00 EDT at 07:00 UTC; 02:30 never happens.
    assert next_allowed(window, _utc("2026-03-08T05:00:00")) == _utc("2026-03-08T07:00:00")
    assert is_within(window, _utc("2026-03-08T07:00:00"))
    assert not is_within(window, _utc("2026-03-08T06:59:59"))


def test_a_window_swallowed_by_spring_forward_opens_the_next_day():
    window = _window(start="02:00", end="02:30", days=None)
    assert next_allowed(window, _utc("2026-03-08T05:00:00")) == _utc("2026-03-09T06:00:00")  # 02:00 EDT


def test_a_start_repeated_by_fall_back_opens_at_its_first_then_second_occurrence():
    window = _window(start="01:30", end="03:00", days=None)
    # 1 November 2026: 01:00-02:00 happens twice, first EDT (05:00-06:00 UTC) then EST (06:00-07:00 UTC).
    assert next_allowed(window, _utc("2026-11-01T04:00:00")) == _utc("2026-11-01T05:30:00")
    assert not is_within(window, _utc("2026-11-01T06:10:00"))  # 01:10 EST, the second time round
    assert next_allowed(window, _utc("2026-11-01T06:10:00")) == _utc("2026-11-01T06:30:00")


ZONES = ["America/New_York", "Europe/London", "Australia/Lord_Howe", "America/Santiago", "Asia/Kolkata", "UTC"]


@settings(max_examples=300, deadline=None)
@given(
    now=st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)),
    start_minute=st.integers(0, 23 * 60 + 58),
    length=st.integers(1, 24 * 60 - 1),
    days=st.sets(st.sampled_from(["mon", "tue", "wed", "thu", "fri", "sat", "sun"]), min_size=1),
    zone=st.sampled_from(ZONES),
)
def test_next_allowed_is_the_first_allowed_instant(now, start_minute, length, days, zone):
    end_minute = min(start_minute + length, 23 * 60 + 59)
    window = parse_window(
        {
            "start": f"{start_minute // 60:02d}:{start_minute % 60:02d}",
            "end": f"{end_minute // 60:02d}:{end_minute % 60:02d}",
            "days": sorted(days),
            "timeZone": zone,
        }
    )
    opening = next_allowed(window, now)
    assert opening >= now
    assert is_within(window, opening)
    if opening > now:
        assert not is_within(window, opening - timedelta(seconds=1))
    # A week and a day, or two: a one-day window that lies wholly in the hour a clock skips (Europe/London,
    # Sundays 01:00-01:59, the last Sunday of March) does not open that week.
    assert opening - now <= timedelta(days=15)


# -- validation -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        ("09:00-20:00", "must be an object"),
        ({"end": "20:00"}, "'start' is required"),
        ({"start": "09:00"}, "'end' is required"),
        ({"start": "9:00", "end": "20:00"}, "'start' must be a time 'HH:MM'"),
        ({"start": "09:00", "end": "24:00"}, "'end' must be a time 'HH:MM'"),
        ({"start": "09:00", "end": 2000}, "'end' must be a time 'HH:MM'"),
        ({"start": "20:00", "end": "09:00"}, "'end' (09:00) must be after 'start' (20:00)"),
        ({"start": "09:00", "end": "09:00"}, "must be after 'start'"),
        ({"start": "09:00", "end": "20:00", "days": "mon"}, "'days' must be a list"),
        ({"start": "09:00", "end": "20:00", "days": []}, "'days' must name at least one day"),
        ({"start": "09:00", "end": "20:00", "days": ["mon", "funday"]}, "'days' has 'funday'"),
        ({"start": "09:00", "end": "20:00", "days": [1]}, "'days' has 1"),
        ({"start": "09:00", "end": "20:00", "timeZone": "Mars/Olympus_Mons"}, "'timeZone' is not a known"),
        ({"start": "09:00", "end": "20:00", "timeZone": ""}, "'timeZone' must be an IANA time zone"),
        ({"start": "09:00", "end": "20:00", "timezone": "UTC"}, "unknown field(s) timezone"),
    ],
)
def test_invalid_windows_are_refused_naming_the_field(obj, message):
    with pytest.raises(ValueError) as error:
        parse_window(obj)
    assert message in str(error.value)


def test_day_names_are_case_insensitive_and_round_trip():
    window = parse_window({"start": "08:15", "end": "17:45", "days": ["MON", "Fri", "mon"], "timeZone": "UTC"})
    assert window.days == frozenset({0, 4})
    assert parse_window(window.to_dict()) == window


def test_a_time_zone_is_needed_from_somewhere():
    window = parse_window({"start": "09:00", "end": "20:00"})
    with pytest.raises(ValueError, match="no time zone"):
        next_allowed(window, _utc("2026-01-14T12:00:00"))
    assert next_allowed(window, _utc("2026-01-14T12:00:00"), "UTC") == _utc("2026-01-14T12:00:00")


def test_a_bad_recipient_time_zone_is_named():
    with pytest.raises(ValueError, match="'recipient timeZone' is not a known IANA time zone"):
        is_within(_window(), _utc("2026-01-14T12:00:00"), "Nowhere/Special")


@pytest.mark.parametrize("name", ["Z" * 65, "Z" * 100_000, "America/" + "x" * 300])
def test_an_over_long_time_zone_name_is_refused_before_the_file_system_sees_it(name):
    # ZoneInfo looks a name up as a file: a long one was an OSError (file name too long), i.e. a 500.
    with pytest.raises(ValueError, match="must be an IANA time zone name"):
        zone_of(name)


def test_naive_datetimes_are_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        next_allowed(_window(), datetime(2026, 1, 14, 12, 0))
