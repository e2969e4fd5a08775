"""The MQL guard runs in its own pytest invocation: MongoDB settings, pymongo recorded, no server.

    MQL_GUARD=1 MONGODB_URI=mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=200 \\
        REDIS_URL=redis://127.0.0.1:6379/6 pytest tests/mongodb

(scripts/test.sh runs it as its `mongodb-guard` lane, under coverage). Without
MQL_GUARD=1 nothing here is collected: the SQLite and PostgreSQL lanes load
Django with SQL settings, and the live MongoDB lane talks to a real server.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

GUARD = os.environ.get("MQL_GUARD") == "1"

if not GUARD:
    collect_ignore_glob = ["*"]
else:
    from django.conf import settings as django_settings

    if not django_settings.USE_MONGODB:
        raise pytest.UsageError("MQL_GUARD=1 needs MONGODB_URI set before Django settings load")

    from tests.mongodb.recorder import RECORDER, install

    install()

    @pytest.fixture(scope="session")
    def django_db_setup(django_db_blocker: Any) -> None:
        """The migrations, applied to the recorder's in-memory database (no test database to create)."""
        from django.core.management import call_command

        with django_db_blocker.unblock():
            RECORDER.log = []
            try:
                call_command("migrate", verbosity=0, interactive=False)
            finally:
                RECORDER.migrate_log, RECORDER.log = RECORDER.log, None  # type: ignore[attr-defined]
        problems = RECORDER.take_problems()
        if problems:
            raise AssertionError("migrate under the guard:\n" + "\n".join(problems))
        with django_db_blocker.unblock():
            _ask_hello_once()

    def _ask_hello_once() -> None:
        """The backend's one `hello` per connection (its cached transaction check), asked outside any path.

        Otherwise whichever path came first in the run recorded it, and a path's
        fixture depended on the order the files ran in.
        """
        from django.db import connection

        assert connection.features._supports_transactions in (True, False)

    @pytest.fixture
    def mql(db: Any) -> Iterator[Any]:
        """The recorder: `with mql.path("api.jobs.list"): ...` records a code path against its fixture."""
        yield RECORDER

    @pytest.fixture
    def replica_set(db: Any) -> Iterator[Any]:
        """MongoDB as a one-node replica set: `hello` has a `setName`, so the backend's
        `connection.features._supports_transactions` is True and `django_mongodb_backend.transaction.atomic()`
        runs real transactions (recorded with `"txn": True`, rolled back in the store when aborted)."""
        from django.db import connection

        # A cached_property: computed once per connection, from whichever `hello` answered first.
        connection.features.__dict__.pop("_supports_transactions", None)
        RECORDER.replica_set = True
        try:
            yield RECORDER
        finally:
            RECORDER.replica_set = False
            connection.features.__dict__.pop("_supports_transactions", None)
            _ask_hello_once()  # as a standalone server again, for the tests after this one
            if connection.session is not None:
                # Left behind by a test that failed inside atomic(), or by a commit the server refused
                # (the backend only ends the session when the error is a DatabaseError).
                connection._end_session()
            connection.in_atomic_block_mongo, connection.nested_atomics = False, 0

    @pytest.fixture(autouse=True)
    def _guard_problems(db: Any) -> Iterator[None]:
        """Backend exceptions and allow-list violations outside `mql.path()` blocks (seeding) fail too."""
        from tests.mongodb import data

        data.reset_names()
        RECORDER.take_problems()
        yield
        problems = RECORDER.take_problems()
        if problems:
            pytest.fail("the MQL guard found problems:\n" + "\n".join(problems), pytrace=False)

    @pytest.fixture(autouse=True)
    def _egress(allow_loopback: None) -> None:
        """The guard's http jobs point at 127.0.0.1:9 (`data.http_action`; nothing listens there): allowed.

        Not port 1: that is the guard's MONGODB_URI, this service's own database, which the
        egress policy refuses whatever is allowed.
        """

    @pytest.fixture(autouse=True)
    def _ordered_ids(monkeypatch: pytest.MonkeyPatch) -> None:
        """UUID keys that grow in creation order, so code that walks rows by key (beat_sync.sync_all)
        issues its queries in the same order on every run and the fixtures stay stable."""
        import itertools
        import uuid

        from accounts.models import User
        from jobs.models import Alert, AlertDelivery, Channel, Job, JobEvent, JobRun

        for index, model in enumerate((User, Job, JobRun, JobEvent, Channel, Alert, AlertDelivery), start=1):
            counter = itertools.count(1)
            ids = (uuid.UUID(int=(index << 96) + n) for n in counter)
            monkeypatch.setattr(model._meta.pk, "_get_default", functools.partial(next, ids))

    @pytest.fixture(autouse=True)
    def published(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, Any, Any]]:
        """Celery messages, captured instead of sent: the run task is driven by calling it."""
        sent: list[tuple[str, Any, Any]] = []

        def apply_async(task: Any, args: Any = None, kwargs: Any = None, **options: Any) -> None:
            sent.append((task.name, args, kwargs))

        def send_task(app: Any, name: str, args: Any = None, kwargs: Any = None, **options: Any) -> None:
            sent.append((name, args, kwargs))

        monkeypatch.setattr("celery.app.task.Task.apply_async", apply_async)
        monkeypatch.setattr("celery.app.base.Celery.send_task", send_task)
        return sent

    def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
        """After a full, green run of the guard: a fixture no path recorded is stale (removed when updating)."""
        from tests.mongodb.recorder import FIXTURES, UPDATE_ENV

        here = Path(__file__).resolve().parent
        options = session.config.option
        # Only when the whole package ran: every argument is this folder or one above it.
        whole = all(here == Path(arg).resolve() or Path(arg).resolve() in here.parents for arg in session.config.args)
        narrowed = (
            options.keyword or options.markexpr or getattr(options, "deselect", None) or getattr(options, "lf", False)
        )
        if exitstatus != 0 or not whole or narrowed:
            return
        stale = sorted(f for f in FIXTURES.glob("*.json") if f.stem not in RECORDER.fixtures_used)
        if not stale:
            return
        if os.environ.get(UPDATE_ENV) == "1":
            for file in stale:
                file.unlink()
            return
        names = ", ".join(f.name for f in stale)
        session.config.get_terminal_writer().line(f"MQL guard: stale fixtures no test records: {names}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
