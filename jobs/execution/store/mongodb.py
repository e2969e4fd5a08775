"""The MongoDB store: the backend's own pymongo connection for batches, and transactions on a replica set.

Documents are built exactly as django-mongodb-backend's insert compiler
builds them (`field.get_db_prep_save(field.pre_save(obj, True))` under each
column name), and filters and values are prepared the same way, so what this
module writes is what the ORM would have written and reads back the same.
Every call passes the connection's session, so inside `atomic()` on a
replica set it is part of the transaction.

MongoDB keeps datetimes to the millisecond: values are compared at that
precision when telling which conditional updates matched.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

import pymongo
from django.db import DatabaseError, models
from django_mongodb_backend import transaction as mongo_transaction
from pymongo import UpdateOne
from pymongo.errors import BulkWriteError, PyMongoError

from jobs.execution.store.base import Store
from jobs.models import JobRun

DUPLICATE_KEY = 11000


class MongoStore(Store):
    @property
    def transactions(self) -> bool:
        # The backend asks the server once per connection (`hello`): a replica
        # set or a sharded cluster has transactions, a standalone server none.
        return bool(self.connection.features._supports_transactions)

    @property
    def transaction_mode(self) -> str:  # type: ignore[override]
        if self.transactions:
            return "transactions"
        return "ordered writes (standalone MongoDB server: no transactions)"

    @contextlib.contextmanager
    def atomic(self) -> Iterator[None]:
        # Django's transaction.atomic() is a no-op on this backend; its own
        # atomic() is a real transaction, but only a replica set or a sharded
        # cluster accepts one.
        if not self.transactions:
            yield
            return
        with mongo_transaction.atomic(using=self.connection.alias):
            yield

    def claim(self, runs: Sequence[JobRun]) -> set[Any]:
        """One unordered `insert_many`: every claim is tried; a duplicate key is a claim already taken."""
        if not runs:
            return set()
        documents = [self._document(run) for run in runs]
        lost: set[int] = set()
        try:
            self._collection(JobRun).insert_many(documents, ordered=False, session=self.connection.session)
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors", [])
            other = [error for error in errors if error.get("code") != DUPLICATE_KEY]
            if other:
                raise DatabaseError(f"claiming runs failed: {other[0].get('errmsg', other[0])}") from exc
            lost = {error["index"] for error in errors}
        except PyMongoError as exc:
            raise DatabaseError(f"claiming runs failed: {exc}") from exc
        mine = set()
        for index, run in enumerate(runs):
            if index not in lost:
                run._state.adding, run._state.db = False, self.connection.alias
                mine.add(run.id)
        return mine

    def compare_and_set(
        self, model: type[models.Model], rows: Iterable[Sequence[Any]], *, check: str, assign: Sequence[str]
    ) -> set[Any]:
        """One unordered `bulk_write` of conditional `UpdateOne`s; a read only if some did not match."""
        rows = [tuple(row) for row in rows]
        if not rows:
            return set()
        meta = model._meta
        pk, checked = meta.pk, meta.get_field(check)
        fields = [meta.get_field(name) for name in assign]
        requests = [
            UpdateOne(
                {pk.column: self._prep(pk, row[0]), checked.column: self._prep(checked, row[1])},
                {
                    "$set": {
                        field.column: self._prep(field, value) for field, value in zip(fields, row[2:], strict=True)
                    }
                },
            )
            for row in rows
        ]
        try:
            result = self._collection(model).bulk_write(requests, ordered=False, session=self.connection.session)
        except PyMongoError as exc:
            raise DatabaseError(f"conditional update of {meta.db_table} failed: {exc}") from exc
        if result.matched_count == len(rows):
            return {row[0] for row in rows}
        return self._holding(model, rows, assign)

    def _stored(self, value: Any) -> Any:
        if isinstance(value, datetime):
            return value.replace(microsecond=value.microsecond // 1000 * 1000)
        return value

    def ping(self, timeout: float) -> None:
        self.connection.ensure_connection()
        with pymongo.timeout(timeout):  # bounds server selection too
            self.connection.connection.admin.command("ping")

    # --- documents as the backend writes them -----------------------------------------------------

    def _collection(self, model: type[models.Model]) -> Any:
        return self.connection.get_collection(model._meta.db_table)

    def _prep(self, field: models.Field, value: Any) -> Any:
        return field.get_db_prep_save(self._stored(value), self.connection)

    def _document(self, obj: models.Model) -> dict[str, Any]:
        return {
            field.column: field.get_db_prep_save(field.pre_save(obj, True), self.connection)
            for field in obj._meta.concrete_fields
        }
