#!/usr/bin/env bash
# Start the web server and a Celery worker on local defaults (see README).
set -euo pipefail
cd "$(dirname "$0")/.."
HOST=${1:-127.0.0.1}
PORT=${2:-8000}
PY=.venv/bin/python
export DJANGO_DEBUG=${DJANGO_DEBUG:-1}

$PY manage.py migrate --no-input
$PY manage.py load_guide
$PY manage.py ensure_admin

mkdir -p var/log
.venv/bin/celery -A workers worker -Q default,gpu --concurrency 1 --prefetch-multiplier 1 \
  --loglevel INFO --logfile var/log/worker.log &
WORKER=$!
trap 'kill $WORKER 2>/dev/null || true; wait $WORKER 2>/dev/null || true' EXIT INT TERM
echo
echo "  The guide is at http://$HOST:$PORT/   (admin: http://$HOST:$PORT/admin/)"
echo "  Celery worker log: var/log/worker.log"
echo
$PY manage.py runserver "$HOST:$PORT"
