"""Tests for jobs.schedules.fire: next fire times, the DST rules, slots_between()."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from jobs.schedules import Schedule, fire, next_fire_time, next_fire_times, parse, parse_phrase, slots_between
from tests.jobs.schedules.conftest import BERLIN, NEW_YORK, NOW, as_utc, cron, utc

# --------------------------------------------------------------------------
# Fire times: once and interval
# --------------------------------------------------------------------------


def test_once_fire_times() -> None:
    at = datetime(2031, 1, 1, 12, 0, tzinfo=BERLIN)
    schedule = parse({"kind": "once", "at": at, "timezone": "Europe/Berlin"}, now=NOW)
    assert next_fire_times(schedule, after=NOW, count=5) == [at]
    assert next_fire_times(schedule, after=at, count=5) == []  # strictly after
    assert next_fire_time(schedule, after=at - timedelta(microseconds=1)) == at
    assert next_fire_time(schedule, after=at) is None


def test_interval_is_anchored() -> None:
    anchor = utc(2025, 1, 1, 10, 0, 7)
    schedule = parse({"kind": "interval", "every": 15, "unit": "minutes"}, now=anchor, anchor=anchor)
    assert next_fire_time(schedule, after=utc(2025, 1, 1, 11, 1)) == utc(2025, 1, 1, 11, 15, 7)
    assert next_fire_times(schedule, after=utc(2025, 1, 1, 11, 1), count=3) == [
        utc(2025, 1, 1, 11, 15, 7),
        utc(2025, 1, 1, 11, 30, 7),
        utc(2025, 1, 1, 11, 45, 7),
    ]


def test_interval_strictly_after() -> None:
    anchor = utc(2025, 1, 1, 10, 0, 7)
    schedule = Schedule(kind="interval", every=15, unit="minutes", anchor=anchor)
    # Exactly on a slot -> the following slot.
    assert next_fire_time(schedule, after=utc(2025, 1, 1, 11, 15, 7)) == utc(2025, 1, 1, 11, 30, 7)
    assert next_fire_time(schedule, after=anchor) == utc(2025, 1, 1, 10, 15, 7)
    # Before the anchor, the anchor itself is the first slot (nothing before it).
    assert next_fire_time(schedule, after=utc(2025, 1, 1, 9, 0)) == anchor


def test_interval_is_exact_elapsed_time_across_dst() -> None:
    anchor = datetime(2025, 3, 29, 12, 0, tzinfo=BERLIN)  # 11:00 UTC
    schedule = Schedule(kind="interval", timezone="Europe/Berlin", every=1, unit="days", anchor=anchor)
    times = next_fire_times(schedule, after=anchor, count=2)
    assert as_utc(times) == [utc(2025, 3, 30, 11, 0), utc(2025, 3, 31, 11, 0)]
    # ...which shows as 13:00 CEST on the wall clock after spring-forward.
    assert times[0].hour == 13
    assert times[0].tzinfo == BERLIN


def test_interval_hours_through_fall_back() -> None:
    anchor = utc(2025, 10, 25, 22, 0)
    schedule = Schedule(kind="interval", timezone="Europe/Berlin", every=30, unit="minutes", anchor=anchor)
    times = as_utc(next_fire_times(schedule, after=anchor, count=10))
    assert all(b - a == timedelta(minutes=30) for a, b in itertools.pairwise(times))


def test_next_fire_times_count() -> None:
    schedule = cron("0 9 * * 1")
    assert next_fire_times(schedule, after=NOW, count=0) == []
    assert len(next_fire_times(schedule, after=NOW, count=7)) == 7


def test_next_fire_times_requires_aware_after() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        next_fire_times(cron("0 9 * * 1"), after=datetime(2025, 1, 1), count=1)


# --------------------------------------------------------------------------
# Fire times: cron and DST
# --------------------------------------------------------------------------


def test_cron_weekly_in_timezone() -> None:
    schedule = cron("0 9 * * 1", "Europe/Berlin")
    times = next_fire_times(schedule, after=NOW, count=2)  # 2025-01-01 is a Wednesday
    assert times == [datetime(2025, 1, 6, 9, 0, tzinfo=BERLIN), datetime(2025, 1, 13, 9, 0, tzinfo=BERLIN)]
    assert times[0].tzinfo == BERLIN
    assert as_utc(times)[0] == utc(2025, 1, 6, 8, 0)


def test_cron_strictly_after() -> None:
    schedule = cron("0 9 * * *")
    assert next_fire_time(schedule, after=utc(2025, 1, 1, 9, 0)) == utc(2025, 1, 2, 9, 0)
    assert next_fire_time(schedule, after=utc(2025, 1, 1, 8, 59, 59, 999999)) == utc(2025, 1, 1, 9, 0)
    assert next_fire_time(schedule, after=utc(2025, 1, 1, 9, 0, 0, 1)) == utc(2025, 1, 2, 9, 0)


def test_cron_day_of_week_seven_is_sunday() -> None:
    assert next_fire_time(cron("0 0 * * 7"), after=NOW) == utc(2025, 1, 5, 0, 0)


def test_berlin_spring_forward_fixed_time_fires_after_gap() -> None:
    schedule = cron("30 2 * * *", "Europe/Berlin")
    times = next_fire_times(schedule, after=utc(2025, 3, 28, 12, 0), count=3)
    assert as_utc(times) == [utc(2025, 3, 29, 1, 30), utc(2025, 3, 30, 1, 0), utc(2025, 3, 31, 0, 30)]
    assert (times[1].hour, times[1].minute) == (3, 0)  # 03:00 CEST


def test_berlin_fall_back_fixed_time_fires_once() -> None:
    schedule = cron("30 2 * * *", "Europe/Berlin")
    times = next_fire_times(schedule, after=utc(2025, 10, 25, 12, 0), count=2)
    assert as_utc(times) == [utc(2025, 10, 26, 0, 30), utc(2025, 10, 27, 1, 30)]
    window = slots_between(schedule, start=utc(2025, 10, 25, 22, 0), end=utc(2025, 10, 26, 4, 0))
    assert as_utc(window) == [utc(2025, 10, 26, 0, 30)]


def test_berlin_fall_back_after_inside_second_copy_of_hour() -> None:
    # `after` = 02:15 CET (second 02:xx).  02:30 already fired in the first
    # copy (00:30 UTC); it must not fire at 02:30 CET nor return a past time.
    schedule = cron("30 2 * * *", "Europe/Berlin")
    assert next_fire_time(schedule, after=utc(2025, 10, 26, 1, 15)) == utc(2025, 10, 27, 1, 30)


def test_new_york_spring_forward_fixed_time() -> None:
    schedule = cron("30 2 * * *", "America/New_York")
    times = next_fire_times(schedule, after=utc(2025, 3, 8, 12, 0), count=2)
    assert as_utc(times) == [utc(2025, 3, 9, 7, 0), utc(2025, 3, 10, 6, 30)]  # 03:00 EDT, then 02:30 EDT
    assert times[0] == datetime(2025, 3, 9, 3, 0, tzinfo=NEW_YORK)


def test_new_york_fall_back_fixed_time_fires_once() -> None:
    schedule = cron("30 1 * * *", "America/New_York")
    times = slots_between(schedule, start=utc(2025, 11, 1, 0, 0), end=utc(2025, 11, 3, 12, 0))
    assert as_utc(times) == [utc(2025, 11, 1, 5, 30), utc(2025, 11, 2, 5, 30), utc(2025, 11, 3, 6, 30)]


def test_berlin_fall_back_wildcard_fires_every_real_instant() -> None:
    schedule = cron("*/15 * * * *", "Europe/Berlin")
    times = slots_between(schedule, start=utc(2025, 10, 25, 23, 50), end=utc(2025, 10, 26, 2, 50))
    utc_times = as_utc(times)
    assert all(b - a == timedelta(minutes=15) for a, b in itertools.pairwise(utc_times))
    two_oclock = [t for t in times if t.hour == 2]
    assert len(two_oclock) == 8  # 4 in 02:xx CEST + 4 in 02:xx CET
    assert [t.utcoffset() for t in two_oclock] == [timedelta(hours=2)] * 4 + [timedelta(hours=1)] * 4


def test_berlin_spring_forward_wildcard_keeps_15_minute_spacing() -> None:
    schedule = cron("*/15 * * * *", "Europe/Berlin")
    times = slots_between(schedule, start=utc(2025, 3, 29, 23, 50), end=utc(2025, 3, 30, 2, 50))
    utc_times = as_utc(times)
    assert utc_times[0] == utc(2025, 3, 30, 0, 0)
    assert all(b - a == timedelta(minutes=15) for a, b in itertools.pairwise(utc_times))
    assert not [t for t in times if t.hour == 2]  # no 02:xx local times that day
    assert len(times) == 12


def test_new_york_wildcard_through_both_transitions() -> None:
    schedule = cron("*/15 * * * *", "America/New_York")
    for start in (utc(2025, 3, 9, 5, 50), utc(2025, 11, 2, 4, 50)):
        utc_times = as_utc(slots_between(schedule, start=start, end=start + timedelta(hours=4)))
        assert len(utc_times) == 16
        assert all(b - a == timedelta(minutes=15) for a, b in itertools.pairwise(utc_times))
    fall = slots_between(schedule, start=utc(2025, 11, 2, 4, 50), end=utc(2025, 11, 2, 8, 50))
    assert len([t for t in fall if t.hour == 1]) == 8


def test_after_given_in_schedule_zone_inside_fold() -> None:
    # `after` = 02:45 CEST, passed in the schedule's own zone: the next slot is
    # 02:00 CET (fold=1), which has an *earlier* wall clock but is later in time.
    schedule = cron("*/15 * * * *", "Europe/Berlin")
    after = datetime(2025, 10, 26, 2, 45, tzinfo=BERLIN)
    nxt = next_fire_time(schedule, after=after)
    assert nxt is not None
    assert nxt.astimezone(UTC) == utc(2025, 10, 26, 1, 0)
    assert (nxt.hour, nxt.minute, nxt.fold) == (2, 0, 1)


def test_hourly_cron_fires_in_both_repeated_hours() -> None:
    schedule = cron("0 * * * *", "Europe/Berlin")
    times = slots_between(schedule, start=utc(2025, 10, 25, 23, 30), end=utc(2025, 10, 26, 2, 30))
    assert as_utc(times) == [utc(2025, 10, 26, 0, 0), utc(2025, 10, 26, 1, 0), utc(2025, 10, 26, 2, 0)]


def test_fixed_hour_range_over_gap_does_not_duplicate() -> None:
    schedule = cron("0 1-3 * * *", "Europe/Berlin")
    times = slots_between(schedule, start=utc(2025, 3, 29, 12, 0), end=utc(2025, 3, 30, 12, 0))
    # 01:00 CET, then 02:00 (skipped) and 03:00 collapse into one 03:00 CEST.
    assert as_utc(times) == [utc(2025, 3, 30, 0, 0), utc(2025, 3, 30, 1, 0)]


# --------------------------------------------------------------------------
# slots_between
# --------------------------------------------------------------------------


def test_slots_between_bounds_are_exclusive_inclusive() -> None:
    schedule = cron("0 * * * *")
    times = slots_between(schedule, start=utc(2025, 1, 1, 9, 0), end=utc(2025, 1, 1, 12, 0))
    assert times == [utc(2025, 1, 1, 10, 0), utc(2025, 1, 1, 11, 0), utc(2025, 1, 1, 12, 0)]


def test_slots_between_limit_and_empty() -> None:
    schedule = cron("* * * * *")
    assert len(slots_between(schedule, start=NOW, end=NOW + timedelta(days=1), limit=10)) == 10
    assert slots_between(schedule, start=NOW, end=NOW) == []
    assert slots_between(schedule, start=NOW, end=NOW - timedelta(hours=1)) == []


def test_slots_between_interval_and_once() -> None:
    anchor = utc(2025, 1, 1, 10, 0, 7)
    interval = Schedule(kind="interval", every=15, unit="minutes", anchor=anchor)
    assert slots_between(interval, start=utc(2025, 1, 1, 10, 0), end=utc(2025, 1, 1, 10, 30, 7)) == [
        utc(2025, 1, 1, 10, 0, 7),
        utc(2025, 1, 1, 10, 15, 7),
        utc(2025, 1, 1, 10, 30, 7),
    ]
    once = Schedule(kind="once", at=utc(2031, 1, 1, 12, 0))
    assert slots_between(once, start=NOW, end=utc(2031, 1, 1, 12, 0)) == [utc(2031, 1, 1, 12, 0)]
    assert slots_between(once, start=NOW, end=utc(2031, 1, 1, 11, 59)) == []


def test_slots_between_counts_a_day_of_15_minute_slots() -> None:
    schedule = parse_phrase("every 15 minutes", now=NOW)
    assert len(slots_between(schedule, start=NOW, end=NOW + timedelta(days=1))) == 96


# --------------------------------------------------------------------------
# The end of time: stored schedules from before the bounds never raise
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("schedule", "expected"),
    [
        # Stored before intervals were bounded: two slots fit before 9999, then the sequence ends.
        (Schedule(kind="interval", every=10**6, unit="days", anchor=NOW), 2),
        (Schedule(kind="interval", every=2**62, unit="seconds", anchor=NOW), 0),
        (Schedule(kind="once", at=datetime(9999, 12, 31, 23, 59, tzinfo=UTC)), 0),
    ],
)
def test_a_sequence_that_passes_the_end_of_time_ends(schedule: Schedule, expected: int) -> None:
    assert len(next_fire_times(schedule, after=NOW, count=5)) == expected
    assert len(slots_between(schedule, start=NOW, end=datetime(9999, 12, 31, tzinfo=UTC))) == expected


def test_cron_stops_before_the_end_of_time() -> None:
    fires = next_fire_times(cron("0 0 1 1 *"), after=datetime(9997, 6, 1, tzinfo=UTC), count=3)
    assert [f.year for f in fires] == [9998]


# --------------------------------------------------------------------------
# The cron memo never changes an answer (issue 17, defect 3)
# --------------------------------------------------------------------------


def _zone_changes(zone: str, year: int) -> list[datetime]:
    tz, moment, found = ZoneInfo(zone), datetime(year, 1, 1, tzinfo=UTC), []
    offset = moment.astimezone(tz).utcoffset()
    while moment.year == year:
        moment += timedelta(hours=1)
        if moment.astimezone(tz).utcoffset() != offset:
            offset = moment.astimezone(tz).utcoffset()
            found.append(moment)
    return found


@pytest.mark.parametrize(
    ("cron", "zone", "year"),
    [
        ("*/30 0 * * *", "Australia/Lord_Howe", 2025),  # answered differently by the old memo
        ("0 */2 * * *", "Australia/Lord_Howe", 2025),
        ("30 * * * *", "Pacific/Chatham", 2025),
        ("*/30 0 * * *", "America/Santiago", 2025),
        ("30 2 * * *", "Europe/Berlin", 2025),
    ],
)
def test_an_earlier_query_from_another_instant_never_changes_an_answer(cron: str, zone: str, year: int) -> None:
    schedule = parse({"kind": "cron", "cron": cron, "timezone": zone}, now=datetime(2000, 1, 1, tzinfo=UTC))
    for change in _zone_changes(zone, year):
        starts = [change + timedelta(minutes=minutes) for minutes in range(-150, 150, 29)]
        for earlier, later in itertools.combinations(starts, 2):
            fire._CRON_MEMO.clear()
            fresh = as_utc(next_fire_times(schedule, after=later, count=5))
            fire._CRON_MEMO.clear()
            next_fire_times(schedule, after=earlier, count=5)
            assert as_utc(next_fire_times(schedule, after=later, count=5)) == fresh, (earlier, later)


def test_the_memo_answers_queries_within_the_same_minute(monkeypatch) -> None:
    schedule = parse({"kind": "cron", "cron": "0 * * * *", "timezone": "Europe/Berlin"}, now=NOW)
    fire._CRON_MEMO.clear()
    walks = []
    real = fire._iter_fire_times
    monkeypatch.setattr(fire, "_iter_fire_times", lambda *a: walks.append(a) or real(*a))
    first = next_fire_times(schedule, after=datetime(2025, 6, 2, 6, 0, 1, tzinfo=UTC), count=5)
    again = next_fire_times(schedule, after=datetime(2025, 6, 2, 6, 0, 59, tzinfo=UTC), count=5)
    assert first == again and len(walks) == 1  # a page of jobs sharing a schedule walks cronsim once
    next_fire_times(schedule, after=datetime(2025, 6, 2, 6, 1, 0, tzinfo=UTC), count=5)
    assert len(walks) == 2  # the next minute is computed afresh


# --------------------------------------------------------------------------
# Wildcard jobs around skipped midnights and short or :45 shifts (issue 17, defects 1 and 2)
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expr", "zone", "start", "end", "expected"),
    [
        # Defect 1: Santiago skips 2025-09-07 00:00-00:59; the Sunday has no 00:xx at all (it
        # fired at "00:00-04:00", a wall-clock time that does not exist, really 01:00 -03).
        (
            "*/30 0 * * 0",
            "America/Santiago",
            utc(2025, 9, 6, 12),
            utc(2025, 9, 14, 3, 30),
            [
                "2025-09-14T00:00:00-03:00",
                "2025-09-14T00:30:00-03:00",
            ],
        ),
        # ...while a fixed-time job fires once at the first valid instant after the gap (rule 1).
        (
            "0 0 * * *",
            "America/Santiago",
            utc(2025, 9, 6, 12),
            utc(2025, 9, 8, 12),
            [
                "2025-09-07T01:00:00-03:00",
                "2025-09-08T00:00:00-03:00",
            ],
        ),
        (
            "*/30 0 * * *",
            "America/Havana",
            utc(2024, 3, 9, 4),
            utc(2024, 3, 11, 12),
            [
                "2024-03-09T00:00:00-05:00",
                "2024-03-09T00:30:00-05:00",
                "2024-03-11T00:00:00-04:00",
                "2024-03-11T00:30:00-04:00",
            ],
        ),
        (
            "*/30 0 * * *",
            "Asia/Tehran",
            utc(2021, 3, 20, 20),
            utc(2021, 3, 23),
            [
                "2021-03-21T00:00:00+03:30",
                "2021-03-21T00:30:00+03:30",
                "2021-03-23T00:00:00+04:30",
                "2021-03-23T00:30:00+04:30",
            ],
        ),
        (
            "*/30 0 * * *",
            "America/Sao_Paulo",
            utc(2018, 11, 3, 2),
            utc(2018, 11, 5, 12),
            [
                "2018-11-03T00:00:00-03:00",
                "2018-11-03T00:30:00-03:00",
                "2018-11-05T00:00:00-02:00",
                "2018-11-05T00:30:00-02:00",
            ],
        ),
        # Apia skipped all of 2011-12-30: no wildcard slot that day, the fixed-time one at the
        # first instant after it.
        (
            "*/30 0 * * *",
            "Pacific/Apia",
            utc(2011, 12, 29, 9),
            utc(2011, 12, 30, 11),
            [
                "2011-12-29T00:00:00-10:00",
                "2011-12-29T00:30:00-10:00",
                "2011-12-31T00:00:00+14:00",
                "2011-12-31T00:30:00+14:00",
            ],
        ),
        (
            "0 9 * * *",
            "Pacific/Apia",
            utc(2011, 12, 29, 0),
            utc(2011, 12, 31, 0),
            [
                "2011-12-29T09:00:00-10:00",
                "2011-12-31T00:00:00+14:00",
                "2011-12-31T09:00:00+14:00",
            ],
        ),
        # Defect 2: Lord Howe goes back half an hour at 02:00 (+11 -> +10:30): 01:30 happens twice.
        (
            "30 * * * *",
            "Australia/Lord_Howe",
            utc(2025, 4, 5, 13),
            utc(2025, 4, 5, 17),
            [
                "2025-04-06T00:30:00+11:00",
                "2025-04-06T01:30:00+11:00",
                "2025-04-06T01:30:00+10:30",
                "2025-04-06T02:30:00+10:30",
                "2025-04-06T03:30:00+10:30",
            ],
        ),
        # ...and 02:00 +10:30 is a real matching instant (it was skipped).
        (
            "0 */2 * * *",
            "Australia/Lord_Howe",
            utc(2025, 4, 5, 12),
            utc(2025, 4, 5, 18),
            [
                "2025-04-06T00:00:00+11:00",
                "2025-04-06T02:00:00+10:30",
                "2025-04-06T04:00:00+10:30",
            ],
        ),
        # Lord Howe's spring-forward skips 02:00-02:29 only.
        (
            "*/20 2 * * *",
            "Australia/Lord_Howe",
            utc(2025, 10, 4, 14),
            utc(2025, 10, 4, 17),
            [
                "2025-10-05T02:40:00+11:00",
            ],
        ),
        # Chatham changes at 02:45/03:45: 03:30 happens twice in April, 02:45-03:44 not at all in September.
        (
            "30 * * * *",
            "Pacific/Chatham",
            utc(2025, 4, 5, 12),
            utc(2025, 4, 5, 16),
            [
                "2025-04-06T02:30:00+13:45",
                "2025-04-06T03:30:00+13:45",
                "2025-04-06T03:30:00+12:45",
                "2025-04-06T04:30:00+12:45",
            ],
        ),
        (
            "*/30 * * * *",
            "Pacific/Chatham",
            utc(2025, 9, 27, 13),
            utc(2025, 9, 27, 14, 45),
            [
                "2025-09-28T02:00:00+12:45",
                "2025-09-28T02:30:00+12:45",
                "2025-09-28T04:00:00+13:45",
                "2025-09-28T04:30:00+13:45",
            ],
        ),
    ],
)
def test_wildcard_jobs_fire_at_every_real_matching_instant_and_nowhere_else(
    expr: str, zone: str, start: datetime, end: datetime, expected: list[str]
) -> None:
    schedule = parse({"kind": "cron", "cron": expr, "timezone": zone}, now=datetime(2000, 1, 1, tzinfo=UTC))
    times = slots_between(schedule, start=start, end=end)
    assert [t.isoformat() for t in times] == expected
    # Each names a wall-clock time that exists, in the schedule's zone, with the right fold.
    assert all(t.tzinfo == ZoneInfo(zone) and t == t.astimezone(UTC).astimezone(ZoneInfo(zone)) for t in times)
    assert [t.isoformat() for t in next_fire_times(schedule, after=start, count=len(expected))] == expected


def test_after_inside_a_repeated_half_hour_gives_the_rest_of_it() -> None:
    # 01:40 +10:30 (the second 01:40 in Lord Howe): the next 01:30 is the next day's.
    schedule = cron("30 1 * * *", "Australia/Lord_Howe")
    after = datetime(2025, 4, 6, 1, 40, fold=1, tzinfo=ZoneInfo("Australia/Lord_Howe"))
    assert next_fire_time(schedule, after=after) == datetime(2025, 4, 7, 1, 30, tzinfo=ZoneInfo("Australia/Lord_Howe"))
    every = cron("*/15 * * * *", "Australia/Lord_Howe")
    first_copy = datetime(2025, 4, 6, 1, 50, tzinfo=ZoneInfo("Australia/Lord_Howe"))  # +11:00
    assert [t.isoformat() for t in next_fire_times(every, after=first_copy, count=3)] == [
        "2025-04-06T01:30:00+10:30",
        "2025-04-06T01:45:00+10:30",
        "2025-04-06T02:00:00+10:30",
    ]
