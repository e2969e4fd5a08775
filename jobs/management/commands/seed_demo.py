"""Create a demo login and a handful of demo jobs for a first look around."""

from __future__ import annotations

import secrets
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from jobs import services
from jobs.models import Job

DEMO_JOBS: list[dict[str, Any]] = [
    {
        "name": "demo-heartbeat",
        "description": "Runs every 10 seconds so you can watch runs arrive.",
        "schedule": {"kind": "interval", "every": 10, "unit": "seconds"},
        "action": {"type": "task", "task": "heartbeat", "kwargs": {"source": "demo"}},
    },
    {
        "name": "demo-http-check",
        "description": "Calls this service's own liveness endpoint every minute.",
        "schedule": {"phrase": "every 1 minute"},
        "action": {"type": "http", "method": "GET", "url": "http://127.0.0.1:8000/healthz", "expected_status": [200]},
    },
    {
        "name": "demo-weekly-report",
        "description": "Every Monday at 09:00 Berlin time.",
        "schedule": {"phrase": "every monday at 09:00", "timezone": "Europe/Berlin"},
        "action": {"type": "task", "task": "echo", "kwargs": {"report": "weekly"}},
    },
]


class Command(BaseCommand):
    help = "Create (or reset) the demo login and the demo jobs, and print the login."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--username", default="demo")
        parser.add_argument("--password", help="Default: a new random password, printed.")
        parser.add_argument("--no-jobs", action="store_true", help="Only the login.")
        parser.add_argument(
            "--base-url", default="http://127.0.0.1:8000", help="Where this service listens (for the HTTP check)."
        )

    def handle(
        self, *args: Any, username: str, password: str | None, no_jobs: bool, base_url: str, **options: Any
    ) -> None:
        User = get_user_model()
        given = password is not None
        password = password or secrets.token_urlsafe(12)
        user = User.objects.filter(username=username).first()
        if user is None:
            user = User.objects.create_superuser(username=username, email=f"{username}@example.com", password=password)
            self.stdout.write(f"[1/2] created the demo user {username!r}")
        else:
            user.set_password(password)
            user.is_active = True
            user.save(update_fields=["password", "is_active"])
            self.stdout.write(f"[1/2] the demo user {username!r} exists: password set, account active")
        if not no_jobs:
            for spec in DEMO_JOBS:
                if spec["action"]["type"] == "http":
                    spec = {**spec, "action": {**spec["action"], "url": f"{base_url.rstrip('/')}/healthz"}}
                if Job.objects.filter(owner=user, name=spec["name"]).exists():
                    self.stdout.write(f"[2/2] job {spec['name']!r} already exists")
                    continue
                services.job_create(owner=user, actor=user, data=spec)
                self.stdout.write(f"[2/2] created job {spec['name']!r}")
        if given:  # the caller has the password (scripts/run.sh prints it once everything runs)
            self.stdout.write(self.style.SUCCESS(f"Demo login ready: username={username}"))
        else:
            self.stdout.write(self.style.SUCCESS(f"Demo login: username={username} password={password}"))
