"""Which beat is in charge: one lease row, renewed at every tick, judged by each beat's own clock.

Several beats may run (the compose stack runs two). Exactly one is active: it
fires the jobs and the stock entries; the others are standbys that watch the
lease and take over when it lapses. The rules:

1. The lease is one `BeatLease` row (`name="jobs"`), changed only by
   compare-and-set on `(holder, seq)`: every renewal and every takeover bumps
   `seq`, so of two beats writing the same row one wins and the other's
   update matches nothing. No transaction or lock is needed, so this is the
   same on SQLite, PostgreSQL and MongoDB.
2. The active beat renews at least every `seconds / 3`. A renewal that
   matches nothing means another beat took over: this one is a standby from
   that moment.
3. A standby takes over when the row shows no holder (the active beat stopped
   cleanly and released it), or when it has seen the same `(holder, seq)` for
   `seconds` by its own monotonic clock (the active beat died or froze).
   A takeover bumps `generation`, the fencing token.
4. The fence: a beat acts only while its last successful renewal (or
   takeover) was *sent* less than `seconds - FENCE_MARGIN_SECONDS` ago by its
   own monotonic clock. The standby's `seconds` starts when it *read* that
   renewal, which is later, so the old holder stops acting before a standby
   may start, with no wall clocks compared across machines (the stored times
   are for people). A beat frozen (SIGSTOP) past its lease wakes up fenced,
   tries to renew, finds the row taken, and stays a standby.
5. The lease decides who does the work; it is not what keeps a slot from
   running twice. The claims are (`jobs.execution.claims`): a beat frozen in
   the middle of a batch and woken after a takeover finishes that batch, and
   its claims lose to the new holder's or win instead of them, never both.
   Its advances then find the jobs moved on by the new holder, which is not
   an edit: it withdraws nothing (`firing._still_runnable`).
6. A beat that takes over from a silent holder (`inherited`) inherits its
   unfinished work: the scheduler publishes again the runs claimed shortly
   before the takeover (a message sent twice starts its run once), and treats
   claims older than the takeover as dead at once instead of after
   `firing.STALE_CLAIM_SECONDS`. It also reads the stock entries again (the
   holder saved each one's last run as it sent it): none runs twice.

With the default `JOBS_BEAT_LEASE_SECONDS=3` and standbys looking every
`STANDBY_POLL_SECONDS=0.5`, a standby takes over at most about 4 s after the
active beat's last renewal.

With JOBS_BEAT_PARTITIONS > 1 there is one such lease per partition of the
job ids, and the beats share them (`jobs.beat.partitions`); the rules above
hold for each.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from jobs.models import BeatLease

logger = logging.getLogger("jobs.beat.lease")

LEASE_NAME = "jobs"
#: How long before its lease lapses (by its own clock) a holder stops acting.
FENCE_MARGIN_SECONDS = 0.5
#: How often a standby reads the lease.
STANDBY_POLL_SECONDS = 0.5


def holder_name() -> str:
    """This process, as people read it: host, pid and a random suffix (a restarted pid is a new holder)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


@dataclass(frozen=True)
class LeaseState:
    """The lease row as /readyz, /metrics and the admin overview show it."""

    holder: str
    generation: int
    acquired_at: datetime | None
    renewed_at: datetime | None

    @classmethod
    def of(cls, row: BeatLease | None) -> LeaseState | None:
        """The state of a lease row (None: no row, no beat ever took it)."""
        return None if row is None else cls(row.holder, row.generation, row.acquired_at, row.renewed_at)


def current_state(name: str = LEASE_NAME) -> LeaseState | None:
    """Who holds the lease (holder "" when released), or None when no beat ever ran."""
    return LeaseState.of(BeatLease.objects.filter(name=name).order_by().first())


