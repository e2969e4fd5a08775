"""Beats share the jobs by partition: each partition a range of job ids under a lease of its own.

With `JOBS_BEAT_PARTITIONS=P` (default 1) the job ids are cut into P ranges:
partition k covers the ids in [k * 2**128 / P, (k + 1) * 2**128 / P). Job ids
are random (uuid4), so a range of ids is a hash range and each partition
holds about 1/P of the jobs. With P = 1 there is one lease, named `jobs`, no
id filter, and everything is as in `jobs.beat.lease`: one active beat, the
others standing by.

For P > 1 every partition has its own `BeatLease` row (`jobs:<k>/<P>`), with
the same compare-and-set, fence and takeover rules as the single lease
(`jobs.beat.lease.Lease`, unchanged). A beat fires only the jobs of the
partitions whose leases it holds, and checks them per batch as before. The
claims, not the leases, keep a slot from running twice.

Who holds which partition (each beat applies the rule on its own; no beat
tells another what to do):

1. Membership: every beat keeps a row of its own, `member:<hash of holder>`,
   renewed like a lease (`Lease`, compare-and-set on `(holder, seq)`). A
   member is live while this beat has seen its `(holder, seq)` change within
   the lease's length by this beat's own monotonic clock: exactly how a
   standby judges a lease, so no wall clocks are compared across machines.
   A member row unchanged for MEMBER_PRUNE_SECONDS is deleted; a beat that
   wakes up after that writes it again.
2. Fair share = ceil(P / live members, this beat included). A beat takes a
   free (released) or lapsed partition, lowest first, only while it holds
   fewer than its fair share; it releases (`Lease.release()`, so another
   beat takes it at once) its highest-numbered partition while it holds more
   than its fair share, one per look. So a second beat receives half within
   a few looks, and when a beat dies the others' fair share grows as its
   membership lapses, and they take its partitions as their leases lapse.
3. Each beat looks (one read of every lease row) every STANDBY_POLL_SECONDS
   at most; its own leases are renewed at every tick, as the single lease is.
4. Only the holder of partition 0 runs the stock entries (the reaper,
   retention) and the mirror repair, so they never run twice.
5. A partition taken over from a silent beat is inherited as the single lease
   is: the runs of its jobs claimed shortly before are published again, and
   claims older than the takeover are dead (`JobScheduler._inherit`).
"""

from __future__ import annotations

import hashlib
import math
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from django.conf import settings
from django.db.models import Q

from jobs.beat.lease import LEASE_NAME, STANDBY_POLL_SECONDS, Lease, LeaseState, holder_name
from jobs.models import BeatLease

#: A member row unchanged for this long (by the observer's clock) is deleted.
MEMBER_PRUNE_SECONDS = 60.0
MEMBER_PREFIX = "member:"
_SPACE = 1 << 128  # how many uuids there are


# --- the ranges (pure) ------------------------------------------------------------------------------


def bounds(k: int, count: int) -> tuple[uuid.UUID | None, uuid.UUID | None]:
    """Partition k of `count`: the ids in [low, high); None for the open ends (the first's low, the last's high)."""
    if not 0 <= k < count:
        raise ValueError(f"partition {k} of {count}")
    low = None if k == 0 else uuid.UUID(int=_edge(k, count))
    high = None if k == count - 1 else uuid.UUID(int=_edge(k + 1, count))
    return low, high


