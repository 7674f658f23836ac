#!/usr/bin/env bash
# Create or refresh .venv in the repository root (shared by run.sh and test.sh).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
python="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
# Reinstall only when the project definition changed since the last install.
stamp=".venv/.pilecare-installed"
want="$(sha256sum pyproject.toml | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -e ".[test,embedded]"
  echo "$want" > "$stamp"
fi
# The console's browser libraries (Chart.js; Swagger UI and ReDoc for /docs and /redoc) come
# from npm, installed into api/console/node_modules and served by the API from there. Reinstall when the lock file
# changed since the last install.
console="api/console"
console_stamp="$console/node_modules/.pilecare-installed"
console_want="$(sha256sum "$console/package-lock.json" | cut -d' ' -f1)"
if [ ! -f "$console_stamp" ] || [ "$(cat "$console_stamp")" != "$console_want" ]; then
  if ! command -v npm >/dev/null 2>&1; then
    echo "npm is missing: the operator console and /docs need it once to install their browser libraries" >&2
    echo "(install Node.js 18+ with npm, e.g. apt-get install nodejs npm, then run this again)" >&2
    exit 1
  fi
  npm ci --prefix "$console" --no-audit --no-fund --loglevel=error
  echo "$console_want" > "$console_stamp"
fi
# The OCPP tests' charge point (npm ocpp-rpc, tests/ocpp_client): a client not written here,
# driven from pytest with Node.js. Reinstalled when its lock file changed, like the console's.
ocpp_client="tests/ocpp_client"
ocpp_stamp="$ocpp_client/node_modules/.pilecare-installed"
ocpp_want="$(sha256sum "$ocpp_client/package-lock.json" | cut -d' ' -f1)"
if [ ! -f "$ocpp_stamp" ] || [ "$(cat "$ocpp_stamp")" != "$ocpp_want" ]; then
  npm ci --prefix "$ocpp_client" --no-audit --no-fund --loglevel=error
  echo "$ocpp_want" > "$ocpp_stamp"
fi
