"""Ready to shard: the indexes `migrate` creates allow the shard keys docs/mongodb-audit.md declares.

On a sharded collection every unique index must start with the shard key
(`_id` excepted: its uniqueness then holds per shard, and the UUID keys are
unique by construction), and sharding a collection that holds documents
needs an ordinary index led by the key. A model change that breaks either
(a `unique=True` field, a constraint not led by the key) fails here, in the
guard lane, long before `sh.shardCollection` would refuse it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from jobs.models import Job, JobEvent, JobRun

# The collections that grow with use, and their shard keys (docs/mongodb-audit.md, "Sharding").
SHARD_KEYS: dict[str, dict[str, int]] = {
    "jobs_jobrun": {"job_id": 1},
    "jobs_jobevent": {"job_ref": 1},
    "jobs_job": {"owner_id": 1},
}

AUDIT = Path(__file__).resolve().parents[2] / "docs" / "mongodb-audit.md"


def _sharding_section() -> str:
    text = AUDIT.read_text()
    match = re.search(r"^## [^\n]*Sharding.*?(?=^## |\Z)", text, flags=re.MULTILINE | re.DOTALL)
    assert match, f"{AUDIT.name} has no Sharding section"
    return match.group(0)


def _documented_shard_keys() -> dict[str, dict[str, int]]:
    """The rows `| \\`collection\\` | \\`{field: 1, ...}\\` | ...` of the section's tables."""
    keys = {}
    for collection, fields in re.findall(r"^\| `(\w+)` \| `\{([^}]*)\}`", _sharding_section(), flags=re.MULTILINE):
        keys[collection] = {name.strip(): int(order) for name, order in (f.split(":") for f in fields.split(","))}
    return keys


def _key(index: dict[str, Any]) -> list[tuple[str, int]]:
    return [(field, int(order)) for field, order in index["key"].items()]


def test_the_shard_keys_are_the_documented_ones() -> None:
    assert _documented_shard_keys() == SHARD_KEYS


def test_every_unique_index_of_a_sharded_collection_starts_with_its_shard_key(mql: Any) -> None:
    for collection, shard_key in SHARD_KEYS.items():
        prefix = list(shard_key.items())
        for name, index in mql.store.indexes[collection].items():
            if name == "_id_" or not index.get("unique"):
                continue
            assert _key(index)[: len(prefix)] == prefix, f"{collection}.{name} {_key(index)} is not led by {prefix}"


def test_every_sharded_collection_has_an_ordinary_index_led_by_its_shard_key(mql: Any) -> None:
    # shardCollection on a collection with documents needs one: not partial, not sparse, not multikey.
    for collection, shard_key in SHARD_KEYS.items():
        prefix = list(shard_key.items())
        supporting = [
            name
            for name, index in mql.store.indexes[collection].items()
            if _key(index)[: len(prefix)] == prefix
            and not index.get("partialFilterExpression")
            and not index.get("sparse")
        ]
        assert supporting, f"{collection}: no index usable for the shard key {prefix}"


def test_the_run_claim_is_unique_per_job(mql: Any) -> None:
    runs = mql.store.indexes["jobs_jobrun"]
    claim = runs["run_claim_per_job"]
    assert claim["unique"] and _key(claim) == [("job_id", 1), ("claim_key", 1)]
    assert sorted(name for name, index in runs.items() if index.get("unique")) == ["_id_", "run_claim_per_job"]


def test_the_uuid_keys_are_the_documents_own(mql: Any) -> None:
    # No second unique index on a key column: the UUID is `_id` (the pk's column on every backend).
    for model in (Job, JobRun, JobEvent):
        assert model._meta.pk.column == "_id"
        indexes = mql.store.indexes[model._meta.db_table]
        assert not [name for name, index in indexes.items() if "id" in index["key"]], model


def test_every_collection_the_migrations_create_is_named_in_the_sharding_section(mql: Any) -> None:
    created = {op["collection"] for op in mql.migrate_log if op["op"] == "create_collection"}
    section = _sharding_section()
    assert sorted(name for name in created if f"`{name}`" not in section) == []
