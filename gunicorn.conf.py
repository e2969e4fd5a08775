"""gunicorn settings, from the environment (see .env.example)."""

import os
import shutil

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("WEB_WORKERS", "2"))
threads = int(os.environ.get("WEB_THREADS", "4"))
worker_class = "gthread" if threads > 1 else "sync"
timeout = int(os.environ.get("WEB_TIMEOUT", "30"))
# On SIGTERM, workers finish the requests they have for this long before being killed.
graceful_timeout = int(os.environ.get("WEB_GRACEFUL_TIMEOUT", "20"))
keepalive = 5
# Access log off by default (one line per request is costly at high rates).
accesslog = "-" if os.environ.get("WEB_ACCESS_LOG", "").lower() in ("1", "true", "yes", "on") else None
errorlog = "-"
# Let a new worker replace one that leaked, without a thundering herd.
max_requests = int(os.environ.get("WEB_MAX_REQUESTS", "0"))
max_requests_jitter = max_requests // 10
# Worker heartbeats in memory: a container's /tmp may be a slow overlay
# filesystem (gunicorn creates its files there with mkstemp, owner-only).
if os.path.isdir("/dev/shm"):  # noqa: S108
    worker_tmp_dir = "/dev/shm"  # noqa: S108

# prometheus_client's multiprocess mode: every worker writes its counters to
# this folder and /metrics sums them (scheduler_site.metrics).
PROMETHEUS_MULTIPROC_DIR = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")


def on_starting(server):
    if PROMETHEUS_MULTIPROC_DIR:
        # Files of a previous run would be summed with this one's.
        shutil.rmtree(PROMETHEUS_MULTIPROC_DIR, ignore_errors=True)
        os.makedirs(PROMETHEUS_MULTIPROC_DIR, exist_ok=True)


def child_exit(server, worker):
    if PROMETHEUS_MULTIPROC_DIR:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
