"""`explain`: every slot the schedule expected, judged against a fabricated history with every outcome."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine

from jobs import services
from jobs.diagnostics import explain
from jobs.diagnostics.explain import Outcome
from jobs.execution import policies
from jobs.models import Job, JobRun, PauseReason, RunStatus, RunTrigger
from tests import factories


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


SEC = timedelta(seconds=1)
CREATED = at("2025-03-10 08:05:00")
EDITED = at("2025-03-12 10:00:30")  # cron */10 -> interval every 15 minutes, anchored here
NOW = at("2025-03-12 11:45:35")
SINCE = "2025-03-10T07:35:00Z"
PAUSES = [
    (at("2025-03-10 08:55:00"), at("2025-03-10 10:02:00")),
    (at("2025-03-11 11:00:00"), at("2025-03-12 08:55:00")),  # spans the retention boundary
    (at("2025-03-12 10:20:00"), at("2025-03-12 10:50:00")),  # after the edit
]


def travel(moment: datetime) -> Any:
    return time_machine.travel(moment, tick=False)


def ran(
    job: Job, slot: datetime, *, late: float, took: float = 1.0, status: str = RunStatus.SUCCEEDED, **kw: Any
) -> JobRun:
    """A run that started `late` seconds after its slot and took `took` seconds."""
    started = slot + late * SEC
    return factories.run_row(job, slot, status=status, started=started, finished=started + took * SEC, **kw)


@pytest.fixture
def history(user: Any, settings: Any) -> Job:
    """A job whose history, read back, holds every outcome `explain` knows."""
    settings.RUNS_RETENTION_DAYS = 1
    with travel(CREATED):
        job = factories.job(user, schedule={"kind": "cron", "cron": "*/10 * * * *"}, max_retries=1)
    for paused, resumed in PAUSES[:2]:
        with travel(paused):
            job = services.job_pause(job=job, actor=user)
        with travel(resumed):
            job = services.job_resume(job=job, actor=user)
    with travel(NOW):
        # Beyond the retention but not pruned yet: the run still tells.
        ran(job, at("2025-03-10 08:20:00"), late=0.2)
        ran(job, at("2025-03-12 09:00:00"), late=0.4)
        ran(job, at("2025-03-12 09:10:00"), late=60)
        factories.run_row(job, at("2025-03-12 09:20:00"), status=RunStatus.SKIPPED, reason="overlap", finished=NOW)
        ran(job, at("2025-03-12 09:30:00"), late=1, status=RunStatus.FAILED, reason="HTTP 500")
        ran(job, at("2025-03-12 09:30:00"), late=21, trigger=RunTrigger.RETRY, attempt=2)
        factories.run_row(
            job, at("2025-03-12 09:40:00"), status=RunStatus.MISSED, reason="scheduler not running", finished=NOW
        )
        # 09:50: nothing at all.
        ran(job, at("2025-03-12 10:00:00"), late=0.3, took=60, status=RunStatus.TIMED_OUT, reason="timeout")
    with travel(EDITED):
        job = services.job_update(
            job=job, actor=user, data={"schedule": {"kind": "interval", "every": 15, "unit": "minutes"}}
        )
    paused, resumed = PAUSES[2]
    with travel(paused):
        job = services.job_pause(job=job, actor=user)
    with travel(resumed):
        job = services.job_resume(job=job, actor=user)
    with travel(NOW):
        ran(job, at("2025-03-12 10:15:30"), late=0.5)
        factories.run_row(
            job, at("2025-03-12 11:00:30"), status=RunStatus.MISSED, reason="scheduler not running", finished=NOW
        )
        ran(job, at("2025-03-12 11:00:30"), late=270, trigger=RunTrigger.CATCHUP)
        factories.run_row(job, at("2025-03-12 11:15:30"), status=RunStatus.RUNNING, started=at("2025-03-12 11:15:31"))
        ran(job, at("2025-03-12 11:30:30"), late=0.2)
        ran(job, at("2025-03-12 11:20:00"), late=0.1, trigger=RunTrigger.MANUAL)
        ran(job, at("2025-03-12 10:05:00"), late=0.1)  # no slot of any schedule in force
        # 11:45:30 is 5 s ago: not dispatched yet.
    return job


@pytest.fixture
def explained(history: Job) -> explain.Explanation:
    with travel(NOW):
        return explain.explain(history, since=explain.parse_since(SINCE, now=NOW), now=NOW)


def outcomes(explanation: explain.Explanation) -> dict[datetime, Outcome]:
    return {slot.at: slot.outcome for slot in explanation.slots}


def slot(explanation: explain.Explanation, moment: datetime) -> explain.SlotReport:
    return next(s for s in explanation.slots if s.at == moment)


def every(start: datetime, end: datetime, step: timedelta) -> list[datetime]:
    """Independent of jobs.schedules: plain arithmetic."""
    out, moment = [], start
    while moment <= end:
        out.append(moment)
        moment += step
    return out


def test_every_expected_slot_is_listed_under_the_schedule_then_in_force(explained):
    cron_slots = every(at("2025-03-10 07:40:00"), at("2025-03-12 10:00:00"), timedelta(minutes=10))
    interval_slots = every(at("2025-03-12 10:15:30"), at("2025-03-12 11:45:30"), timedelta(minutes=15))
    assert [s.at for s in explained.slots] == cron_slots + interval_slots
    assert slot(explained, at("2025-03-12 10:00:00")).schedule == "Every 10 minutes (UTC)"
    assert slot(explained, at("2025-03-12 10:15:30")).schedule.startswith(
        "Every 15 minutes, counted from 2025-03-12 10:00:30 (UTC)"
    )


def test_each_outcome(explained):
    got = outcomes(explained)
    expected = {
        "2025-03-10 08:00:00": Outcome.BEFORE_CREATED,
        "2025-03-10 08:10:00": Outcome.BEYOND_RETENTION,
        "2025-03-10 08:20:00": Outcome.ON_TIME,  # its run outlived the retention
        "2025-03-10 09:00:00": Outcome.PAUSED,
        "2025-03-10 10:00:00": Outcome.PAUSED,
        "2025-03-10 10:10:00": Outcome.BEYOND_RETENTION,
        "2025-03-11 11:00:00": Outcome.PAUSED,  # beyond the retention, but the audit trail knows
        "2025-03-12 08:50:00": Outcome.PAUSED,
        "2025-03-12 09:00:00": Outcome.ON_TIME,
        "2025-03-12 09:10:00": Outcome.LATE,
        "2025-03-12 09:20:00": Outcome.SKIPPED,
        "2025-03-12 09:30:00": Outcome.RETRIED,
        "2025-03-12 09:40:00": Outcome.MISSED,
        "2025-03-12 09:50:00": Outcome.MISSED,
        "2025-03-12 10:00:00": Outcome.FAILED,
        "2025-03-12 10:15:30": Outcome.ON_TIME,
        "2025-03-12 10:30:30": Outcome.PAUSED,
        "2025-03-12 10:45:30": Outcome.PAUSED,
        "2025-03-12 11:00:30": Outcome.LATE,
        "2025-03-12 11:15:30": Outcome.IN_PROGRESS,
        "2025-03-12 11:30:30": Outcome.ON_TIME,
        "2025-03-12 11:45:30": Outcome.PENDING,
    }
    assert {text: got[at(text)] for text in expected} == expected
    assert set(got.values()) == set(Outcome)  # the fabricated history covers every outcome


def test_summary_counts(explained):
    before = 3  # 07:40, 07:50, 08:00
    paused = 7 + len(every(at("2025-03-11 11:00:00"), at("2025-03-12 08:50:00"), timedelta(minutes=10))) + 2
    beyond = 4 + len(every(at("2025-03-10 10:10:00"), at("2025-03-11 10:50:00"), timedelta(minutes=10)))
    assert explained.summary == {
        "on_time": 4,
        "late": 2,
        "skipped": 1,
        "missed": 2,
        "paused": paused,
        "failed": 1,
        "retried": 1,
        "in_progress": 1,
        "pending": 1,
        "before_created": before,
        "beyond_retention": beyond,
    }


def test_details_say_what_happened(explained, user):
    late = slot(explained, at("2025-03-12 09:10:00"))
    assert late.lateness_seconds == 60
    assert "started 1 min after the slot" in late.detail
    assert "overlap" in slot(explained, at("2025-03-12 09:20:00")).detail
    retried = slot(explained, at("2025-03-12 09:30:00"))
    assert "failed (HTTP 500)" in retried.detail and "retried 1 time(s)" in retried.detail
    assert "succeeded" in retried.detail
    assert [(r.trigger, r.attempt) for r in retried.runs] == [("schedule", 1), ("retry", 2)]
    assert slot(explained, at("2025-03-12 09:40:00")).detail == "recorded by the scheduler: scheduler not running"
    assert slot(explained, at("2025-03-12 09:50:00")).detail.startswith("no run at all")
    assert slot(explained, at("2025-03-12 10:00:00")).detail.startswith("timed out (timeout)")
    paused = slot(explained, at("2025-03-12 10:30:30")).detail
    assert paused.startswith(f"paused by {user.username} at 2025-03-12T10:20:00Z until 2025-03-12T10:50:00Z")
    caught_up = slot(explained, at("2025-03-12 11:00:30"))
    assert "caught up" in caught_up.detail
    assert caught_up.lateness_seconds == 270
    assert "RUNS_RETENTION_DAYS" in slot(explained, at("2025-03-10 10:10:00")).detail
    assert "created at 2025-03-10T08:05:00Z" in slot(explained, at("2025-03-10 07:40:00")).detail


def test_manual_and_unexpected_runs_are_listed_beside_the_slots(explained):
    others = [(run.scheduled_for, run.trigger, note) for run, note in explained.other_runs]
    assert others == [
        (at("2025-03-12 10:05:00"), "schedule", "not a slot of the schedule then in force"),
        (at("2025-03-12 11:20:00"), "manual", "run by hand"),
    ]


def test_schedule_versions_and_pauses(explained, user):
    assert [(s.start, s.end) for s in explained.schedules] == [(CREATED, EDITED), (EDITED, None)]
    assert explained.schedules[0].by == user.username
    assert [(p.start, p.end) for p in explained.pauses] == PAUSES


def test_notes_flag_the_retention_and_the_creation(explained):
    notes = " ".join(explained.notes)
    assert "longer than the 1 day(s) of run history kept (RUNS_RETENTION_DAYS)" in notes
    assert "created at 2025-03-10T08:05:00Z" in notes
    assert "The schedule changed 1 time(s)" in notes
    assert "Next slot: 2025-03-12T12:00:30Z" in notes


def test_to_dict_is_json_ready(explained):
    data = explained.to_dict()
    assert data["window"] == {"start": "2025-03-10T07:35:00Z", "end": "2025-03-12T11:45:35Z"}
    assert data["retention"] == {"days": 1, "start": "2025-03-11T11:45:35Z"}
    first = data["slots"][0]
    assert first["at"] == "2025-03-10T07:40:00Z" and first["outcome"] == "before_created"
    retried = next(s for s in data["slots"] if s["at"] == "2025-03-12T09:30:00Z")
    assert [r["status"] for r in retried["runs"]] == ["failed", "succeeded"]
    assert retried["runs"][0]["lateness_seconds"] == 1.0


# --- schedule reconstruction ----------------------------------------------------------------


def test_interval_edits_keep_each_versions_anchor(user):
    with travel(at("2025-06-01 12:00:07")):
        job = factories.job(user, schedule={"kind": "interval", "every": 10, "unit": "minutes"})
    with travel(at("2025-06-01 12:33:00")):
        job = services.job_update(
            job=job, actor=user, data={"schedule": {"kind": "interval", "every": 7, "unit": "minutes"}}
        )
    with travel(at("2025-06-01 12:40:00")):
        job = services.job_update(job=job, actor=user, data={"description": "not a schedule change"})
    now = at("2025-06-01 13:05:00")
    with travel(now):
        result = explain.explain(job, since=now - timedelta(hours=2), now=now)
    assert [s.at for s in result.slots] == [
        at("2025-06-01 12:10:07"),
        at("2025-06-01 12:20:07"),
        at("2025-06-01 12:30:07"),
        at("2025-06-01 12:40:00"),
        at("2025-06-01 12:47:00"),
        at("2025-06-01 12:54:00"),
        at("2025-06-01 13:01:00"),
    ]
    assert len(result.schedules) == 2  # the description edit is no schedule version


def test_time_zone_edit_moves_the_wall_clock_slots(user):
    with travel(at("2025-04-01 00:00:00")):
        job = factories.job(user, schedule={"kind": "cron", "cron": "0 9 * * *", "timezone": "Europe/Berlin"})
    with travel(at("2025-04-03 10:00:00")):
        job = services.job_update(
            job=job,
            actor=user,
            data={"schedule": {"kind": "cron", "cron": "0 9 * * *", "timezone": "America/New_York"}},
        )
    now = at("2025-04-05 00:00:00")
    with travel(now):
        result = explain.explain(job, since=at("2025-04-01 00:00:00"), now=now)
    assert [s.at for s in result.slots] == [
        at("2025-04-01 07:00:00"),  # 09:00 CEST
        at("2025-04-02 07:00:00"),
        at("2025-04-03 07:00:00"),
        at("2025-04-03 13:00:00"),  # 09:00 EDT, the same day after the edit
        at("2025-04-04 13:00:00"),
    ]


def test_job_created_paused_is_paused_until_resumed(user):
    with travel(at("2025-05-01 10:00:00")):
        job = factories.job(user, schedule={"kind": "cron", "cron": "0 * * * *"}, enabled=False)
    with travel(at("2025-05-01 12:30:00")):
        job = services.job_resume(job=job, actor=user)
    now = at("2025-05-01 13:30:00")
    with travel(now):
        result = explain.explain(job, since=at("2025-05-01 10:00:00"), now=now)
    assert [(s.at.hour, s.outcome, s.detail.split(" at ")[0]) for s in result.slots] == [
        (11, Outcome.PAUSED, "created paused"),
        (12, Outcome.PAUSED, "created paused"),
        (13, Outcome.MISSED, "no run"),
    ]


def test_a_job_paused_now_says_so(user):
    with travel(at("2025-05-01 10:00:00")):
        job = factories.job(user, schedule={"kind": "cron", "cron": "0 * * * *"})
    with travel(at("2025-05-01 10:30:00")):
        job = services.job_pause(job=job, actor=user)
    now = at("2025-05-01 12:30:00")
    with travel(now):
        result = explain.explain(job, since=at("2025-05-01 10:00:00"), now=now)
    assert [s.outcome for s in result.slots] == [Outcome.PAUSED, Outcome.PAUSED]
    assert f"The job is paused now (paused by {user.username})." in result.notes
    assert result.pauses[0].end is None


def test_no_slot_in_the_window(user):
    with travel(at("2025-05-01 10:00:00")):
        job = factories.job(user, schedule={"kind": "cron", "cron": "0 9 * * 1"})  # Mondays
    now = at("2025-05-01 12:00:00")  # a Thursday
    with travel(now):
        result = explain.explain(job, since=now - timedelta(hours=1), now=now)
    assert result.slots == []
    assert "The schedule expected no run in this window." in result.notes


def test_at_most_max_slots_the_latest_are_kept(user):
    with travel(at("2025-05-01 00:00:00")):
        job = factories.job(user, schedule={"kind": "interval", "every": 10, "unit": "seconds"})
    now = at("2025-05-02 00:00:00")
    with travel(now):
        result = explain.explain(job, since=at("2025-05-01 00:00:00"), now=now, max_slots=100)
    assert len(result.slots) == 100
    assert result.slots[-1].at == now
    assert result.slots_not_shown == 8640 - 100
    assert any("earlier slot(s) are not shown" in note for note in result.notes)


def test_cron_slot_cap_keeps_the_latest(user):
    with travel(at("2025-05-01 00:00:00")):
        job = factories.job(user, schedule={"kind": "cron", "cron": "* * * * *"})
    now = at("2025-05-01 02:00:00")
    with travel(now):
        result = explain.explain(job, since=at("2025-05-01 00:00:00"), now=now, max_slots=30)
    assert [s.at for s in result.slots] == every(at("2025-05-01 01:31:00"), now, timedelta(minutes=1))
    assert result.slots_not_shown == 90


def test_runs_match_slots_at_millisecond_precision(user):
    """MongoDB keeps milliseconds: a slot with microseconds still finds its run."""
    with travel(at("2025-05-01 00:00:00")):
        job = factories.job(user, schedule={"kind": "interval", "every": 1, "unit": "hours"})
    job.interval_anchor = at("2025-05-01 00:00:00") + timedelta(microseconds=123456)
    job.save(update_fields=["interval_anchor"])
    stored = at("2025-05-01 01:00:00") + timedelta(microseconds=123000)
    factories.run_row(job, stored, started=stored + SEC, finished=stored + 2 * SEC)
    now = at("2025-05-01 01:30:00")
    with travel(now):
        result = explain.explain(job, since=at("2025-05-01 00:00:00"), now=now)
    assert [s.outcome for s in result.slots] == [Outcome.ON_TIME]
    assert result.other_runs == []


def test_jitter_is_not_lateness(user):
    with travel(at("2025-05-01 00:00:00")):
        job = factories.job(user, schedule={"kind": "cron", "cron": "0 * * * *"}, jitter_seconds=300)
    offset = policies.jitter_offset(job)
    ran(job, at("2025-05-01 01:00:00"), late=offset + 2)
    now = at("2025-05-01 01:30:00")
    with travel(now):
        result = explain.explain(job, since=at("2025-05-01 00:00:00"), now=now)
    assert result.slots[0].outcome == Outcome.ON_TIME
    assert "jitter" in result.slots[0].detail


# --- the window --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "back"),
    [("30m", timedelta(minutes=30)), ("24h", timedelta(hours=24)), ("7d", timedelta(days=7)), ("90s", 90 * SEC)],
)
def test_since_durations(value, back):
    assert explain.parse_since(value, now=NOW) == NOW - back


def test_since_iso_times():
    assert explain.parse_since("2025-03-12T09:00:00+01:00", now=NOW) == at("2025-03-12 08:00:00")
    assert explain.parse_since("2025-03-12T08:00:00Z", now=NOW) == at("2025-03-12 08:00:00")
    assert explain.parse_since("2025-03-12 08:00", now=NOW) == at("2025-03-12 08:00:00")  # no offset: UTC


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("yesterday", "neither a duration"),
        ("0h", "empty window"),
        ("2025-03-13T00:00:00Z", "not in the past"),
        ("400d", "more than 366 days"),
        ("", "neither a duration"),
    ],
)
def test_bad_since(value, message):
    with pytest.raises(explain.SinceError, match=message):
        explain.parse_since(value, now=NOW)


def test_a_one_off_job(user):
    with travel(at("2025-05-01 10:00:00")):
        job = factories.job(user, schedule={"kind": "once", "at": "2025-05-01T12:00:00Z"})
    ran(job, at("2025-05-01 12:00:00"), late=0.3)
    with travel(at("2025-05-01 12:00:05")):
        job = services.job_pause(job=job, actor=None, reason=PauseReason.FINISHED)
    now = at("2025-05-01 13:00:00")
    with travel(now):
        result = explain.explain(job, since=at("2025-05-01 09:00:00"), now=now)
    assert [(s.at, s.outcome) for s in result.slots] == [(at("2025-05-01 12:00:00"), Outcome.ON_TIME)]
    assert result.slots[0].schedule == "Once on 2025-05-01 at 12:00 (UTC)"
    assert "The job is paused now (one-off run done)." in result.notes
