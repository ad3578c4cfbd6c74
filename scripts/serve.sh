#!/usr/bin/env bash
# Start the service. Without DATABASE_URL it runs on SQLite (instance/dev.sqlite3); without REDIS_URL
# tasks run in-process and beat's jobs run in a background loop. It migrates, makes sure the demo
# account exists, prints a demo token, then serves.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/venv.sh requirements.txt
# A local run is development even against PostgreSQL (DATABASE_URL alone would mean production,
# which refuses to start without SECRET_KEY and ENCRYPTION_KEYS).
export APP_ENV="${APP_ENV:-development}"
mkdir -p instance
# Development: the widget demo page is served, and the /admin cookie works over plain http.
export WIDGET_DEMO="${WIDGET_DEMO:-true}" SESSION_COOKIE_SECURE="${SESSION_COOKIE_SECURE:-false}"
flask --app wsgi db upgrade
flask --app wsgi seed-demo
if [ -z "${REDIS_URL:-}" ]; then
  flask --app wsgi periodic-jobs &
  trap 'kill $! 2>/dev/null' EXIT
fi
flask --app wsgi run --host 127.0.0.1 --port "${PORT:-5000}"