class Lease:
    """One beat's view of the lease: `refresh()` at every tick, `active()` before acting."""

    def __init__(
        self,
        *,
        name: str = LEASE_NAME,
        holder: str | None = None,
        seconds: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.holder = holder or holder_name()
        self.seconds = settings.JOBS_BEAT_LEASE_SECONDS if seconds is None else seconds
        self._clock = clock
        # While held: the seq this beat last wrote, its generation, and when that write was sent.
        self._seq: int | None = None
        self.generation: int | None = None
        self._sent_at = 0.0
        # While standing by: the (holder, seq) last read, and since when it has not changed.
        self._seen: tuple[str, int] | None = None
        self._seen_since = 0.0
        # The row as last read while standing by (None: no row), and when it was read.
        self._observed = False
        self._row: BeatLease | None = None
        self._read_at = 0.0
        #: Set when this beat took the lease over from a silent holder (not a released lease): that
        #: holder may have died between claiming runs and publishing them. `Partitions.inherited()` clears it.
        self.inherited = False
        # How the logs name it: "lease" when there is one, else with its name ("lease jobs:1/4").
        self._label = "lease" if name == LEASE_NAME else f"lease {name}"

    # --- the holder ---------------------------------------------------------------------------------

    def active(self) -> bool:
        """Whether this beat may act now (rule 4): it holds the lease and it has not lapsed by its own clock."""
        return self._seq is not None and self._clock() - self._sent_at < self.seconds - FENCE_MARGIN_SECONDS

    def held(self) -> bool:
        """Whether this beat holds the lease by its last write (it may still be fenced: see `active()`)."""
        return self._seq is not None

    def refresh(self, *, take: bool = True) -> bool:
        """Renew the lease if this beat holds it and a renewal is due, else stand by (and take over if due).

        Returns `active()`. Database errors propagate: the caller retries at
        its next tick, and the fence lapses on its own meanwhile. With
        `take=False` a standby only watches: `jobs.beat.partitions` decides
        when a beat takes one more lease (`takeable()`, `take()`).
        """
        if self._seq is not None:
            if self._clock() - self._sent_at < self.seconds / 3:
                return self.active()
            if self._renew():
                return self.active()
        self._stand_by(take=take)
        return self.active()

    def release(self) -> None:
        """Give the lease up (a clean stop), so that a standby takes over at once instead of after `seconds`."""
        if self._seq is None:
            return
        BeatLease.objects.filter(name=self.name, holder=self.holder, seq=self._seq).update(holder="", seq=self._seq + 1)
        logger.info("beat: released the %s (generation %s)", self._label, self.generation)
        self._seq = self.generation = None

    def _renew(self) -> bool:
        sent = self._clock()
        seq = self._seq or 0
        won = BeatLease.objects.filter(name=self.name, holder=self.holder, seq=seq).update(
            seq=seq + 1, renewed_at=timezone.now()
        )
        if won:
            self._seq, self._sent_at = seq + 1, sent
            return True
        logger.warning("beat: lost the %s (generation %s) to another beat; standing by", self._label, self.generation)
        self._seq = self.generation = None
        self._seen, self._observed = None, False
        return False

    # --- a standby ------------------------------------------------------------------------------------

    def _stand_by(self, *, take: bool = True) -> None:
        row = BeatLease.objects.filter(name=self.name).order_by().first()
        self.observe(row, read_at=self._clock())
        if take and self.takeable():
            self.take()

    def observe(self, row: BeatLease | None, *, read_at: float) -> None:
        """A standby's reading of the row (None: there is none), `read_at` by this beat's clock.

        Public so that `jobs.beat.partitions` can read every lease row in one query.
        """
        self._observed, self._row, self._read_at = True, row, read_at
        if row is None:
            return
        seen = (row.holder, row.seq)
        if seen != self._seen:
            self._seen, self._seen_since = seen, read_at

    def takeable(self) -> bool:
        """Whether the row last observed may be taken (rule 3): missing, released, or silent for `seconds`."""
        if self._seq is not None or not self._observed:
            return False
        row = self._row
        return row is None or not row.holder or self._read_at - self._seen_since >= self.seconds

    def take(self) -> bool:
        """Take the lease as last observed, by compare-and-set (or by creating its row); of several beats one wins."""
        if not self.takeable():
            return False
        if self._row is None:
            return self._create()
        return self._take(self._row, silent_for=self._read_at - self._seen_since)

    def _take(self, row: BeatLease, *, silent_for: float) -> bool:
        """Compare-and-set the lease from the `row` read to this beat; of several standbys one wins."""
        sent = self._clock()
        now = timezone.now()
        won = BeatLease.objects.filter(name=self.name, holder=row.holder, seq=row.seq).update(
            holder=self.holder, seq=row.seq + 1, generation=row.generation + 1, acquired_at=now, renewed_at=now
        )
        if not won:
            return False
        self._took(row.seq + 1, row.generation + 1, sent)
        self.inherited = bool(row.holder)
        if row.holder:
            logger.warning(
                "beat: took over the %s from %s, silent for %.1f s (generation %d)",
                self._label,
                row.holder,
                silent_for,
                self.generation,
            )
        else:
            logger.info("beat: took the released %s (generation %d)", self._label, self.generation)
        return True

    def _create(self) -> bool:
        sent = self._clock()
        now = timezone.now()
        try:
            with transaction.atomic():  # a savepoint when called inside a transaction (tests, shells)
                BeatLease.objects.create(
                    name=self.name, holder=self.holder, seq=1, generation=1, acquired_at=now, renewed_at=now
                )
        except IntegrityError:
            return False  # another beat created it first: watch it from the next tick
        self._took(1, 1, sent)
        logger.info("beat: took the new %s (generation 1)", self._label)
        return True

    def _took(self, seq: int, generation: int, sent: float) -> None:
        self._seq, self.generation, self._sent_at = seq, generation, sent
        self._seen, self._observed = None, False
