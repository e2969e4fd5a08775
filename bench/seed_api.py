"""Seed the API benchmark's database: N users with M jobs each, and one (token, job id) line per user.

Run with the benchmark's environment (DATABASE_URL / SQLITE_PATH, REDIS_URL, SECRET_KEY):
    python bench/seed_api.py --users 1000 --jobs 10000 --out pairs.txt
Rows are bulk-inserted (seeding is not what is measured); every field a
service would set is set, including next_run_at.
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "scheduler_site.settings")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--jobs", type=int, default=10000)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password

    from accounts.tokens import RefreshToken
    from jobs import services
    from jobs.models import Job

    User = get_user_model()
    password = make_password("bench-password")
    users = [
        User(username=f"bench{i:05d}", email=f"bench{i}@example.com", password=password) for i in range(args.users)
    ]
    User.objects.bulk_create(users, batch_size=1000)
    now = datetime.now(UTC)
    per_user = max(1, args.jobs // args.users)
    zones = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Tokyo", "Australia/Sydney"]
    # No beat runs during the API benchmark, and a cached page may not outlive the earliest next run
    # it shows (jobs.api.views._ttl_for): a job that came due would stay "due" and never be cached
    # again, and the cached scenarios would measure when the run crossed a */5 boundary. So every
    # job's first fire is at least two hours away (the hour after next, in its own zone).
    rows = []
    for u, user in enumerate(users):
        for j in range(per_user):
            k = u * per_user + j
            zone = zones[k % len(zones)]
            hour = (now.astimezone(ZoneInfo(zone)).hour + 3) % 24
            crons = [f"*/5 {hour} * * *", f"17 {hour},{(hour + 6) % 24} * * *", f"30 {hour} * * *", f"0 {hour} * * 1"]
            job = Job(
                owner=user,
                name=f"job-{j:03d}",
                schedule_kind="cron",
                cron=crons[k % len(crons)],
                timezone=zone,
                action_type="http",
                http_method="POST",
                http_url="http://127.0.0.1:9/hook",
                http_headers={"Authorization": "Bearer secret"},
                http_expected_status=[200],
            )
            job.next_run_at = services.compute_next_run_at(job, after=now)
            rows.append(job)
    Job.objects.bulk_create(rows, batch_size=2000)
    first_job = {}
    for job_id, owner_id in Job.objects.filter(name="job-000").values_list("id", "owner_id"):
        first_job[owner_id] = job_id
    with open(args.out, "w") as out:
        for user in users:
            # The service's own tokens (with the user's token generation and a family), as a login mints.
            out.write(f"{RefreshToken.for_user(user).access_token} {first_job[user.pk]}\n")
    print(f"seeded {len(users)} users, {len(rows)} jobs")


if __name__ == "__main__":
    main()
