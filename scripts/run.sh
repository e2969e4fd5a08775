#!/usr/bin/env bash
# Install and run the service on the embedded default (SQLite file, no Redis or MongoDB):
# migrates, creates the demo login (printed), and serves http://127.0.0.1:8000 with a
# Celery worker and beat beside it. Ctrl-C stops every process this script started.
#
# Configuration comes from the environment or .env (see .env.example); with neither,
# everything runs from ./var.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.txt

mkdir -p var
# A development key for this machine only, kept in var/ (which the settings never
# read): production sets SECRET_KEY itself, and DEBUG stays off.
if [ -z "${SECRET_KEY:-}" ] && ! grep -qs '^SECRET_KEY=' .env; then
  if [ ! -s var/dev-secret-key ]; then
    .venv/bin/python -c "import secrets; print(secrets.token_urlsafe(50))" > var/dev-secret-key
    chmod 600 var/dev-secret-key
  fi
  SECRET_KEY=$(cat var/dev-secret-key)
  export SECRET_KEY
fi

HOST=${HOST:-127.0.0.1}
PORT=${PORT:-8000}
# The demo's health-check job calls this service itself, an address the egress policy
# refuses unless allowed: allow exactly that address (unless the environment or .env
# already says what is allowed; seed_demo then skips the job if it is not).
CHECK_HOST=$HOST
case "$CHECK_HOST" in 0.0.0.0 | localhost) CHECK_HOST=127.0.0.1 ;; esac
if [ -z "${JOBS_HTTP_ALLOWED_NETWORKS+set}" ] && ! grep -qs '^JOBS_HTTP_ALLOWED_NETWORKS=' .env; then
  export JOBS_HTTP_ALLOWED_NETWORKS=$CHECK_HOST
fi

echo "[1/4] migrating the database"
.venv/bin/python manage.py migrate --noinput -v0
echo "[2/4] collecting static files"
.venv/bin/python manage.py collectstatic --noinput -v0
echo "[3/4] creating the demo login and demo jobs"
.venv/bin/python manage.py seed_demo --base-url "http://$CHECK_HOST:$PORT"

pids=()
cleanup() {
  trap - INT TERM EXIT
  echo "stopping (${pids[*]:-})"
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup INT TERM EXIT

echo "[4/4] starting worker, beat and web on http://$HOST:$PORT (Ctrl-C stops all)"
.venv/bin/celery -A scheduler_site worker --loglevel=INFO --concurrency="${WORKER_CONCURRENCY:-2}" &
pids+=($!)
.venv/bin/celery -A scheduler_site beat --loglevel=INFO --pidfile= &
pids+=($!)
.venv/bin/gunicorn scheduler_site.wsgi --config gunicorn.conf.py --bind "$HOST:$PORT" &
pids+=($!)
# Return when any of them exits (or on Ctrl-C), then stop the others.
wait -n "${pids[@]}"
