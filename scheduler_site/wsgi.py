"""
WSGI config for scheduler_site project.

It exposes the WSGI callable as a module-level variable named ``application``.

For more information on this file, see
https://docs.djangoproject.com/en/5.2/howto/deployment/wsgi/
"""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "scheduler_site.settings")

application = get_wsgi_application()

# Imported once the app registry is ready (get_wsgi_application sets Django up).
from jobs.execution import store  # noqa: E402

store.log_mode("web")
