#!/usr/bin/env bash
# Install hostca into .venv and run the primary server.
# On an empty data directory the server initializes itself first: it creates the
# CA and prints where the generated administrator password was written.
# Arguments go to 'hostca server run', e.g.:
#   scripts/run-server.sh --data-dir ./hostca-data --listen 127.0.0.1:1556
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e .
exec .venv/bin/hostca server run "$@"
