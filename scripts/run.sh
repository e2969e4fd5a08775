#!/usr/bin/env bash
# Install and run the service on the embedded default (SQLite file, no Redis or MongoDB):
# migrates, creates the demo login, and serves http://127.0.0.1:8000 with a Celery worker
# and beat beside it. Ctrl-C stops every process this script started.
#
#   HOST (127.0.0.1) and PORT (8000): where the web server listens.
#   WORKER_CONCURRENCY (2): worker processes.
#
# Configuration comes from the environment or .env (see .env.example); with neither,
# everything runs from ./var: the database, the broker's files, the demo password
# (var/demo-password, the same on every start) and the logs (var/log/{web,worker,beat}.log).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.txt

HOST=${HOST:-127.0.0.1}
PORT=${PORT:-8000}
# A busy port is found now, before anything starts, rather than as a web server that dies
# beside a worker and beat that keep running.
if ! .venv/bin/python - "$HOST" "$PORT" <<'EOF'
import socket, sys
host, port = sys.argv[1], int(sys.argv[2])
with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gunicorn binds: TIME_WAIT is no obstacle
    try:
        s.bind((host, port))
    except OSError as exc:
        sys.exit(f"port {port} on {host} is not free ({exc.strerror}): choose another with PORT, e.g. PORT={port + 1} scripts/run.sh")
EOF
then
  exit 1
fi

mkdir -p var/log
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
# The demo password is made once and kept, so a restart does not change the login.
if [ ! -s var/demo-password ]; then
  .venv/bin/python -c "import secrets; print(secrets.token_urlsafe(12))" > var/demo-password
  chmod 600 var/demo-password
fi
DEMO_PASSWORD=$(cat var/demo-password)

echo "[1/4] migrating the database"
.venv/bin/python manage.py migrate --noinput -v0
echo "[2/4] collecting static files"
.venv/bin/python manage.py collectstatic --noinput -v0
echo "[3/4] creating the demo login and demo jobs"
.venv/bin/python manage.py seed_demo --base-url "http://$HOST:$PORT" --password "$DEMO_PASSWORD"

pids=()
cleanup() {
  trap - INT TERM EXIT
  echo "stopping (${pids[*]:-})"
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup INT TERM EXIT

echo "[4/4] starting worker, beat and web (output in var/log/)"
.venv/bin/celery -A scheduler_site worker --loglevel=INFO --concurrency="${WORKER_CONCURRENCY:-2}" \
  >>var/log/worker.log 2>&1 &
pids+=($!)
.venv/bin/celery -A scheduler_site beat --loglevel=INFO --pidfile= >>var/log/beat.log 2>&1 &
pids+=($!)
.venv/bin/gunicorn scheduler_site.wsgi --config gunicorn.conf.py --bind "$HOST:$PORT" >>var/log/web.log 2>&1 &
pids+=($!)

# The login and the addresses come last, once the web server answers, so nothing scrolls them away.
URL_HOST=$HOST
case "$URL_HOST" in 0.0.0.0) URL_HOST=127.0.0.1 ;; *:*) URL_HOST="[$HOST]" ;; esac
BASE="http://$URL_HOST:$PORT"
for _ in $(seq 1 60); do
  if .venv/bin/python -c "import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=1)" "$BASE/healthz" \
    2>/dev/null; then
    break
  fi
  if ! kill -0 "${pids[2]}" 2>/dev/null; then
    echo "the web server stopped; its output is in var/log/web.log:"; tail -n 20 var/log/web.log; exit 1
  fi
  sleep 0.5
done
cat <<EOF

Scheduler is running.
  admin:     $BASE/admin/
  API docs:  $BASE/api/docs/
  liveness:  $BASE/healthz
  logs:      var/log/web.log, var/log/worker.log, var/log/beat.log
Demo login: username=demo password=$DEMO_PASSWORD
Ctrl-C stops it all.
EOF
# Return when any of them exits (or on Ctrl-C), then stop the others.
wait -n "${pids[@]}"
