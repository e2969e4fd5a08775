"""Statements the ORM cannot say in one round trip (PostgreSQL only; callers keep a portable path)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
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
