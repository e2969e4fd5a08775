"""/metrics: access control, and its content after a few requests, cache lookups, beat ticks and runs."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import time_machine
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from jobs.beat.lease import Lease
from jobs.beat.partitions import Partitions
from jobs.models import BeatLease, RunStatus, RunTrigger
from scheduler_site import metrics
from tests import factories

TOKEN = "metrics-token-for-tests-0123456789"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def client() -> Client:
    return Client()


@pytest.fixture
def scrape(client: Client, settings: Any) -> Any:
    settings.METRICS_TOKEN = TOKEN
    settings.METRICS_ALLOW_IPS = []

    def read() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
        assert response.status_code == 200, response.content
        assert response["Content-Type"].startswith("text/plain; version=0.0.4")
        samples = {}
        for family in text_string_to_metric_families(response.content.decode()):
            for sample in family.samples:
                samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
        return samples

    return read


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


# --- access ------------------------------------------------------------------------------


def test_metrics_are_off_when_neither_token_nor_addresses_are_set(client, settings):
    settings.METRICS_TOKEN, settings.METRICS_ALLOW_IPS = "", []
    response = client.get("/metrics")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "metrics_disabled"


def test_token_required_when_set(client, settings):
    settings.METRICS_TOKEN, settings.METRICS_ALLOW_IPS = TOKEN, []
    missing = client.get("/metrics")
    assert missing.status_code == 401
    assert missing["WWW-Authenticate"].startswith("Bearer")
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Basic {TOKEN}").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 200


def test_allowed_networks(client, settings):
    settings.METRICS_TOKEN, settings.METRICS_ALLOW_IPS = "", ["10.0.0.0/8", "192.0.2.7"]
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="192.0.2.7").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="192.0.2.8").status_code == 403
    assert client.get("/metrics", REMOTE_ADDR="2001:db8::1").status_code == 403


def test_forwarded_address_counts_only_behind_trusted_proxies(client, settings):
    settings.METRICS_TOKEN, settings.METRICS_ALLOW_IPS = "", ["10.0.0.0/8"]
    forged = {"REMOTE_ADDR": "203.0.113.5", "HTTP_X_FORWARDED_FOR": "10.0.0.1"}
    assert client.get("/metrics", **forged).status_code == 403
    settings.NUM_PROXIES = 1
    via_proxy = {"REMOTE_ADDR": "172.16.0.2", "HTTP_X_FORWARDED_FOR": "203.0.113.9, 10.0.0.1"}
    assert client.get("/metrics", **via_proxy).status_code == 200


def test_with_both_settings_a_scrape_needs_both(client, settings):
    settings.METRICS_TOKEN, settings.METRICS_ALLOW_IPS = TOKEN, ["127.0.0.1"]
    auth = {"HTTP_AUTHORIZATION": f"Bearer {TOKEN}"}
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 401
    assert client.get("/metrics", REMOTE_ADDR="10.9.9.9", **auth).status_code == 403
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1", **auth).status_code == 200


def test_bad_allow_ips_stop_start_up():
    result = subprocess.run(
        [sys.executable, "-c", "import scheduler_site.settings"],
        cwd=ROOT,
        env={**os.environ, "METRICS_ALLOW_IPS": "10.0.0.0/8,not-an-ip"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 78
    assert "METRICS_ALLOW_IPS" in result.stderr and "not-an-ip" in result.stderr


# --- HTTP -------------------------------------------------------------------------------


def test_requests_counted_by_route_name_and_status(client, scrape):
    before = scrape()
    client.get("/healthz")
    client.get("/healthz")
    job_id = uuid.uuid4()
    client.get(f"/api/v1/jobs/{job_id}/")  # a named route, answered 401 (no token)
    client.get("/no-such-page-4821")
    after = scrape()

    def delta(**labels: str) -> float:
        name = "scheduler_http_requests_total"
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta(route="healthz", method="GET", status="200") == 2
    assert delta(route="job-detail", method="GET", status="401") == 1
    assert delta(route="<unmatched>", method="GET", status="404") == 1
    routes = {dict(labels).get("route") for (_, labels) in after}
    # Bounded cardinality: never a raw path or an id.
    assert not any(route and ("/" in route or str(job_id) in route) for route in routes)
    count = "scheduler_http_request_duration_seconds_count"
    assert (
        value(after, count, route="healthz", method="GET", status="200")
        - value(before, count, route="healthz", method="GET", status="200")
        == 2
    )


def test_cache_hits_and_misses(scrape):
    before = scrape()
    metrics.record_cache(hit=True)
    metrics.record_cache(hit=True)
    metrics.record_cache(hit=False)
    after = scrape()
    name = "scheduler_cache_requests_total"
    assert value(after, name, result="hit") - value(before, name, result="hit") == 2
    assert value(after, name, result="miss") - value(before, name, result="miss") == 1


# --- beat and runs (from the cache and the database, at scrape time) --------------------


def test_beat_last_tick(scrape):
    assert value(scrape(), "scheduler_beat_last_tick_timestamp_seconds") == 0  # never ticked
    moment = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    metrics.record_beat_tick(moment)
    assert value(scrape(), "scheduler_beat_last_tick_timestamp_seconds") == moment.timestamp()


def test_the_active_beat_and_its_lease(scrape):
    assert value(scrape(), "scheduler_beat_lease_generation") == 0  # no beat ever ran
    first = Lease(holder="host-a:11:aaaaaa")
    first.refresh()
    samples = scrape()
    assert value(samples, "scheduler_beat_active", holder="host-a:11:aaaaaa") == 1
    assert value(samples, "scheduler_beat_lease_generation") == 1
    renewed = BeatLease.objects.get().renewed_at
    assert value(samples, "scheduler_beat_lease_renewed_timestamp_seconds") == pytest.approx(renewed.timestamp())
    first.release()
    second = Lease(holder="host-b:22:bbbbbb")
    second.refresh()
    samples = scrape()
    assert value(samples, "scheduler_beat_active", holder="host-b:22:bbbbbb") == 1
    assert ("scheduler_beat_active", (("holder", "host-a:11:aaaaaa"),)) not in samples
    assert value(samples, "scheduler_beat_lease_generation") == 2


def test_record_beat_tick_survives_a_cache_outage(settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.2, "SOCKET_TIMEOUT": 0.2},
        }
    }
    metrics.record_beat_tick()  # logs, never raises: beat must keep ticking


def test_runs_by_status_duration_and_lateness(user, scrape):
    now = datetime(2030, 5, 6, 12, 0, tzinfo=UTC)
    every_minute = {"kind": "interval", "every": 1, "unit": "minutes"}
    with time_machine.travel(now - timedelta(hours=1), tick=False):
        job = factories.job(user, name="metered", schedule=every_minute)
        paused = factories.job(user, name="idle", enabled=False, schedule=every_minute)
    assert not paused.enabled
    with time_machine.travel(now, tick=False):
        slot = now - timedelta(minutes=5)
        sec = timedelta(seconds=1)
        # On time (0.4 s late, 1.5 s long) and late (45 s, 3 s), both succeeded.
        factories.run_row(job, slot, started=slot + sec * 0.4, finished=slot + sec * 1.9)
        slot2 = slot + timedelta(minutes=1)
        factories.run_row(job, slot2, started=slot2 + sec * 45, finished=slot2 + sec * 48)
        # Failed (1 s late, 0.7 s long), then retried (same slot, attempt 2, 0.8 s long) and succeeded.
        slot3 = slot + timedelta(minutes=2)
        factories.run_row(job, slot3, status=RunStatus.FAILED, started=slot3 + sec, finished=slot3 + sec * 1.7)
        factories.run_row(
            job, slot3, trigger=RunTrigger.RETRY, attempt=2, started=slot3 + sec * 20, finished=slot3 + sec * 20.8
        )
        factories.run_row(job, slot + timedelta(minutes=3), status=RunStatus.SKIPPED, reason="overlap", finished=now)
        factories.run_row(
            job, slot + timedelta(minutes=4), status=RunStatus.MISSED, reason="scheduler not running", finished=now
        )
        # Long ago: counted in the retained history, outside the recent window.
        old = now - timedelta(days=2)
        factories.run_row(job, old, started=old + sec * 900, finished=old + sec * 901)
        samples = scrape()

    runs = "scheduler_runs"
    assert value(samples, runs, status="succeeded", trigger="schedule") == 3
    assert value(samples, runs, status="succeeded", trigger="retry") == 1
    assert value(samples, runs, status="failed", trigger="schedule") == 1
    assert value(samples, runs, status="skipped", trigger="schedule") == 1
    assert value(samples, runs, status="missed", trigger="schedule") == 1
    assert value(samples, runs, status="timed_out", trigger="schedule") == 0  # every status is always present
    assert (runs, (("status", "timed_out"), ("trigger", "catchup"))) in samples

    assert value(samples, "scheduler_jobs", state="enabled") == 1
    assert value(samples, "scheduler_jobs", state="paused") == 1

    duration = "scheduler_run_duration_seconds"
    assert value(samples, f"{duration}_gcount") == 4  # the run from two days ago is outside the window
    assert value(samples, f"{duration}_gsum") == pytest.approx(1.5 + 3 + 0.7 + 0.8)
    assert value(samples, f"{duration}_bucket", le="1.0") == 2
    assert value(samples, f"{duration}_bucket", le="2.5") == 3
    assert value(samples, f"{duration}_bucket", le="+Inf") == 4

    lateness = "scheduler_run_lateness_seconds"
    assert value(samples, f"{lateness}_gcount", trigger="schedule") == 3
    assert value(samples, f"{lateness}_bucket", le="0.5", trigger="schedule") == 1
    assert value(samples, f"{lateness}_bucket", le="1.0", trigger="schedule") == 2
    assert value(samples, f"{lateness}_bucket", le="60.0", trigger="schedule") == 3
    assert value(samples, f"{lateness}_gsum", trigger="schedule") == pytest.approx(0.4 + 45 + 1)
    assert value(samples, f"{lateness}_gcount", trigger="retry") == 1
    assert value(samples, "scheduler_metrics_source_up", source="database") == 1


def test_scrape_answers_when_the_database_cannot_be_read(scrape, monkeypatch):
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("database unreachable")

    monkeypatch.setattr(metrics.SchedulerCollector, "_database", broken)
    samples = scrape()
    assert value(samples, "scheduler_metrics_source_up", source="database") == 0
    assert value(samples, "scheduler_metrics_source_up", source="cache") == 1
    assert not any(name == "scheduler_runs" for name, _ in samples)


# --- several gunicorn workers ------------------------------------------------------------


def test_multiprocess_mode_sums_every_worker(scrape, settings, tmp_path):
    """Two processes (as two gunicorn workers) answer requests; one scrape sees both."""
    worker = textwrap.dedent(
        """
        import django
        django.setup()
        from django.test import Client
        client = Client()
        for _ in range(3):
            assert client.get("/healthz").status_code == 200
        """
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "scheduler_site.settings",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path),
        "ALLOWED_HOSTS": "testserver",
    }
    for _ in range(2):
        subprocess.run([sys.executable, "-c", worker], cwd=ROOT, env=env, check=True, timeout=60)
    settings.PROMETHEUS_MULTIPROC_DIR = str(tmp_path)
    samples = scrape()
    assert value(samples, "scheduler_http_requests_total", route="healthz", method="GET", status="200") == 6
    assert (
        value(samples, "scheduler_http_request_duration_seconds_count", route="healthz", method="GET", status="200")
        == 6
    )


def test_openmetrics_on_request(client, settings):
    settings.METRICS_TOKEN, settings.METRICS_ALLOW_IPS = TOKEN, []
    response = client.get(
        "/metrics",
        HTTP_AUTHORIZATION=f"Bearer {TOKEN}",
        HTTP_ACCEPT="application/openmetrics-text; version=1.0.0",
    )
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/openmetrics-text")
    body = response.content.decode()
    assert "# TYPE scheduler_run_lateness_seconds gaugehistogram" in body
    assert body.endswith("# EOF\n")


def test_each_partitions_holder(scrape, settings):
    settings.JOBS_BEAT_PARTITIONS = 2
    assert value(scrape(), "scheduler_beat_lease_renewed_timestamp_seconds") == 0  # no partition ever taken
    a = Partitions(count=2, holder="host-a:11:aaaaaa")
    a.refresh()
    a.leases[1].release()
    samples = scrape()
    assert value(samples, "scheduler_beat_partition_active", partition="0/2", holder="host-a:11:aaaaaa") == 1
    assert ("scheduler_beat_partition_active", (("holder", "host-a:11:aaaaaa"), ("partition", "1/2"))) not in samples
    assert value(samples, "scheduler_beat_active", holder="host-a:11:aaaaaa") == 1
    assert value(samples, "scheduler_beat_lease_generation") == 2  # one per partition taken
