"""Statements the ORM cannot say in one round trip (PostgreSQL only; callers keep a portable path)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from django.db import connection, models


def update_where_unchanged(
    model: type[models.Model], rows: Iterable[Sequence[Any]], *, check: str, assign: Sequence[str]
) -> set[Any]:
    """Many compare-and-set updates in one statement; returns the primary keys it updated.

    Each row is `(pk, expected value of check, *new values of assign)`. A row
    is updated only if its `check` column still holds the expected value, so
    a concurrent write that changed it stands. One `UPDATE ... FROM (VALUES
    ...) ... RETURNING`: the ORM's Case/When equivalent cost ~100 ms per 200
    rows and cannot say which rows matched.
    """
    rows = list(rows)
    if not rows:
        return set()
    meta = model._meta
    fields = [meta.pk, meta.get_field(check), *(meta.get_field(name) for name in assign)]
    names = ["pk", "seen", *(f"new{index}" for index in range(len(assign)))]
    quote = connection.ops.quote_name
    row_sql = "(" + ", ".join(f"%s::{field.db_type(connection)}" for field in fields) + ")"
    params = [
        field.get_db_prep_save(value, connection) for row in rows for field, value in zip(fields, row, strict=True)
    ]
    sets = ", ".join(f"{quote(field.column)} = v.{name}" for field, name in zip(fields[2:], names[2:], strict=True))
    pk, seen = quote(fields[0].column), quote(fields[1].column)
    with connection.cursor() as cursor:
        cursor.execute(
            # Only quoted names, column types and placeholders are interpolated.
            f"UPDATE {quote(meta.db_table)} AS t SET {sets} "  # noqa: S608
            f"FROM (VALUES {', '.join([row_sql] * len(rows))}) AS v({', '.join(names)}) "
            f"WHERE t.{pk} = v.pk AND t.{seen} = v.seen RETURNING t.{pk}",
            params,
        )
        return {row[0] for row in cursor.fetchall()}


def insert_referencing_first(obj: models.Model, *, field: str, match: Mapping[str, Any]) -> bool:
    """Insert `obj` with its foreign key `field` set to the oldest row that matches `match`, in one statement.

    Returns False, having inserted nothing, when no row of the referenced
    model matches (the caller then creates one and saves `obj` the ORM way).
    One `INSERT ... SELECT ... ORDER BY pk LIMIT 1` instead of a query for
    the row and an insert: finding the row and pointing at it were two ORM
    statements, a fifth of an API create. The columns are written as
    `save(force_insert=True)` writes them (`pre_save`, so `auto_now` fields
    are set); no model signals are sent.
    """
    meta = obj._meta
    quote = connection.ops.quote_name
    fk = meta.get_field(field)
    assert isinstance(fk, models.ForeignKey)
    target = fk.related_model._meta
    fields = [f for f in meta.concrete_fields if f is not fk and not (f is meta.auto_field and obj.pk is None)]
    params = [f.get_db_prep_save(f.pre_save(obj, True), connection) for f in fields]
    conditions = []
    for name, value in match.items():
        column = target.get_field(name)
        if value is None:
            conditions.append(f"m.{quote(column.column)} IS NULL")
        else:
            conditions.append(f"m.{quote(column.column)} = %s")
            params.append(column.get_db_prep_value(value, connection))
    pk, target_pk = quote(meta.pk.column), quote(target.pk.column)
    columns = ", ".join([*(quote(f.column) for f in fields), quote(fk.column)])
    with connection.cursor() as cursor:
        cursor.execute(
            # Only quoted names and placeholders are interpolated.
            f"INSERT INTO {quote(meta.db_table)} ({columns}) "  # noqa: S608
            f"SELECT {', '.join(['%s'] * len(fields))}, m.{target_pk} FROM {quote(target.db_table)} AS m "
            f"WHERE {' AND '.join(conditions) or 'TRUE'} ORDER BY m.{target_pk} LIMIT 1 "
            f"RETURNING {pk}, {quote(fk.column)}",
            params,
        )
        inserted = cursor.fetchone()
    if inserted is None:
        return False
    obj.pk, referenced = inserted
    setattr(obj, fk.attname, referenced)
    obj._state.adding = False
    obj._state.db = connection.alias
    return True
