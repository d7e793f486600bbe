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

# The compose stage's images build in the background meanwhile (mostly downloads, unpacking
# and disk: about one core for some minutes); the stage itself then finds them in Docker's cache.
compose_build=""
if [ "${COMPOSE_STAGE:-1}" != 0 ]; then
  mkdir -p var
  scripts/compose_stage.sh --build-only >var/compose-build.log 2>&1 &
  compose_build=$!
fi

keras_tests=(tests/workers/test_keras_backend.py tests/workers/test_keras_augment.py)
stage "Suite on PostgreSQL (everything but the Keras backend and the compose stack)" \
  $PY -m pytest "${keras_tests[@]/#/--ignore=}" --ignore=tests/compose "$@"
stage "Keras backend, in its own process" $PY -m pytest "${keras_tests[@]}" "$@"
tmp=$(mktemp -d)
stage "Search tests on SQLite" env DATABASE_URL="sqlite:///$tmp/search.sqlite3" \
  $PY -m pytest -m search -p no:cacheprovider tests/guide "$@"
rm -rf "$tmp"
# The docker compose stack, built and started for real (dockerd installed and started if need
# be; what the stage starts it stops). COMPOSE_STAGE=0 skips it.
if [ "${COMPOSE_STAGE:-1}" != 0 ]; then
  echo "(waiting for the background image build: var/compose-build.log)"
  if ! wait "$compose_build"; then  # the stage builds again and shows why
    echo "The background image build failed; its last lines:"
    tail -n 20 var/compose-build.log
  fi
  stage "Docker compose stack" scripts/compose_stage.sh
fi

# Every bench/*.py script with a --smoke flag, in its smallest mode, so that a benchmark that
# stops working fails the suite (figures are not asserted; a non-zero exit is a failure).
smoke_benches() {
  local script status=0 extra logs
  logs=$(mktemp -d)
  export BENCH_DB_SUFFIX="_smoke$$"  # own throwaway databases beside another checkout's run
  export BENCH_DB_TEMPLATE="moocguide_benchtemplate_smoke$$"  # migrated once, copied per bench
  for script in bench/*.py; do
    grep -qE -- 'add_smoke_arg|"--smoke"' "$script" && grep -q "__main__" "$script" || continue
    extra=()
    case "$script" in
      # run in smoke mode by the suite itself (tests/workers/test_step_profile.py,
      # tests/project/test_bench_pages.py): not twice
      bench/step_profile.py | bench/pages.py) continue ;;
      bench/training_throughput.py) extra=(--broker "${TEST_BROKER_URL:-redis://127.0.0.1:6379/14}") ;;
    esac
    echo "-- $script --smoke ${extra[*]}"
    local started=$SECONDS
    if ! $PY "$script" --smoke "${extra[@]}" >"$logs/log" 2>&1; then
      tail -n 40 "$logs/log"
      echo "FAILED: $script --smoke"
      status=1
    fi
    echo "   $((SECONDS - started)) s"
  done
  rm -rf "$logs"
  dropdb --if-exists -h 127.0.0.1 -U postgres "$BENCH_DB_TEMPLATE" || true
  return $status
}
stage "Benchmarks in smoke mode" smoke_benches

if ((${#failed[@]})); then
  printf 'FAILED stage: %s\n' "${failed[@]}"
  exit 1
fi
