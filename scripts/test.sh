#!/usr/bin/env bash
# Install hostca with its test dependencies into .venv and run every check:
# ruff, mypy and the whole pytest suite (unit, API and end-to-end tests), first on
# SQLite and then, for the tests that use a database, on a throw-away PostgreSQL.
# Extra arguments go to pytest, e.g. scripts/test.sh -k renamed_host.
set -euo pipefail
cd "$(dirname "$0")/.."

# The end-to-end tests drive the openssl and curl commands, the console's
# browser tests drive Debian's Chromium through Playwright, and the PKCS #11
# tests create tokens with SoftHSM2 (package softhsm2).
missing=()
for tool in openssl curl chromium; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
command -v softhsm2-util >/dev/null 2>&1 || missing+=(softhsm2)
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "scripts/test.sh: missing ${missing[*]}; install them (apt-get install ${missing[*]}) and run again." >&2
        exit 1
    fi
    apt-get update -qq && apt-get install -y -qq "${missing[@]}"
fi

python3 -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[test]'

.venv/bin/ruff check src tests
.venv/bin/ruff format --check src tests
.venv/bin/mypy
.venv/bin/pytest -n 2 "$@"
# pytest exits with 5 when the arguments select no test that uses a database.
scripts/postgres-for-tests.sh .venv/bin/pytest -n 2 "$@" || [ $? -eq 5 ]
