"""jobs.schedules is the pure core: it must import, and work, with no Django settings at all."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]

# A fresh interpreter, because this pytest process has already loaded Django.
SCRIPT = """
import sys
from datetime import UTC, datetime

from jobs import schedules

schedule = schedules.parse({"phrase": "every monday at 09:00", "timezone": "Europe/Berlin"}, now=datetime.now(UTC))
schedules.describe(schedule)
schedules.next_fire_times(schedule, after=datetime.now(UTC), count=3)
schedules.from_dict(schedules.to_dict(schedule))
print(sorted(name for name in sys.modules if name == "django" or name.startswith("django.")))
"""


def test_schedules_import_and_run_without_django() -> None:
    env = {key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"}
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
