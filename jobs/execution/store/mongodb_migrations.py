"""Data moves that migrations need on MongoDB, which neither the ORM nor the backend's schema editor can express."""

from __future__ import annotations

from typing import Any

from pymongo import IndexModel
from pymongo.database import Database

# Index options that describe an index rather than define it (`list_indexes` reports them).
_INDEX_METADATA = ("key", "v", "ns")


def move_field_into_id(database: Database[Any], name: str, field: str, *, backup: str) -> int:
    """Rebuild the collection `name` so that each document's `field` becomes its `_id`; returns how many moved.

    A server refuses any update of `_id` (the backend's AlterField of a column
    renamed to `_id` sends `$rename`, which fails for every existing document),
    so the documents are copied instead: one aggregation writes them, `_id`
    taken from `field` and `field` removed, to a new collection (`$out`); the
    original's indexes are created on the copy; the counts are compared; then
    the original is renamed `backup` and the copy takes its name. Until that
    swap the original is untouched, and a failure leaves it as it was.

    A collection where no document holds `field` (a fresh install, or a move
    already made) is left alone, so a failed migration can be run again. The
    application must be stopped meanwhile: a write during the copy would land
    in what becomes `backup`.
    """
    source = database[name]
    if source.find_one({field: {"$exists": True}}, projection={"_id": 1}) is None:
        return 0
    if backup in database.list_collection_names():
        raise RuntimeError(
            f"{name}: a collection {backup} already exists (from an earlier run of this migration?); "
            "check it and drop it, then migrate again"
        )
    staging = f"{name}__moving_{field}"
    database.drop_collection(staging)  # what a run that failed before the swap left
    # A document without `field` keeps its `_id` (already moved, if a previous attempt got that far).
    source.aggregate(
        [{"$set": {"_id": {"$ifNull": [f"${field}", "$_id"]}}}, {"$unset": field}, {"$out": staging}],
        allowDiskUse=True,
    )
    copy = database[staging]
    indexes = [
        IndexModel(list(spec["key"].items()), **{k: v for k, v in spec.items() if k not in _INDEX_METADATA})
        for spec in source.list_indexes()
        if spec["name"] != "_id_"
    ]
    if indexes:
        copy.create_indexes(indexes)
    copied, original = copy.count_documents({}), source.count_documents({})
    if copied != original:
        database.drop_collection(staging)
        raise RuntimeError(f"{name}: {copied} of {original} documents copied; the collection is left unchanged")
    source.rename(backup)
    copy.rename(name)
    return copied


def holds_documents(database: Database[Any], names: list[str]) -> list[str]:
    """Which of the collections `names` hold at least one document."""
    return [name for name in names if database[name].find_one({}, projection={"_id": 1}) is not None]
