"""MongoDB is checked without a server: the configuration passes Django's checks and its migrations are
complete. The live round trip runs only when TEST_MONGODB_URI points at a server (skipped otherwise)."""

from __future__ import annotations

import json
import os
import uuid

import pytest

from tests.processes import PYTHON, clean_env, manage, run, run_python

# Nothing listens on port 1; a short selection timeout keeps anything that tries to connect fast.
NO_SERVER = "mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=200"


def mongo_env(**overrides: str) -> dict[str, str]:
    return clean_env(
        MONGODB_URI=NO_SERVER,
        REDIS_URL="redis://127.0.0.1:1/0",
        SECRET_KEY="mongodb-test-secret-key",
        **overrides,
    )


def test_manage_py_check_passes_with_mongodb_settings():
    result = manage("check", env=mongo_env())
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


SHOW_STORAGE = """
import django, json
django.setup()
from django.apps import apps
from django.conf import settings
print(json.dumps({
    "engine": settings.DATABASES["default"]["ENGINE"],
    "host": settings.DATABASES["default"]["HOST"],
    "name": settings.DATABASES["default"]["NAME"],
    "cache": settings.CACHES["default"]["BACKEND"],
    "auto_fields": {app: apps.get_app_config(app).default_auto_field
                    for app in ("admin", "auth", "contenttypes", "django_celery_beat")},
    "user_pk": type(apps.get_model("accounts", "User")._meta.pk).__name__,
}))
"""


def test_mongodb_settings_select_the_backend_and_objectid_app_configs():
    result = run_python(SHOW_STORAGE, mongo_env(MONGODB_NAME="scheduler_x"))
    assert result.returncode == 0, result.stderr
    storage = json.loads(result.stdout)
    assert storage["engine"] == "django_mongodb_backend"
    assert storage["host"] == NO_SERVER
    assert storage["name"] == "scheduler_x"
    assert storage["cache"] == "django_redis.cache.RedisCache"
    assert set(storage["auto_fields"].values()) == {"django_mongodb_backend.fields.ObjectIdAutoField"}
    assert storage["user_pk"] == "UUIDField"


def test_mongodb_without_redis_is_a_configuration_error():
    env = mongo_env()
    del env["REDIS_URL"]
    result = run_python("import django; django.setup()", env)
    assert result.returncode == 78
    assert result.stderr.strip().startswith("Configuration error: REDIS_URL")
    assert len(result.stderr.strip().splitlines()) == 1


def test_mongodb_migrations_are_complete():
    # Runs makemigrations under the real MongoDB settings with the dummy engine (no server needed).
    result = run([PYTHON, "scripts/mongo_migrations.py", "--check"], clean_env())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No changes detected" in result.stdout


def test_sql_migrations_are_complete(tmp_path):
    env = clean_env(SECRET_KEY="migrations-test-secret-key", SQLITE_PATH=str(tmp_path / "db.sqlite3"))
    result = manage("makemigrations", "--check", "--dry-run", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No changes detected" in result.stdout


ROUND_TRIP = """
import django, json
django.setup()
from django.conf import settings
from django.core.management import call_command
from pymongo import MongoClient
try:
    call_command("migrate", verbosity=0)
    from accounts.services import user_create
    user = user_create(username="mongo-user", email="m@example.com", password="mongo-password-123")
    from django.test import Client
    client = Client(HTTP_HOST="localhost")
    tokens = client.post("/api/v1/token/", {"username": "mongo-user", "password": "mongo-password-123"},
                         content_type="application/json")
    me = client.get("/api/v1/me/", HTTP_AUTHORIZATION="Bearer " + tokens.json()["access"])
    print(json.dumps({"obtain": tokens.status_code, "me": me.status_code, "body": me.json(),
                      "user_id": str(user.pk)}))
finally:
    database = settings.DATABASES["default"]
    MongoClient(database["HOST"]).drop_database(database["NAME"])
"""


@pytest.mark.mongodb
def test_live_mongodb_round_trip():
    uri = os.environ.get("TEST_MONGODB_URI")
    if not uri:
        pytest.skip("TEST_MONGODB_URI not set: no MongoDB server reachable")
    env = clean_env(
        MONGODB_URI=uri,
        MONGODB_NAME=f"scheduler_test_{uuid.uuid4().hex[:12]}",
        REDIS_URL=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/15"),
        SECRET_KEY="mongodb-round-trip-secret-key-" + "x" * 40,
    )
    result = run_python(ROUND_TRIP, env, timeout=180)
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert outcome["obtain"] == 200
    assert outcome["me"] == 200
    assert outcome["body"]["id"] == outcome["user_id"]
    assert outcome["body"]["username"] == "mongo-user"