def _edge(k: int, count: int) -> int:
    # ceil(k * 2**128 / count): an integer id is at or past it exactly when id * count >= k * 2**128,
    # so `partition_of` (a floor) and these bounds agree on every id.
    return -(-k * _SPACE // count)


def partition_of(job_id: uuid.UUID, count: int) -> int:
    """Which partition an id falls in: the k whose bounds hold it."""
    return job_id.int * count // _SPACE


def lease_name(k: int, count: int) -> str:
    """The lease row of partition k: `jobs` when there is one partition (as before partitions), else `jobs:k/count`."""
    return LEASE_NAME if count == 1 else f"{LEASE_NAME}:{k}/{count}"


def id_filter(partitions: Sequence[int], count: int, *, field: str = "id") -> Q:
    """The rows whose `field` (a job id) falls in any of `partitions`: Q() (everything) when count is 1."""
    if count == 1:
        return Q()
    if not partitions:
        return Q(pk__in=[])  # nothing: Django answers it without a query
    where = Q()
    for k in sorted(set(partitions)):
        low, high = bounds(k, count)
        part = Q()
        if low is not None:
            part &= Q(**{f"{field}__gte": low})
        if high is not None:
            part &= Q(**{f"{field}__lt": high})
        where |= part
    return where


def member_name(holder: str) -> str:
    """A beat's membership row: a hash of its holder name, which may be longer than a row name allows."""
    return MEMBER_PREFIX + hashlib.sha256(holder.encode()).hexdigest()[:16]


# --- a beat's share ------------------------------------------------------------------------------------


class Partitions:
    """The partitions one beat holds: `refresh()` at every tick (returns those it may act on), `release()` at stop."""

    def __init__(
        self,
        *,
        count: int | None = None,
        holder: str | None = None,
        seconds: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        lease: Lease | None = None,
    ) -> None:
        """`lease`: the one lease when there is one partition (tests pass their own)."""
        self.count = settings.JOBS_BEAT_PARTITIONS if count is None else count
        if lease is not None:
            self.count = 1
            holder, seconds, clock = lease.holder, lease.seconds, lease._clock
        self.holder = holder or holder_name()
        self.seconds = settings.JOBS_BEAT_LEASE_SECONDS if seconds is None else seconds
        self._clock = clock
        self.leases = [lease] if lease is not None else self._leases()
        self.member = (
            Lease(name=member_name(self.holder), holder=self.holder, seconds=self.seconds, clock=clock)
            if self.count > 1
            else None
        )
        self._looked_at: float | None = None
        # Other members: name -> ((holder, seq) last read, since when by this beat's clock).
        self._members: dict[str, tuple[tuple[str, int], float]] = {}
        self.live_members = 1

    def _leases(self) -> list[Lease]:
        return [
            Lease(name=lease_name(k, self.count), holder=self.holder, seconds=self.seconds, clock=self._clock)
            for k in range(self.count)
        ]

    def active(self) -> list[int]:
        """The partitions this beat may act on now (each lease's fence, `Lease.active()`)."""
        return [k for k, lease in enumerate(self.leases) if lease.active()]

    def acquired(self) -> bool:
        """Whether this beat holds any lease by its last write (a scheduler never ticked holds none)."""
        return any(lease.held() for lease in self.leases)

    def refresh(self) -> list[int]:
        """Renew this beat's leases, look at the others (taking or releasing one), return `active()`.

        Database errors propagate, as `Lease.refresh()`'s do.
        """
        if self.member is None:
            return [0] if self.leases[0].refresh() else []
        self.member.refresh()
        for lease in self.leases:
            if lease.held():
                lease.refresh(take=False)
        now = self._clock()
        if self._looked_at is None or now - self._looked_at >= STANDBY_POLL_SECONDS:
            self._look()
        return self.active()

    def inherited(self) -> list[int]:
        """The partitions taken over from a silent beat since last asked (`Lease.inherited`), cleared."""
        taken = [k for k, lease in enumerate(self.leases) if lease.inherited]
        for k in taken:
            self.leases[k].inherited = False
        return taken

    def release(self) -> None:
        """A clean stop: every lease released (another beat takes it at once) and the membership row gone."""
        for lease in self.leases:
            lease.release()
        if self.member is not None and self.member.held():
            BeatLease.objects.filter(name=self.member.name, holder=self.holder).delete()

    def _look(self) -> None:
        rows = {row.name: row for row in BeatLease.objects.order_by()}  # a few dozen rows at most
        read_at = self._looked_at = self._clock()
        for lease in self.leases:
            if not lease.held():
                lease.observe(rows.get(lease.name), read_at=read_at)
        self.live_members = 1 + self._observe_members(rows, read_at)
        fair = math.ceil(self.count / self.live_members)
        held = [k for k, lease in enumerate(self.leases) if lease.held()]
        if len(held) > fair:
            self.leases[held[-1]].release()
            return
        for lease in self.leases:
            if len(held) >= fair:
                break
            if lease.takeable() and lease.take():
                held.append(self.leases.index(lease))

    def _observe_members(self, rows: dict[str, BeatLease], read_at: float) -> int:
        """How many other beats are live (rule 1); member rows silent for MEMBER_PRUNE_SECONDS are deleted."""
        live = 0
        seen_now = {}
        for name, row in rows.items():
            if not name.startswith(MEMBER_PREFIX) or name == self.member.name:
                continue
            seen = (row.holder, row.seq)
            previous = self._members.get(name)
            since = previous[1] if previous is not None and previous[0] == seen else read_at
            seen_now[name] = (seen, since)
            if row.holder and read_at - since < self.seconds:
                live += 1
            elif read_at - since >= MEMBER_PRUNE_SECONDS:
                BeatLease.objects.filter(name=name, holder=row.holder, seq=row.seq).delete()
        self._members = seen_now
        return live


# --- what people see --------------------------------------------------------------------------------


@dataclass(frozen=True)
class PartitionState:
    """One partition's lease as /readyz, /metrics and the admin overview show it (None: no beat ever took it)."""

    partition: str  # "k/P"
    lease: LeaseState | None


def current_states(count: int | None = None) -> list[PartitionState]:
    """Every partition's lease, in one read (for P > 1; with one partition see `lease.current_state()`)."""
    count = settings.JOBS_BEAT_PARTITIONS if count is None else count
    names = [lease_name(k, count) for k in range(count)]
    rows = {row.name: row for row in BeatLease.objects.filter(name__in=names).order_by()}
    return [PartitionState(f"{k}/{count}", LeaseState.of(rows.get(name))) for k, name in enumerate(names)]
