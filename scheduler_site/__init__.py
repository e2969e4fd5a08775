# The Celery app is loaded with Django so that `shared_task` tasks bind to it
# and services can publish from any process (web, worker, beat, commands).
from scheduler_site.celery import app as celery_app

__all__ = ("celery_app",)
