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

stage "Suite on PostgreSQL (everything but the Keras backend)" \
  $PY -m pytest --ignore=tests/workers/test_keras_backend.py "$@"
stage "Keras backend, in its own process" $PY -m pytest tests/workers/test_keras_backend.py "$@"
tmp=$(mktemp -d)
stage "Search tests on SQLite" env DATABASE_URL="sqlite:///$tmp/search.sqlite3" \
  $PY -m pytest -m search -p no:cacheprovider tests/guide "$@"
rm -rf "$tmp"
# The docker compose stack, built and started for real (dockerd installed and started if need
# be; what the stage starts it stops). COMPOSE_STAGE=0 skips it.
if [ "${COMPOSE_STAGE:-1}" != 0 ]; then
  stage "Docker compose stack" scripts/compose_stage.sh
fi

if ((${#failed[@]})); then
  printf 'FAILED stage: %s\n' "${failed[@]}"
  exit 1
fi
