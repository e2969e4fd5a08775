"""The operators' admin: jobs, runs, the audit trail, an overview page, beat's mirror rows.

One module per page group; importing them (admin autodiscovery imports this
package) registers the pages on the default site, `site.SchedulerAdminSite`.

Every write goes through `jobs.services` (the same functions the API calls),
so the audit trail, the API cache and django-celery-beat's rows stay in step:
no `queryset.update()`, no `obj.save()` here. Runs and events are read-only.
"""

from jobs.admin import alerts, events, jobs, periodic_tasks, runs  # noqa: F401
