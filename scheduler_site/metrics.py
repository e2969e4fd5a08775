"""Prometheus metrics at `/metrics`, for a scraper holding METRICS_TOKEN and/or in METRICS_ALLOW_IPS.

Where each number comes from, and why
-------------------------------------
Web, worker and beat are separate processes (separate containers in
docker-compose), so a counter incremented in the worker is invisible to the
web process that answers the scrape. Sharing prometheus_client's multiprocess
files across containers is fragile (files are keyed by pid, and every
container has its own pid 1). So:

* Run metrics are computed at scrape time from the database, the one store
  every process writes: runs in the retained history by status and trigger
  (`scheduler_runs`; skipped runs are `status="skipped"`, retried runs are
  `trigger="retry"`), jobs by state, and the distributions of run duration and
  of fire lateness (`started_at - scheduled_for`) over the runs of the last
  RECENT_WINDOW. They are gauges (and gauge histograms): pruning old runs
  lowers them, which a counter must never do. `histogram_quantile()` works on
  the `_bucket` series directly, no `rate()` needed.
* Beat's last tick is a timestamp in the shared cache: the scheduler calls
  `record_beat_tick()` on every tick; the scrape reads it
  (`scheduler_beat_last_tick_timestamp_seconds`, 0 = never).
* Login failures and throttle refusals (`scheduler_login_failures_total`,
  `scheduler_login_throttled_total{limit}`) are counted where they happen, in
  the web processes, like the HTTP counters below.
* HTTP request counts and latencies (`scheduler_http_requests_total`,
  `scheduler_http_request_duration_seconds`, labelled by the resolver's route
  name, never the raw path, so cardinality stays bounded) and cache hits and
  misses (`record_cache(hit)`, called by jobs.cache) happen in the web
  processes. gunicorn runs several workers, and a scrape reaches one of them,
  so with PROMETHEUS_MULTIPROC_DIR set (docker-compose sets it for `web`)
  prometheus_client's multiprocess mode sums every worker's counters;
  gunicorn.conf.py empties the folder at start and marks dead workers.
  Without it (runserver, tests) the counters are the process's own.

If the database or cache cannot be read, the scrape still answers: the
affected families are left out and `scheduler_metrics_source_up{source}` is 0.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timedelta
from typing import Any

import prometheus_client
from django.conf import settings
from django.core.cache import cache
from django.db.models import Count
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
from prometheus_client import CollectorRegistry, Counter, Histogram, multiprocess
from prometheus_client.core import GaugeHistogramMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.utils import floatToGoString

from jobs.beat import lease, partitions
from jobs.models import Job, JobRun, RunStatus, RunTrigger
from scheduler_site.errors import error_body

logger = logging.getLogger(__name__)

# `_created` series double every family for no use here.
prometheus_client.disable_created_metrics()

REGISTRY = CollectorRegistry(auto_describe=True)
BEAT_TICK_KEY = "ops:beat:last_tick"
RECENT_WINDOW = timedelta(minutes=15)
RECENT_MAX_RUNS = 20_000  # bounds the scrape's cost; the newest runs are kept
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "<unmatched>"

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
DURATION_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)
LATENESS_BUCKETS = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)

HTTP_REQUESTS = Counter(
    "scheduler_http_requests",
    "HTTP requests answered, by route name, method and status code.",
    ["route", "method", "status"],
    registry=REGISTRY,
)
HTTP_LATENCY = Histogram(
    "scheduler_http_request_duration_seconds",
    "Time to answer an HTTP request, by route name, method and status code.",
    ["route", "method", "status"],
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)
CACHE_REQUESTS = Counter(
    "scheduler_cache_requests",
    "API response cache lookups, by result (hit or miss).",
    ["result"],
    registry=REGISTRY,
)
for _result in ("hit", "miss"):
    CACHE_REQUESTS.labels(_result)
LOGIN_FAILURES = Counter(
    "scheduler_login_failures",
    "Failed logins (wrong username or password, or an inactive user) at token obtain.",
    registry=REGISTRY,
)
LOGIN_THROTTLED = Counter(
    "scheduler_login_throttled",
    "Token obtain attempts refused before the password was checked, by the limit that refused them "
    "(pair: username and address, address, username).",
    ["limit"],
    registry=REGISTRY,
)
for _limit in ("pair", "address", "username"):
    LOGIN_THROTTLED.labels(_limit)
ALERTS_SENT = Counter(
    "scheduler_alerts_sent",
    "Alert deliveries that reached their channel, by alert kind and channel kind (counted by the worker).",
    ["kind", "channel"],
    registry=REGISTRY,
)
ALERTS_FAILED = Counter(
    "scheduler_alerts_failed",
    "Alert deliveries given up after their last attempt, by alert kind and channel kind (counted by the worker).",
    ["kind", "channel"],
    registry=REGISTRY,
)


# --- hooks other modules call ------------------------------------------------------


def record_cache(hit: bool) -> None:
    """Count one response-cache lookup (jobs.cache calls this)."""
    CACHE_REQUESTS.labels("hit" if hit else "miss").inc()


def record_login_failure() -> None:
    """Count one failed login (accounts.throttles calls this)."""
    LOGIN_FAILURES.inc()


def record_login_throttled(limit: str) -> None:
    """Count one login refused by the limit named (accounts.throttles calls this)."""
    LOGIN_THROTTLED.labels(limit).inc()


def record_beat_tick(at: datetime | None = None) -> None:
    """Remember that beat ticked (the scheduler calls this every tick). Never raises."""
    moment = at or timezone.now()
    try:
        cache.set(BEAT_TICK_KEY, moment.timestamp(), timeout=None)
    except Exception as exc:
        logger.warning("beat tick not recorded: cache unreachable (%s: %s)", type(exc).__name__, exc)


def beat_last_tick() -> float | None:
    """Unix time of beat's last tick, or None if it never ticked. Raises if the cache is unreachable."""
    value = cache.get(BEAT_TICK_KEY)
    return float(value) if value is not None else None


