#!/usr/bin/env bash
# Run pilecare: database, broker, ingest, API and a simulated fleet.
# With no configuration it starts an embedded PostgreSQL and Mosquitto under .pilecare/;
# set PILECARE_DATABASE_URL / PILECARE_MQTT_URL to use your own.
set -euo pipefail
cd "$(dirname "$0")"
scripts/venv.sh
if ! command -v mosquitto >/dev/null 2>&1 && [ ! -x /usr/sbin/mosquitto ] && [ -z "${PILECARE_MQTT_URL:-}" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing Mosquitto (apt-get install mosquitto) …"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mosquitto >/dev/null || {
      apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mosquitto >/dev/null; }
  fi
fi
exec .venv/bin/pilecare run "$@"
