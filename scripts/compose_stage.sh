#!/usr/bin/env bash
# The compose stage of `make test`: the real stack in Docker, checked from this host.
#   - installs docker.io, docker-compose, debootstrap and iptables when absent and starts dockerd
#     when it is not running (stopped again at the end, only if this script started it);
#   - builds the local base image when Docker Hub is unreachable (kept: the next run reuses it),
#     the wheelhouse and the images (Docker's layer cache makes a second run quick);
#   - `up` on free ports under its own project name, waits until every service is healthy,
#     runs tests/compose/ against it, then `down -v` (containers, network, volumes).
# Extra arguments go to pytest. `--build-only` stops after building the images (scripts/test.sh
# runs that in the background during the first stage, so the stage itself finds them built).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
build_only=""
if [ "${1:-}" = --build-only ]; then
  build_only=1
  shift
fi
started_dockerd=""
project=moocguide-ci-$$

log() { printf '[compose %s] %s\n' "$(date -u +%H:%M:%S)" "$*"; }

if ! command -v dockerd >/dev/null || ! command -v docker-compose >/dev/null ||
  ! command -v debootstrap >/dev/null || ! command -v iptables >/dev/null; then
  log "Installing docker.io, docker-compose, debootstrap and iptables from Debian..."
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq docker.io docker-compose debootstrap iptables >/dev/null
fi
# Debian's client, the daemon's own version (another `docker` earlier on PATH may be newer).
DOCKER=$(command -v /usr/bin/docker || command -v docker)
export DOCKER

# Compose v2 when the client has it, else v1 (docker-compose 1.29: the Debian package).
if $DOCKER compose version >/dev/null 2>&1; then
  compose=("$DOCKER" compose)
else
  compose=(docker-compose)
fi

cleanup() {
  local rc=$?
  if [ -n "${compose_ready:-}" ]; then
    if [ $rc -ne 0 ]; then
      log "Failed: the last lines of each service's log follow."
      "${compose[@]}" logs --no-color --tail 40 || true
    fi
    log "down -v"
    "${compose[@]}" down -v --remove-orphans >/dev/null 2>&1 || true
  fi
  if [ -n "$started_dockerd" ]; then
    log "Stopping the dockerd this stage started (pid $started_dockerd)."
    kill "$started_dockerd" 2>/dev/null || true
    for _ in $(seq 60); do kill -0 "$started_dockerd" 2>/dev/null || break; sleep 1; done
  fi
  exit $rc
}
trap cleanup EXIT

if ! $DOCKER info >/dev/null 2>&1; then
  log "Starting dockerd (log: var/dockerd.log)..."
  mkdir -p var
  dockerd >var/dockerd.log 2>&1 &
  started_dockerd=$!
  for _ in $(seq 120); do $DOCKER info >/dev/null 2>&1 && break; sleep 1; done
  $DOCKER info >/dev/null
fi

t0=$(date +%s)
# The official python image when Docker Hub answers, else a local Debian base.
if [ -z "${BASE_IMAGE:-}" ]; then
  if $DOCKER image inspect python:3.11-slim-bookworm >/dev/null 2>&1 ||
    timeout 20 $DOCKER pull -q python:3.11-slim-bookworm >/dev/null 2>&1; then
    BASE_IMAGE=python:3.11-slim-bookworm
  else
    BASE_IMAGE=moocguide-base:bookworm
    scripts/build_base_image.sh "$BASE_IMAGE"
  fi
fi
export BASE_IMAGE
scripts/build_wheelhouse.sh

free_port() { $PY -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
web_port=$(free_port)
export COMPOSE_PROJECT_NAME=$project
export DJANGO_SECRET_KEY=compose-stage-$RANDOM$RANDOM$RANDOM
export S3_SECRET_ACCESS_KEY=compose-stage-$RANDOM$RANDOM
export WEB_PUBLISH=127.0.0.1:$web_port
export FLOWER_PUBLISH=127.0.0.1:$(free_port) S3_PUBLISH=127.0.0.1:$(free_port)
export POSTGRES_PUBLISH=127.0.0.1:$(free_port) REDIS_PUBLISH=127.0.0.1:$(free_port)
# Plain HTTP on the loopback; a dead worker's job is reaped after 10 s, not 30.
export DJANGO_SECURE_SSL_REDIRECT=0 DJANGO_SECURE_COOKIES=0 JOB_STALE_AFTER=10
export DJANGO_CSRF_TRUSTED_ORIGINS=http://127.0.0.1:$web_port

log "Building the images (base $BASE_IMAGE)..."
# One service per image (redis and s3 share postgres's, worker and flower web's, predict-worker
# cpu-worker's); the gpu profile's image is not built here.
"${compose[@]}" build -q postgres web cpu-worker
t_built=$(date +%s)
if [ -n "$build_only" ]; then
  log "Built in $((t_built - t0)) s (build only)."
  exit 0
fi
compose_ready=1
log "up -d (project $project, web on 127.0.0.1:$web_port)"
"${compose[@]}" up -d
# Every service healthy (no restart loop hides behind "running"), bounded.
deadline=$(($(date +%s) + ${COMPOSE_UP_TIMEOUT:-600}))
while :; do
  waiting=()
  for id in $("${compose[@]}" ps -q); do
    state=$($DOCKER inspect -f '{{.Name}} {{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{end}}' "$id")
    [[ "$state" == *" running healthy" ]] || waiting+=("$state")
  done
  ((${#waiting[@]} == 0)) && break
  if (($(date +%s) > deadline)); then
    log "Not healthy in time: ${waiting[*]}"
    exit 1
  fi
  sleep 2
done
t_up=$(date +%s)
log "Healthy: build $((t_built - t0)) s, up $((t_up - t_built)) s."

COMPOSE_WEB_URL=http://127.0.0.1:$web_port COMPOSE_CMD="${compose[*]}" \
  $PY -m pytest tests/compose -p no:cacheprovider "$@"
log "Stage done in $(($(date +%s) - t0)) s."
