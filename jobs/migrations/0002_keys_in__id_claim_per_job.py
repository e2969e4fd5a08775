# Ready to shard (issue 13; docs/mongodb-audit.md, "Sharding"): on a sharded MongoDB collection
# every unique index must start with the shard key (`_id` excepted).
#
# - Job, JobRun and JobEvent keep their UUID key in `_id` (column renamed on SQL, foreign keys
#   following; on MongoDB the document's own key, and the extra unique index on `id` goes).
# - The run claim is unique per job: (job_id, claim_key), led by the runs' shard key. The new
#   index is made before the old one is dropped, so a claim is never unguarded.
#
# On MongoDB a server refuses to move an existing document's value into `_id` by an update (the
# `$rename` the backend's AlterField sends), so existing collections are first rebuilt by
# copying (`move_keys_into__id`); see docs/mongodb-audit.md for what an operator does around it.

import uuid

from django.db import migrations, models

from jobs.execution import store
from jobs.execution.store import mongodb_migrations as mongo

KEYED_MODELS = ("Job", "JobRun", "JobEvent")
BACKUP_SUFFIX = "__before_0002"


def _collections(apps):
    return [apps.get_model("jobs", name)._meta.db_table for name in KEYED_MODELS]


def move_keys_into__id(apps, schema_editor):
    """On MongoDB, copy each collection that holds documents so that their `id` becomes their `_id`.

    Afterwards the AlterFields below find no document with `id`: their `$rename` does nothing
    (a field a document lacks is not renamed), and they drop the unique index on `id`. On SQL
    there is nothing to do here: renaming the column keeps the data and the foreign keys.
    """
    if not store.is_mongodb(schema_editor.connection):
        return
    database = schema_editor.connection.database
    for name in _collections(apps):
        mongo.move_field_into_id(database, name, "id", backup=name + BACKUP_SUFFIX)


def refuse_to_move_keys_back(apps, schema_editor):
    """Unapplying on MongoDB would `$rename` `_id` back to `id`, which a server refuses for any document.

    Refused before anything changes, rather than halfway; an empty database (a test database)
    goes back as the backend's operations take it.
    """
    if not store.is_mongodb(schema_editor.connection):
        return
    holding = mongo.holds_documents(schema_editor.connection.database, _collections(apps))
    if holding:
        raise RuntimeError(
            f"jobs 0002 cannot be unapplied on MongoDB while {', '.join(holding)} hold documents: "
            f"restore the collections saved as <name>{BACKUP_SUFFIX} instead (docs/mongodb-audit.md)"
        )


def _uuid_key():
    return models.UUIDField(db_column="_id", default=uuid.uuid4, editable=False, primary_key=True, serialize=False)


class Migration(migrations.Migration):
    dependencies = [
        ("jobs", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(move_keys_into__id, migrations.RunPython.noop),
        migrations.AlterField(model_name="job", name="id", field=_uuid_key()),
        migrations.AlterField(model_name="jobrun", name="id", field=_uuid_key()),
        migrations.AlterField(model_name="jobevent", name="id", field=_uuid_key()),
        migrations.AddConstraint(
            model_name="jobrun",
            constraint=models.UniqueConstraint(fields=("job", "claim_key"), name="run_claim_per_job"),
        ),
        migrations.AlterField(model_name="jobrun", name="claim_key", field=models.CharField(max_length=200)),
        # Last, so that unapplying checks first.
        migrations.RunPython(migrations.RunPython.noop, refuse_to_move_keys_back),
    ]
