"""Next fire times: the DST rules, anchored intervals, and a memo for cron.

DST rules
=========

These are classic Debian/Vixie cron semantics.  cronsim implements them; this
module adds one post-processing step (see "fall-back" below).

1. Fixed-time cron jobs -- the minute field AND the hour field are both
   something other than a wildcard (e.g. ``30 2 * * *``, ``0 9 * * 1-5``,
   ``0,30 8-17 * * *``); "wildcard" means the field starts with ``*``, which
   is exactly Debian's test, so ``*/15`` is a wildcard but ``0-59/15`` is not:

   * Spring-forward: if the local time does not exist, the job fires once at
     the first valid instant after the gap.  Europe/Berlin, 2025-03-30:
     ``30 2 * * *`` fires at 03:00 CEST (01:00 UTC).  America/New_York,
     2025-03-09: it fires at 03:00 EDT (07:00 UTC).
   * Fall-back: if the local time occurs twice, the job fires only at the
     first occurrence.  Europe/Berlin, 2025-10-26: ``30 2 * * *`` fires at
     02:30 CEST (00:30 UTC) and NOT again at 02:30 CET (01:30 UTC).
     America/New_York, 2025-11-02: ``30 1 * * *`` fires at 01:30 EDT
     (05:30 UTC) only.

2. Wildcard cron jobs -- the minute or the hour field starts with ``*``
   (e.g. ``*/15 * * * *``, ``0 * * * *``, ``*/5 9 * * *``): the job fires at
   every real instant whose local wall-clock time matches.  So
   ``*/15 * * * *`` fires every 15 real minutes straight through both
   transitions: in the repeated fall-back hour it fires 4 times in each of the
   two 02:xx hours (Berlin, 2025-10-26); in spring-forward there are simply no
   02:xx local times.  Consecutive fire times are always 15 minutes apart in
   UTC.

3. Intervals are exact elapsed time: ``anchor + k * interval`` computed in UTC,
   then shown in the schedule's time zone.  DST never stretches or shrinks
   them ("every 1 day" is every 86400 s, so its wall-clock time shifts by an
   hour across a transition; use a cron/"daily at" schedule for wall-clock).

4. ``once`` is a single instant.  When it comes from a phrase with a local
   date and time (``on 2031-03-30 at 02:30``), the same rules as (1) are used
   to turn the wall-clock time into an instant: a skipped time moves to the
   first valid minute after the gap, a repeated time means its first
   occurrence.

5. Time ends at ``MAX_INSTANT`` (9999-01-01 UTC): a sequence that would go past it simply ends,
   so a stored schedule from before the bounds in ``model`` (every 1,000,000 days) has no further
   slots instead of raising OverflowError in whatever page or pass asked.

All returned fire times are aware datetimes in the schedule's ``ZoneInfo``.
Compare them after ``.astimezone(UTC)``: Python compares two datetimes that
share a tzinfo by wall clock (ignoring ``fold``, so 02:30 CEST == 02:30 CET),
and ``==`` between different zones is always False for a time inside a
repeated hour (PEP 495).  The package does all its own comparisons in UTC
(``model._ts``).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from jobs.schedules.cron import CronSpec, parse_cron
from jobs.schedules.model import MAX_INSTANT, Schedule, ScheduleError, _require_aware, _ts


def _is_imaginary(local: datetime) -> bool:
    # A wall-clock time inside a spring-forward gap does not survive a round
    # trip through UTC.
    return local != local.astimezone(UTC).astimezone(local.tzinfo)


def _localize(naive: datetime, tz: ZoneInfo) -> datetime:
    """Wall-clock time -> instant, using the cron rules from the docstring."""
    local = naive.replace(tzinfo=tz, fold=0)  # fold=0: first occurrence
    if _is_imaginary(local):
        # Same as cronsim/Debian: walk forward minute by minute to the first
        # real instant after the gap (gaps can be up to a whole day).
        local = local.replace(second=0, microsecond=0)
        for _ in range(2 * 24 * 60):
            local = (local.replace(tzinfo=None) + timedelta(minutes=1)).replace(tzinfo=tz)
            if not _is_imaginary(local):
                break
    return local


def _instants(naive: datetime, tz: ZoneInfo, wildcard: bool) -> tuple[tuple[datetime, ...], datetime]:
    """The instants (naive UTC) a matching wall-clock minute fires at, and a bound below every instant
    of this or any later wall-clock time.

    PEP 495: fold=0 reads a wall time with the offset before a transition, fold=1 with the one
    after. Same offset: the time exists once. fold=0's larger: it exists twice (a repeated
    stretch). fold=0's smaller: it does not exist (a gap).
    """
    before = naive.replace(tzinfo=tz).utcoffset()
    after = naive.replace(tzinfo=tz, fold=1).utcoffset()
    assert before is not None and after is not None  # a ZoneInfo always has an offset
    if before == after:
        first = naive - before
        return (first,), first
    if before > after:  # repeated: rule 2 fires in both copies, rule 1 only in the first
        first = naive - before
        return ((first, naive - after) if wildcard else (first,)), first
    # Skipped: rule 2 has no such instant; rule 1 fires at the first valid instant after the gap.
    # The bound: the gap begins at (naive - after) or later.
    bound = naive - after
    if wildcard:
        return (), bound
    return (_localize(naive, tz).astimezone(UTC).replace(tzinfo=None),), bound


def _cron_instants(spec: CronSpec, tz: ZoneInfo, after: datetime) -> Iterator[datetime]:
    """Cron fire times strictly after `after`, ascending, in `tz`: the DST rules of the docstring.

    The spec yields matching wall-clock minutes (naive, ascending); each is mapped to the real
    instants it fires at (`_instants`). Wall-clock order is not time order where a stretch repeats
    (02:45 CEST comes before 02:00 CET), so instants wait in a heap until no later wall-clock time
    can give an earlier one: every instant of a wall time at or after `n` is at or after
    `_instants(n)`'s bound.
    """
    after_utc = after.astimezone(UTC).replace(tzinfo=None)
    # The wall clock reads less than at `after` after a fall-back: start that much earlier (shifts
    # last at most 26 hours, so a change more than 26 hours ahead cannot reach back before `after`).
    offset = after.astimezone(tz).utcoffset()
    assert offset is not None
    lowest = min(
        offset,
        *((after + timedelta(hours=hours)).astimezone(tz).utcoffset() or offset for hours in (3, 26)),
    )
    start = after_utc + lowest
    wildcard = spec.wildcard_time
    pending: list[datetime] = []
    last: datetime | None = None
    for naive in spec.iter_naive(start):
        instants, bound = _instants(naive, tz, wildcard)
        while pending and pending[0] <= bound:
            instant = heapq.heappop(pending)
            # Two skipped wall times map to the same instant after the gap (rule 1): fire once.
            if instant > after_utc and (last is None or instant > last):
                last = instant
                yield instant.replace(tzinfo=UTC).astimezone(tz)
        for instant in instants:
            heapq.heappush(pending, instant)
    while pending:  # the expression stopped matching (50 years without a matching day)
        instant = heapq.heappop(pending)
        if instant > after_utc and (last is None or instant > last):
            last = instant
            yield instant.replace(tzinfo=UTC).astimezone(tz)


def _iter_fire_times(schedule: Schedule, after: datetime) -> Iterator[datetime]:
    """Fire times strictly after `after`, ascending, in the schedule's zone, ending at MAX_INSTANT.

    A stored schedule that cannot be computed at all (a cron field out of
    range, a zone tzdata no longer has) raises ScheduleError, the one error
    callers showing many schedules catch, whatever library found the problem.
    """
    _require_aware(after, "after")
    try:
        for fire in _iter_unbounded(schedule, after):
            if _ts(fire) >= MAX_INSTANT:
                return
            yield fire
    except OverflowError:
        return
    except (KeyError, ValueError) as exc:
        raise ScheduleError(f"This schedule cannot be computed ({type(exc).__name__}: {exc}); edit it.") from exc


def _iter_unbounded(schedule: Schedule, after: datetime) -> Iterator[datetime]:
    tz = ZoneInfo(schedule.timezone)

    if schedule.kind == "once":
        if schedule.at is not None and _ts(schedule.at) > _ts(after):
            yield schedule.at.astimezone(tz)
        return

    if schedule.kind == "interval":
        seconds = schedule.interval_seconds
        if not seconds or schedule.anchor is None:
            raise ValueError("interval schedule needs every, unit and anchor")
        step = timedelta(seconds=seconds)
        anchor = schedule.anchor.astimezone(UTC)
        # Exact arithmetic on timedeltas (integer microseconds), in UTC, so
        # DST cannot affect it.  k >= 0: nothing fires before the anchor.
        k = max(0, (after.astimezone(UTC) - anchor) // step + 1)
        slot = anchor + k * step
        while True:
            yield slot.astimezone(tz)
            slot += step

    if schedule.kind == "cron":
        if not schedule.cron:
            raise ValueError("cron schedule needs a cron expression")
        yield from _cron_instants(parse_cron(schedule.cron), tz, after)
        return

    raise ValueError(f"unknown schedule kind {schedule.kind!r}")


def next_fire_times(schedule: Schedule, *, after: datetime, count: int) -> list[datetime]:
    """The next `count` fire times strictly after `after`.

    Aware datetimes in the schedule's ZoneInfo.  once: ``[at]`` if
    ``at > after`` else ``[]``.  interval: ``anchor + k * interval`` for the
    smallest k >= 0 with result > after (exact elapsed time, computed in UTC).
    cron: per the DST rules in the module docstring.
    """
    if count <= 0:
        _require_aware(after, "after")
        return []
    if schedule.kind == "cron" and schedule.cron:
        return _cron_fire_times(schedule, after, count)
    result: list[datetime] = []
    for fire in _iter_fire_times(schedule, after):
        result.append(fire)
        if len(result) >= count:
            break
    return result


# Memo of cron fire times per (expression, zone, minute). Many jobs share a schedule ("0 * * * *" in
# one zone) and API pages ask for the next five of each on every read; walking cronsim each time
# dominated a page of 50 jobs. A memo must never change an answer: one that answered a later query
# from an earlier start's iteration did (cronsim's walk depends on where it starts around some DST
# changes: 318 differing answers around Lord Howe's, Chatham's and Santiago's). So an entry answers
# only queries within the UTC minute it was computed for, where the answer is the same for every
# instant (fire times are whole minutes, and no zone changes offset within a minute). Bounded in size;
# dict reads and writes are atomic, so threads can share it.
# Value: the fire times, and whether they are all there are (the sequence ended before the span).
_CRON_MEMO: dict[tuple[str, str, datetime], tuple[list[datetime], bool]] = {}
_CRON_MEMO_SPAN = 8
_CRON_MEMO_MAX = 4096


def _cron_fire_times(schedule: Schedule, after: datetime, count: int) -> list[datetime]:
    _require_aware(after, "after")
    minute = _ts(after).replace(second=0, microsecond=0)
    key = (schedule.cron or "", schedule.timezone, minute)
    entry = _CRON_MEMO.get(key)
    if entry is not None and (count <= len(entry[0]) or entry[1]):
        return entry[0][:count]
    wanted = max(count, _CRON_MEMO_SPAN)
    fires = []
    for fire in _iter_fire_times(schedule, after):
        fires.append(fire)
        if len(fires) >= wanted:
            break
    if len(_CRON_MEMO) >= _CRON_MEMO_MAX:
        _CRON_MEMO.clear()
    _CRON_MEMO[key] = (fires, len(fires) < wanted)
    return fires[:count]


def next_fire_time(schedule: Schedule, *, after: datetime) -> datetime | None:
    """The first fire time strictly after `after`, or None if there is none."""
    times = next_fire_times(schedule, after=after, count=1)
    return times[0] if times else None


def slots_between(schedule: Schedule, *, start: datetime, end: datetime, limit: int = 100_000) -> list[datetime]:
    """All fire times t with start < t <= end (used for catch-up and `explain`).

    At most `limit` slots are returned (the earliest ones); callers that need
    to know whether it was truncated can compare ``len(result) == limit``.
    """
    _require_aware(end, "end")
    result: list[datetime] = []
    if limit <= 0:
        return result
    end_utc = _ts(end)
    for fire in _iter_fire_times(schedule, start):
        if _ts(fire) > end_utc:
            break
        result.append(fire)
        if len(result) >= limit:
            break
    return result
