#!/usr/bin/env bash
# Run the test suite against real PostgreSQL and Mosquitto (started here when missing).
set -euo pipefail
cd "$(dirname "$0")"
scripts/venv.sh
# PostgreSQL: the local cluster if installed but stopped; with none at all the tests
# start an embedded one (tests/services.py).
if command -v pg_lsclusters >/dev/null 2>&1 && ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  cluster="$(ls /etc/postgresql 2>/dev/null | head -1)"
  [ -n "$cluster" ] && pg_ctlcluster --skip-systemctl-redirect "$cluster" main start || true
fi
# Mosquitto: the tests start their own broker with the project's config on a free port.
if ! command -v mosquitto >/dev/null 2>&1 && [ ! -x /usr/sbin/mosquitto ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mosquitto >/dev/null || {
      apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mosquitto >/dev/null; }
  fi
fi
# Chromium: the console's browser tests drive Debian's headless chromium through its chromedriver.
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null || {
      apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; }
  fi
fi
# Poppler: the report tests render the monthly PDF (pdftoppm) and read its text (pdftotext).
if ! command -v pdftoppm >/dev/null 2>&1 || ! command -v pdftotext >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq poppler-utils >/dev/null || {
      apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq poppler-utils >/dev/null; }
  fi
fi
# Test files run on one process per core (pytest-xdist, a file's tests on one process: they
# share its module fixtures); each process has its own database and broker (tests/conftest.py).
# PILECARE_TEST_WORKERS=0 runs them in this process.
exec .venv/bin/pytest -n "${PILECARE_TEST_WORKERS:-auto}" --dist loadfile "$@"
