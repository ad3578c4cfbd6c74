#!/usr/bin/env bash
# Lint, then the whole test suite against the local PostgreSQL and Redis. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/venv.sh requirements-dev.txt
ruff check .
ruff format --check .
python -m pytest "$@"
