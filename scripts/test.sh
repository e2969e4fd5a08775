#!/usr/bin/env bash
# Install what the tests need and run the whole suite:
#   1. ruff (lint + format check)
#   2. unit + API suite on SQLite with real Redis
#   3. the same suite on PostgreSQL with real Redis, plus the end-to-end tests
#   4. the MQL guard (tests/mongodb): the app under MongoDB settings with pymongo's collection
#      operations recorded instead of sent (no server), under coverage, whose report is printed
#   5. only with TEST_MONGODB_URI set (a MongoDB 6.0+ server): the whole suite on MongoDB
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
# Debian's nginx for the proxy test (tests/deploy/test_nginx.py; skipped without it).
scripts/install_nginx.sh || echo "nginx could not be installed: the proxy test will be skipped"

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

# The guard needs MongoDB settings before Django loads, so it has a process of its own (the SQL
# lanes do not collect tests/mongodb without MQL_GUARD=1). Nothing listens on port 1.
echo "=== mongodb-guard ==="
GUARD_COVERAGE=$(mktemp -d)
set +e
MQL_GUARD=1 MONGODB_URI="mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=200" \
  REDIS_URL="redis://$TEST_REDIS_HOST:6379/10" CELERY_BROKER_URL="redis://$TEST_REDIS_HOST:6379/11" \
  COVERAGE_FILE="$GUARD_COVERAGE/.coverage" \
  .venv/bin/python -m coverage run --source=jobs,accounts,scheduler_site -m pytest tests/mongodb
rc=$?
set -e
if [ "$rc" -ne 0 ]; then
  echo "lane mongodb-guard failed (pytest exit $rc)"; rm -rf "$GUARD_COVERAGE"; exit "$rc"
fi
echo "--- code run by the guard (every query-issuing module should show up exercised) ---"
COVERAGE_FILE="$GUARD_COVERAGE/.coverage" .venv/bin/python -m coverage report --skip-empty \
  --include='jobs/*,accounts/*,scheduler_site/*' --omit='*/migrations/*,*/mongo_migrations/*'
rm -rf "$GUARD_COVERAGE"

if [ -n "${TEST_MONGODB_URI:-}" ]; then
  # tests.mongodb.live marks the tests that cannot pass on MongoDB as expected failures, with the reason.
  MONGODB_URI="$TEST_MONGODB_URI" MONGODB_NAME="${TEST_MONGODB_NAME:-scheduler_ci}" \
    REDIS_URL="redis://$TEST_REDIS_HOST:6379/8" CELERY_BROKER_URL="redis://$TEST_REDIS_HOST:6379/9" \
    run_lane mongodb-live -p tests.mongodb.live "$@"
else
  echo "=== mongodb-live: not run (set TEST_MONGODB_URI to a MongoDB 6.0+ server to run the suite on it) ==="
fi
