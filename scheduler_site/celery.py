"""The Celery app: `celery -A scheduler_site worker` and `celery -A scheduler_site beat`.

Configuration is Django's settings under the CELERY_ namespace, so the broker,
the beat scheduler class (`jobs.beat.scheduler:JobScheduler`) and the system
periodic tasks are all set in `scheduler_site/settings.py` from the
environment.
"""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "scheduler_site.settings")

app = Celery("scheduler_site")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
