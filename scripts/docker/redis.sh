#!/bin/sh
# Redis from Debian for the compose `redis` service: append-only file in the volume, so queued
# messages survive a restart.
mkdir -p /data
exec redis-server --bind 0.0.0.0 --protected-mode no --dir /data --appendonly yes \
  --appendfsync everysec --save ""
