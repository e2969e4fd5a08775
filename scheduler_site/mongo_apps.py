"""AppConfigs that give Django's contrib apps and django-celery-beat ObjectId keys on MongoDB.

Listed in INSTALLED_APPS instead of the originals only when MONGODB_URI is set,
with their migrations kept in scheduler_site/mongo_migrations (MIGRATION_MODULES),
as django-mongodb-backend's documentation prescribes.
"""

from django.contrib.auth.apps import AuthConfig
from django.contrib.contenttypes.apps import ContentTypesConfig
from django_celery_beat.apps import BeatConfig

from scheduler_site.apps import SchedulerAdminConfig

OBJECT_ID = "django_mongodb_backend.fields.ObjectIdAutoField"


class MongoAdminConfig(SchedulerAdminConfig):
    """The project's admin config (the scheduler's site as default), with ObjectId keys."""

    default_auto_field = OBJECT_ID


class MongoAuthConfig(AuthConfig):
    default_auto_field = OBJECT_ID


class MongoContentTypesConfig(ContentTypesConfig):
    default_auto_field = OBJECT_ID


class MongoBeatConfig(BeatConfig):
    default_auto_field = OBJECT_ID
