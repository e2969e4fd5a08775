#!/usr/bin/env bash
# Install nginx (Debian package) for tests/deploy/test_nginx.py, which starts deploy/nginx's
# configuration in front of gunicorn. Idempotent; needs root (apt-get). The test reports itself
# skipped without it.
set -euo pipefail

if [ -x /usr/sbin/nginx ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "install_nginx.sh: /usr/sbin/nginx is missing and installing it needs root (apt-get install nginx-light)" >&2
  exit 1
fi
echo "installing nginx (Debian package)"
apt-get update -qq
# The package's post-install starts a server on port 80; this script wants only the binary.
printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light >/dev/null || status=$?
rm -f /usr/sbin/policy-rc.d
[ -z "${status:-}" ] || exit "$status"
/usr/sbin/nginx -v
