#!/usr/bin/env bash
# Install what the tests need and run the whole suite:
#   1. ruff (lint + format check)
#   2. unit + API suite on SQLite with real Redis
#   3. the same suite on PostgreSQL with real Redis, plus the end-to-end tests
# Services the tests need (Redis, PostgreSQL) are started if not running.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt

scripts/services.sh
# Debian's chromium for the admin's browser tests (they report themselves skipped without it).
scripts/install_browser.sh || echo "chromium could not be installed: the browser tests will be skipped"

.venv/bin/ruff check .
.venv/bin/ruff format --check .

export ENV_FILE=""            # a developer's .env must not redirect the tests
export SECRET_KEY="test-only-secret-key-not-for-production"
export DEBUG=false
export TEST_REDIS_HOST=${TEST_REDIS_HOST:-127.0.0.1}
export TEST_PG_URL=${TEST_PG_URL:-postgres://postgres@127.0.0.1:5432/test}
unset MONGODB_URI DATABASE_URL CELERY_BROKER_URL

run_lane() {
  local name=$1; shift
  echo "=== $name ==="
  set +e
  .venv/bin/python -m pytest "$@"
  local rc=$?
  set -e
  if [ "$rc" -ne 0 ]; then
    echo "lane $name failed (pytest exit $rc)"; exit "$rc"
  fi
}

# Each lane has its own Redis databases for the cache and the Celery broker.
REDIS_URL="redis://$TEST_REDIS_HOST:6379/14" CELERY_BROKER_URL="redis://$TEST_REDIS_HOST:6379/12" \
  run_lane sqlite -m "not e2e" "$@"
REDIS_URL="redis://$TEST_REDIS_HOST:6379/15" CELERY_BROKER_URL="redis://$TEST_REDIS_HOST:6379/13" \
  DATABASE_URL="$TEST_PG_URL" run_lane postgresql "$@"
