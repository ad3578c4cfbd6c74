#!/usr/bin/env bash
# Start the service. Without DATABASE_URL it runs on SQLite (instance/dev.sqlite3) with in-process
# tasks; it migrates, makes sure the demo account exists, prints a demo token, then serves.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/venv.sh requirements.txt
mkdir -p instance
flask --app wsgi db upgrade
flask --app wsgi seed-demo
exec flask --app wsgi run --host 127.0.0.1 --port "${PORT:-5000}"
