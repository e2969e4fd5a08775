#!/usr/bin/env python
"""Make (or check) the MongoDB migrations without a MongoDB server.

    python scripts/mongo_migrations.py          # write missing migrations
    python scripts/mongo_migrations.py --check  # exit 1 if any are missing

`makemigrations` checks the migration history against a live database and
crashes when no MongoDB answers. With the engine switched to Django's dummy
backend after settings load, that check is skipped and the files come out
the same (see shared/design/mongodb.md). Everything else is the real MongoDB
configuration: MongoDB app configs, ObjectId keys, MIGRATION_MODULES.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# Apps whose MongoDB migrations live in scheduler_site/mongo_migrations, plus the project's own.
MONGO_APPS = ["admin", "auth", "contenttypes", "django_celery_beat", "accounts", "jobs"]


def main() -> int:
    os.environ.setdefault("MONGODB_URI", "mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=100")
    os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:1/0")
    os.environ.setdefault("SECRET_KEY", "mongo-migrations-offline")
    os.environ.setdefault("ENV_FILE", "")
    os.environ["DJANGO_SETTINGS_MODULE"] = "scheduler_site.settings"
    from django.conf import settings

    settings.DATABASES["default"]["ENGINE"] = "django.db.backends.dummy"
    import django

    django.setup()
    for app in ("admin", "auth", "contenttypes", "django_celery_beat"):
        package = ROOT / "scheduler_site" / "mongo_migrations" / app
        package.mkdir(parents=True, exist_ok=True)
        (package / "__init__.py").touch()
    (ROOT / "scheduler_site" / "mongo_migrations" / "__init__.py").touch()

    from django.core.management import call_command

    args = ["--check", "--dry-run"] if "--check" in sys.argv[1:] else []
    try:
        call_command("makemigrations", *MONGO_APPS, *args, verbosity=1)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
