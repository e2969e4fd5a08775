"""The store seam: the only code that knows which database it runs on."""

from __future__ import annotations

from django.db.backends.base.base import BaseDatabaseWrapper


def is_mongodb(connection: BaseDatabaseWrapper) -> bool:
    """Whether `connection` is django-mongodb-backend's: documents, not rows, and `_id` cannot be updated.

    Migrations take the connection from their schema editor (`schema_editor.connection`).
    """
    return connection.vendor == "mongodb"
