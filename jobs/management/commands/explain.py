"""`manage.py explain <job-id> [--since 24h]`: why did (or didn't) a job run?"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from jobs import schedules
from jobs.diagnostics import explain
from jobs.diagnostics.explain import Outcome, SlotReport, human_duration, iso_utc
from jobs.management.commands._arguments import job_from_argument

# Runs of at least this many consecutive alike slots print as one line (unless --all).
FOLD_AT = 4
_FOLDABLE = {Outcome.ON_TIME, Outcome.PAUSED, Outcome.BEFORE_CREATED, Outcome.BEYOND_RETENTION, Outcome.MISSED}
_STEPS = 5


class Command(BaseCommand):
    help = (
        "Why did (or didn't) a job run? Lists every slot its schedule expected in the window and what "
        "happened: ran on time or late, skipped for overlap, missed, paused, failed (and retried), "
        "before the job existed, or beyond the retained run history."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("job_id", help="The job's id (UUID).")
        parser.add_argument(
            "--since",
            default="24h",
            help="Window start: 30m, 24h, 7d (also s, w) back from now, or an ISO 8601 time (UTC without "
            "an offset). Default 24h.",
        )
        parser.add_argument(
            "--late-after",
            type=float,
            default=explain.DEFAULT_LATE_AFTER.total_seconds(),
            metavar="SECONDS",
            help="A run that starts more than this after its slot (plus the job's jitter) ran late. Default 10.",
        )
        parser.add_argument("--all", action="store_true", help="One line per slot (alike slots are folded otherwise).")
        parser.add_argument("--json", action="store_true", help="Print the explanation as JSON (as the API does).")

    def handle(self, *args: Any, job_id: str, since: str, late_after: float, **options: Any) -> None:
        verbosity = options.get("verbosity", 1)
        counter = iter(range(1, _STEPS + 1))

        def progress(message: str) -> None:
            if verbosity >= 1:
                self.stderr.write(f"[{next(counter, _STEPS)}/{_STEPS}] {message}")

        job = job_from_argument(job_id)
        now = timezone.now()
        try:
            start = explain.parse_since(since, now=now)
        except explain.SinceError as exc:
            raise CommandError(f"--since: {exc}") from None
        if late_after < 0:
            raise CommandError("--late-after must not be negative.")
        try:
            result = explain.explain(
                job, since=start, now=now, late_after=timedelta(seconds=late_after), progress=progress
            )
        except schedules.ScheduleError as exc:
            raise CommandError(exc.message) from None
        if options["json"]:
            self.stdout.write(json.dumps(result.to_dict(), indent=2))
            return
        self._print(result, fold=not options["all"])

    # --- text output -------------------------------------------------------------------

    def _print(self, result: explain.Explanation, *, fold: bool) -> None:
        tz = ZoneInfo(result.timezone)
        out = self.stdout.write
        out(f"Job {result.job_name!r} ({result.job_id})")
        span = human_duration((result.window_end - result.window_start).total_seconds())
        out(f"Window: {iso_utc(result.window_start)} to {iso_utc(result.window_end)} ({span}); times in {tz.key}")
        out("Schedule in force:")
        for schedule in result.schedules:
            verb = "created" if schedule is result.schedules[0] and schedule.start == result.created_at else "edited"
            out(f"  from {_local(schedule.start, tz)} ({verb} by {schedule.by}): {schedule.description}")
        if result.pauses:
            out("Paused:")
            for pause in result.pauses:
                until = _local(pause.end, tz) if pause.end else "now"
                out(f"  {_local(pause.start, tz)} to {until}: {pause.reason}")
        out(f"Slots ({len(result.slots)}):")
        for line in self._slot_lines(result.slots, tz, fold=fold):
            out(f"  {line}")
        if result.other_runs:
            out("Other runs in the window:")
            for run, note in result.other_runs:
                started = _local(run.started_at, tz) if run.started_at else "never started"
                out(f"  {_local(run.scheduled_for, tz)}  {run.trigger} run, {run.status}; started {started} ({note})")
        summary = ", ".join(f"{n} {explain.OUTCOME_LABELS[Outcome(key)]}" for key, n in result.summary.items())
        out(f"Summary: {summary or 'no slots'}")
        for note in result.notes:
            out(f"Note: {note}")

    def _slot_lines(self, slots: list[SlotReport], tz: ZoneInfo, *, fold: bool) -> list[str]:
        lines: list[str] = []
        index = 0
        while index < len(slots):
            slot = slots[index]
            end = index + 1
            if fold and slot.outcome in _FOLDABLE:
                while end < len(slots) and _alike(slots[end], slot):
                    end += 1
            if end - index >= FOLD_AT:
                group = slots[index:end]
                label = explain.OUTCOME_LABELS[slot.outcome]
                detail = slot.detail
                if slot.outcome == Outcome.ON_TIME:
                    worst = max((s.lateness_seconds or 0.0) for s in group)
                    detail = f"started at most {human_duration(worst)} after their slots"
                lines.append(
                    f"{_local(group[0].at, tz)} to {_local(group[-1].at, tz)}  {len(group)} slots {label}: {detail}"
                )
            else:
                for item in slots[index:end]:
                    lines.append(f"{_local(item.at, tz)}  {explain.OUTCOME_LABELS[item.outcome]}: {item.detail}")
            index = end
        return lines


def _alike(slot: SlotReport, first: SlotReport) -> bool:
    if slot.outcome != first.outcome:
        return False
    # On-time runs fold whatever their durations; other outcomes only when the reason is the same.
    return slot.outcome == Outcome.ON_TIME or slot.detail == first.detail


def _local(moment: datetime | None, tz: ZoneInfo) -> str:
    if moment is None:
        return "-"
    return moment.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S %Z")
