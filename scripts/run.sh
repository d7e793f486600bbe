#!/usr/bin/env bash
# Start the web server and the workers on local defaults (see README). Ctrl-C stops all.
set -euo pipefail
cd "$(dirname "$0")/.."
HOST=${1:-127.0.0.1}
PORT=${2:-8000}
PY=.venv/bin/python
CELERY=.venv/bin/celery
export DJANGO_DEBUG=${DJANGO_DEBUG:-1}
# Training shares this machine with the web server: lower priority, one core left free.
export JOB_NICE=${JOB_NICE:-10}
export JOB_THREADS=${JOB_THREADS:-$(( $(nproc) > 1 ? $(nproc) - 1 : 1 ))}

$PY manage.py migrate --no-input
$PY manage.py load_guide
$PY manage.py ensure_admin
$PY manage.py make_demo_dataset
# Static files as in production: hashed names, gzip-compressed copies, served by WhiteNoise
# (runserver --nostatic), so the chart library does not travel uncompressed. Edited CSS/JS
# needs a restart (or another collectstatic).
export DJANGO_STATIC_MANIFEST=${DJANGO_STATIC_MANIFEST:-1}
$PY manage.py collectstatic --no-input --verbosity 0

mkdir -p var/log
# Training worker: GPU_JOBS_PER_WORKER jobs at once (auto: from free GPU memory; 1 on a CPU),
# each in its own child process.
GPU_JOBS=$($PY -m workers.heartbeat --jobs-per-gpu)
$CELERY -A workers worker -Q gpu --pool threads --concurrency "$GPU_JOBS" --prefetch-multiplier 1 \
  -n gpu@%h --loglevel INFO >>var/log/worker-gpu.log 2>&1 &
GPU_WORKER=$!
# Trying a model on an image: its own queue, so it never waits behind a training job.
$CELERY -A workers worker -Q predict --concurrency 1 --prefetch-multiplier 1 -n predict@%h \
  --loglevel INFO >>var/log/worker-predict.log 2>&1 &
PREDICT_WORKER=$!
# Light tasks and the scheduler (reaps jobs whose worker died).
$CELERY -A workers worker -Q default --concurrency 1 --beat -n light@%h \
  --loglevel INFO >>var/log/worker-default.log 2>&1 &
LIGHT_WORKER=$!
cleanup() {
  kill "$GPU_WORKER" "$PREDICT_WORKER" "$LIGHT_WORKER" 2>/dev/null || true
  wait "$GPU_WORKER" "$PREDICT_WORKER" "$LIGHT_WORKER" 2>/dev/null || true
}
trap cleanup EXIT INT TERM
echo
echo "  The guide is at http://$HOST:$PORT/   (admin: http://$HOST:$PORT/admin/)"
echo "  Worker logs: var/log/worker-gpu.log, var/log/worker-predict.log, var/log/worker-default.log"
echo
if [ "$DJANGO_STATIC_MANIFEST" = 1 ]; then
  static_flags=(--nostatic)
else
  static_flags=()
fi
$PY manage.py runserver --noreload "${static_flags[@]}" "$HOST:$PORT"
