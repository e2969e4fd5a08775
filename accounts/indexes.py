"""An index that expires rows: a TTL index on MongoDB, an ordinary index elsewhere.

django-mongodb-backend 5.2 has no option for MongoDB's `expireAfterSeconds`,
so the index says it itself when the backend asks for its pymongo form
(`get_pymongo_index_model`, which the backend adds to every Django Index and
calls from its schema editor). SQL backends never call that method: there it
is a plain index on the column, and a periodic prune deletes the expired rows
(accounts.tasks.prune_revocations).
"""

from __future__ import annotations

from typing import Any

from django.db import models


class ExpiryIndex(models.Index):
    """An index on one date field; on MongoDB each document is deleted once that date has passed."""

    def get_pymongo_index_model(self, model: Any, schema_editor: Any, **kwargs: Any) -> Any:
        from pymongo import IndexModel  # only reached on MongoDB, where pymongo is installed and loaded

        base = super().get_pymongo_index_model(model, schema_editor, **kwargs)  # type: ignore[misc]
        if base is None:
            return None
        document = dict(base.document)
        keys = list(document.pop("key").items())
        if len(keys) != 1:
            raise ValueError(f"{self.name}: a TTL index has exactly one field")
        # 0: a document expires at the instant its field holds, not some time after it.
        return IndexModel(keys, expireAfterSeconds=0, **document)
