"""The project's configuration of django.contrib.admin: its default site is the scheduler's."""

from django.contrib.admin.apps import AdminConfig


class SchedulerAdminConfig(AdminConfig):
    """Listed in INSTALLED_APPS instead of "django.contrib.admin" (MongoAdminConfig extends it)."""

    default_site = "jobs.admin.site.default_site"
