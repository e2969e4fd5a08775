"""The portable store: what every backend can do through the ORM (SQLite uses it as is)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from django.db import models, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Case, Q, Value, When

from jobs.models import JobRun


class Store:
    """Batch operations of the execution hot path, and transactions, for one database connection.

    Subclasses override what their database says better; every method keeps
    the meaning documented here.
    """

    #: How writes that belong together are kept together; shown in the start-up logs and /readyz.
    transaction_mode = "transactions"

    def __init__(self, connection: BaseDatabaseWrapper) -> None:
        self.connection = connection

    @property
    def kind(self) -> str:
        """Which database this is ("sqlite", "postgresql", "mongodb"), for reports such as /readyz."""
        return self.connection.vendor

    # --- transactions -----------------------------------------------------------------------

    @property
    def transactions(self) -> bool:
        """Whether `atomic()` is a real transaction (else: ordered writes, each standing alone)."""
        return True

    @contextlib.contextmanager
    def atomic(self) -> Iterator[None]:
        """The writes inside belong together: one transaction where the database has them.

        Where it has none, the block's writes happen in order and each stands
        alone; callers order them so that an interruption leaves a state the
        next write or a retry repairs. `transaction.on_commit` callbacks run
        when the block commits (at once where there is no transaction).
        """
        with transaction.atomic(using=self.connection.alias):
            yield

    # --- claims -------------------------------------------------------------------------------

    def claim(self, runs: Sequence[JobRun]) -> set[Any]:
        """Insert the runs, skipping each whose claim (job, claim key) is taken; returns the ids inserted.

        A skipped run belongs to whoever inserted its claim first (another
        beat, a duplicated message): the caller records nothing for it.
        """
        if not runs:
            return set()
        JobRun.objects.using(self.connection.alias).bulk_create(runs, ignore_conflicts=True, batch_size=2000)
        # The ids are made here, so a row found under its claim key with our id is ours.
        mine = {run.id for run in runs}
        found = (
            JobRun.objects.using(self.connection.alias)
            .filter(job_id__in={run.job_id for run in runs}, claim_key__in=[run.claim_key for run in runs])
            .order_by()
        )
        return mine & set(found.values_list("id", flat=True))

    # --- compare-and-set ----------------------------------------------------------------------

    def compare_and_set(
        self, model: type[models.Model], rows: Iterable[Sequence[Any]], *, check: str, assign: Sequence[str]
    ) -> set[Any]:
        """Many compare-and-set updates at once; returns the primary keys updated.

        Each row is `(pk, expected value of check, *new values of assign)`. A
        row is updated only if its `check` column still holds the expected
        value, so a concurrent write that changed it stands.

        Portable form: one UPDATE whose WHERE lists every (pk, expected) pair
        and whose values are CASE expressions, then, only if fewer rows
        matched than were asked, one read to tell which: a row that now holds
        exactly the values written was updated here (a concurrent write of
        those same values is equivalent).
        """
        rows = [tuple(row) for row in rows]
        if not rows:
            return set()
        meta = model._meta
        fields = [meta.get_field(name) for name in assign]
        still = Q()
        for pk, expected, *_ in rows:
            still |= Q(pk=pk, **{check: expected})
        changes = {
            field.name: Case(
                *(When(pk=row[0], then=Value(row[2 + index], output_field=field)) for row in rows),
                output_field=field,
            )
            for index, field in enumerate(fields)
        }
        manager = model._default_manager.using(self.connection.alias)
        updated = manager.filter(still).update(**changes)
        if updated == len(rows):
            return {row[0] for row in rows}
        return self._holding(model, rows, assign)

    def _holding(self, model: type[models.Model], rows: list[tuple[Any, ...]], assign: Sequence[str]) -> set[Any]:
        """The rows whose `assign` columns hold the values `rows` would write."""
        wanted = {row[0]: tuple(self._stored(value) for value in row[2:]) for row in rows}
        current = model._default_manager.using(self.connection.alias).filter(pk__in=list(wanted)).order_by()
        return {
            pk
            for pk, *values in current.values_list("pk", *assign)
            if tuple(self._stored(value) for value in values) == wanted[pk]
        }

    def _stored(self, value: Any) -> Any:
        """A value as this database stores it (SQL keeps what it was given)."""
        return value

    # --- a new row and the rows it references -------------------------------------------------

    def insert_then_reference_first(
        self, rows: Sequence[models.Model], last: models.Model, *, field: str, match: Mapping[str, Any]
    ) -> bool:
        """Insert `rows`, then `last` pointing (foreign key `field`) at the oldest row matching `match`.

        Returns whether `last` was written. Portable form: `rows` are saved one
        by one and False is returned: the caller writes `last` the ORM way
        (PostgreSQL writes all of them in one statement).
        """
        for row in rows:
            row.save(force_insert=True, using=self.connection.alias)
        return False

    # --- health --------------------------------------------------------------------------------

    def ping(self, timeout: float) -> None:
        """One round trip to the database; raises if it does not answer."""
        with self.connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
