#!/usr/bin/env bash
# The whole suite on Postgres, then the search tests again on SQLite.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
export DJANGO_SETTINGS_MODULE=config.settings_test

echo "== Suite on PostgreSQL =="
$PY -m pytest "$@"

echo "== Search tests on SQLite =="
tmp=$(mktemp -d)
DATABASE_URL="sqlite:///$tmp/search.sqlite3" $PY -m pytest -m search -p no:cacheprovider "$@"
rm -rf "$tmp"