# --- HTTP ----------------------------------------------------------------------------


def route_label(request: HttpRequest) -> str:
    match = getattr(request, "resolver_match", None)
    if match is not None:
        return match.view_name or match.route or UNMATCHED
    if request.path.startswith("/" + settings.STATIC_URL.lstrip("/")):
        return "static"
    return UNMATCHED


class MetricsMiddleware:
    """Counts and times every request. First in MIDDLEWARE, so it sees every answer."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        elapsed = time.perf_counter() - started
        labels = (route_label(request), request.method if request.method in _METHODS else "other")
        status = str(response.status_code)
        HTTP_REQUESTS.labels(*labels, status).inc()
        HTTP_LATENCY.labels(*labels, status).observe(elapsed)
        return response


# --- scrape-time collection --------------------------------------------------------


class SchedulerCollector:
    """Run, job and beat metrics read from the database and the shared cache at scrape time."""

    def collect(self) -> Iterator[Metric]:
        now = timezone.now()
        up = GaugeMetricFamily(
            "scheduler_metrics_source_up", "1 if this scrape could read the source, else 0.", labels=["source"]
        )
        try:
            families = list(self._database(now, Job, JobRun, RunStatus, RunTrigger))
            up.add_metric(["database"], 1)
        except Exception as exc:
            logger.warning("metrics: database unreadable (%s: %s)", type(exc).__name__, exc)
            families = []
            up.add_metric(["database"], 0)
        try:
            tick = beat_last_tick()
            beat = GaugeMetricFamily(
                "scheduler_beat_last_tick_timestamp_seconds",
                "Unix time of the beat scheduler's last tick (0: never seen).",
                value=tick or 0,
            )
            families.append(beat)
            up.add_metric(["cache"], 1)
        except Exception as exc:
            logger.warning("metrics: cache unreadable (%s: %s)", type(exc).__name__, exc)
            up.add_metric(["cache"], 0)
        yield from families
        yield up

    def _beat(self) -> Iterable[Metric]:
        """Which beat is active: the lease (jobs/beat/lease.py), or each partition's (jobs/beat/partitions.py)."""
        count = settings.JOBS_BEAT_PARTITIONS
        if count > 1:
            states = [share.lease for share in partitions.current_states(count)]
            shares = GaugeMetricFamily(
                "scheduler_beat_partition_active",
                "1 for the beat holding a partition's lease (jobs/beat/partitions.py); none while no beat holds it.",
                labels=["partition", "holder"],
            )
            for k, state in enumerate(states):
                if state is not None and state.holder:
                    shares.add_metric([f"{k}/{count}", state.holder], 1)
            yield shares
        else:
            states = [lease.current_state()]
        active = GaugeMetricFamily(
            "scheduler_beat_active",
            "1 for the beat holding the lease (jobs/beat/lease.py); no sample while no beat holds it."
            if count == 1
            else "1 for each beat holding at least one partition's lease; no sample while none does.",
            labels=["holder"],
        )
        for holder in sorted({state.holder for state in states if state is not None and state.holder}):
            active.add_metric([holder], 1)
        yield active
        yield GaugeMetricFamily(
            "scheduler_beat_lease_generation",
            "The beat lease's generation: 1 for the first beat that took it, one more at each change of hands"
            + ("." if count == 1 else " (summed over the partitions)."),
            value=sum(state.generation for state in states if state is not None),
        )
        renewed = [state.renewed_at.timestamp() if state is not None and state.renewed_at else 0 for state in states]
        yield GaugeMetricFamily(
            "scheduler_beat_lease_renewed_timestamp_seconds",
            "Unix time the active beat last renewed its lease (0: never)."
            if count == 1
            else "Unix time of the oldest last renewal among the partitions' leases (0: one never taken).",
            value=min(renewed),
        )

    def _database(self, now: datetime, Job: Any, JobRun: Any, RunStatus: Any, RunTrigger: Any) -> Iterable[Metric]:
        jobs = GaugeMetricFamily("scheduler_jobs", "Jobs by state (enabled or paused).", labels=["state"])
        enabled = Job.objects.filter(enabled=True).count()
        jobs.add_metric(["enabled"], enabled)
        jobs.add_metric(["paused"], Job.objects.count() - enabled)
        yield jobs

        yield from self._beat()

        counts = {(status, trigger): 0 for status in RunStatus.values for trigger in RunTrigger.values}
        for row in JobRun.objects.order_by().values("status", "trigger").annotate(n=Count("pk")):
            counts[(row["status"], row["trigger"])] = row["n"]
        runs = GaugeMetricFamily(
            "scheduler_runs",
            "Runs in the retained history (RUNS_RETENTION_DAYS) by status and trigger; "
            'skipped runs are status="skipped", retried runs trigger="retry".',
            labels=["status", "trigger"],
        )
        for (status, trigger), n in sorted(counts.items()):
            runs.add_metric([status, trigger], n)
        yield runs

        since = now - RECENT_WINDOW
        window = f"{int(RECENT_WINDOW.total_seconds() // 60)} minutes"
        durations = [
            ms / 1000
            for ms in JobRun.objects.filter(finished_at__gte=since, duration_ms__isnull=False)
            .order_by("-finished_at")
            .values_list("duration_ms", flat=True)[:RECENT_MAX_RUNS]
        ]
        yield _gauge_histogram(
            "scheduler_run_duration_seconds",
            f"Duration of the runs that finished in the last {window}.",
            {(): durations},
            DURATION_BUCKETS,
        )

        lateness: dict[tuple[str, ...], list[float]] = {(trigger,): [] for trigger in RunTrigger.values}
        started = (
            JobRun.objects.filter(started_at__gte=since)
            .order_by("-started_at")
            .values_list("trigger", "scheduled_for", "started_at")[:RECENT_MAX_RUNS]
        )
        for trigger, scheduled_for, started_at in started:
            lateness.setdefault((trigger,), []).append(max(0.0, (started_at - scheduled_for).total_seconds()))
        yield _gauge_histogram(
            "scheduler_run_lateness_seconds",
            f"Fire lateness (started_at - scheduled_for) of the runs that started in the last {window}, by trigger.",
            lateness,
            LATENESS_BUCKETS,
            labels=["trigger"],
        )


