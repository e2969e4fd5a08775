"""The store seam: the only code that knows which database it runs on.

The execution hot path needs a few batch operations that each database says
best in its own way; everything else goes through the ORM, the same on
every backend. `current()` answers the store of the default database:

- `Store` (portable, the ORM; SQLite uses it as is, the others build on it),
- `PostgresStore` (jobs/execution/store/postgresql.py: one statement where the
  ORM needs several),
- `MongoStore` (jobs/execution/store/mongodb.py: the backend's own pymongo
  connection, `insert_many(ordered=False)`, `bulk_write` of conditional
  `UpdateOne`s, and real transactions on a replica set).

Outside this package no code asks which database it is on.
"""

from __future__ import annotations

import logging

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.backends.base.base import BaseDatabaseWrapper

from jobs.execution.store.base import Store
from jobs.execution.store.mongodb import MongoStore
from jobs.execution.store.postgresql import PostgresStore

__all__ = ["MongoStore", "PostgresStore", "Store", "current", "is_mongodb", "log_mode"]

logger = logging.getLogger(__name__)

_BY_VENDOR: dict[str, type[Store]] = {"postgresql": PostgresStore, "mongodb": MongoStore}


def current(using: str = DEFAULT_DB_ALIAS) -> Store:
    """The store of database `using` (the default database unless told)."""
    connection = connections[using]
    return _BY_VENDOR.get(connection.vendor, Store)(connection)


def is_mongodb(connection: BaseDatabaseWrapper) -> bool:
    """Whether `connection` is django-mongodb-backend's: documents, not rows, and `_id` cannot be updated.

    For migrations, which take the connection from their schema editor
    (`schema_editor.connection`) and move data the MongoDB way there
    (jobs/execution/store/mongodb_migrations.py).
    """
    return connection.vendor == "mongodb"


def log_mode(process: str) -> str:
    """Say, as `process` starts, which database it uses and how writes that belong together are kept together.

    On MongoDB this asks the server (`hello`); a database that does not answer
    yet is said so, and does not stop the process.
    """
    database = current()
    try:
        mode = database.transaction_mode
    except Exception as exc:
        mode = f"unknown until the database answers ({type(exc).__name__}: {exc})"
    logger.info("%s: database %s; writes that belong together: %s", process, database.kind, mode)
    return mode
