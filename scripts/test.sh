#!/usr/bin/env bash
# The whole suite on Postgres, then the search tests again on SQLite.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
export DJANGO_SETTINGS_MODULE=config.settings_test

# TensorFlow and torch must never share a process (importing torch after TensorFlow crashes;
# jobs run each in its own process for the same reason), so the Keras backend tests get theirs.
# Every stage runs even when an earlier one fails, so one run shows every failure.
failed=()
stage() {
  local name=$1
  shift
  echo "== $name =="
  "$@" || failed+=("$name")
}

keras_tests=(tests/workers/test_keras_backend.py tests/workers/test_keras_augment.py)
stage "Suite on PostgreSQL (everything but the Keras backend)" \
  $PY -m pytest "${keras_tests[@]/#/--ignore=}" "$@"
stage "Keras backend, in its own process" $PY -m pytest "${keras_tests[@]}" "$@"
tmp=$(mktemp -d)
stage "Search tests on SQLite" env DATABASE_URL="sqlite:///$tmp/search.sqlite3" \
  $PY -m pytest -m search -p no:cacheprovider tests/guide "$@"
rm -rf "$tmp"

if ((${#failed[@]})); then
  printf 'FAILED stage: %s\n' "${failed[@]}"
  exit 1
fi