def _gauge_histogram(
    name: str,
    documentation: str,
    values_by_labels: dict[tuple[str, ...], list[float]],
    buckets: tuple[float, ...],
    labels: list[str] | None = None,
) -> GaugeHistogramMetricFamily:
    family = GaugeHistogramMetricFamily(name, documentation, labels=labels or [])
    for label_values, values in sorted(values_by_labels.items()):
        cumulative = [(_bound(b), sum(1 for v in values if v <= b)) for b in buckets]
        cumulative.append(("+Inf", len(values)))
        family.add_metric(list(label_values), cumulative, gsum_value=sum(values))
    return family


def _bound(value: float) -> str:
    return floatToGoString(value)


class _Scrape:
    """What one scrape exposes: HTTP and cache counters plus the scrape-time collector."""

    def collect(self) -> Iterator[Metric]:
        if settings.PROMETHEUS_MULTIPROC_DIR:
            # Every gunicorn worker's counters, summed from the shared folder.
            yield from multiprocess.MultiProcessCollector(None, path=settings.PROMETHEUS_MULTIPROC_DIR).collect()
        else:
            yield from REGISTRY.collect()
        yield from SchedulerCollector().collect()


def render(accept: str = "") -> tuple[bytes, str]:
    """The metrics page and its content type: Prometheus text (0.0.4), or OpenMetrics if the scraper asks."""
    encoder, content_type = choose_encoder(accept)
    return encoder(_Scrape()), content_type  # type: ignore[arg-type]


