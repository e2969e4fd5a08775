#!/usr/bin/env bash
# Install the headless browser the admin's end-to-end tests drive: Debian's chromium,
# used through Playwright's Python client (pinned in requirements-dev.txt) with
# executable_path=/usr/bin/chromium; `playwright install` is never run.
# Idempotent: does nothing when /usr/bin/chromium exists. Needs root (apt-get).
set -euo pipefail

if [ -x /usr/bin/chromium ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "install_browser.sh: /usr/bin/chromium is missing and installing it needs root (apt-get install chromium)" >&2
  exit 1
fi
echo "installing chromium (Debian package)"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
/usr/bin/chromium --version