# --- the endpoint ----------------------------------------------------------------


def client_address(request: HttpRequest) -> str:
    """The client's address: REMOTE_ADDR, or X-Forwarded-For as set by NUM_PROXIES trusted proxies."""
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if settings.NUM_PROXIES and forwarded:
        addresses = [part.strip() for part in forwarded.split(",") if part.strip()]
        if addresses:
            return addresses[-min(settings.NUM_PROXIES, len(addresses))]
    return request.META.get("REMOTE_ADDR", "")


def _address_allowed(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(network, strict=False) for network in settings.METRICS_ALLOW_IPS)


def _refusal(request: HttpRequest) -> JsonResponse | None:
    """None if the scraper may read the metrics, else the answer to give it.

    Each configured setting is a requirement: with both set, the request must
    come from an allowed address and carry the token. With neither set the
    endpoint is off, rather than open to anyone.
    """
    token, networks = settings.METRICS_TOKEN, settings.METRICS_ALLOW_IPS
    if not token and not networks:
        return _error(403, "metrics_disabled", "Metrics are off: set METRICS_TOKEN and/or METRICS_ALLOW_IPS.")
    if networks and not _address_allowed(client_address(request)):
        return _error(403, "permission_denied", "This address may not read the metrics.")
    if token:
        scheme, _, presented = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(presented.strip().encode(), token.encode()):
            response = _error(401, "not_authenticated", "A valid metrics bearer token is required.")
            response["WWW-Authenticate"] = 'Bearer realm="metrics"'
            return response
    return None


def _error(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse(error_body(code, message), status=status)


@never_cache
@require_safe
def metrics_view(request: HttpRequest) -> HttpResponse:
    refusal = _refusal(request)
    if refusal is not None:
        return refusal
    body, content_type = render(request.headers.get("Accept", ""))
    return HttpResponse(body, content_type=content_type)
