#!/usr/bin/env bash
# A local Debian bookworm base image for hosts that cannot pull from Docker Hub:
#   scripts/build_base_image.sh [tag]        (default moocguide-base:bookworm)
# then build with `--build-arg BASE_IMAGE=moocguide-base:bookworm` (the compose file reads
# BASE_IMAGE from the environment). Skipped when the image already exists (FORCE=1 rebuilds).
# Debian's python3 is 3.11, the same as the official python:3.11-slim-bookworm image.
set -euo pipefail
tag=${1:-moocguide-base:bookworm}
docker=${DOCKER:-docker}
if [ -z "${FORCE:-}" ] && $docker image inspect "$tag" >/dev/null 2>&1; then
  echo "Base image $tag exists."
  exit 0
fi
# The mirror apt already uses on this host (deb.debian.org otherwise).
mirror=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources \
  2>/dev/null | grep -E '^(deb|URIs:) ' | grep -oE 'https?://[^ ]+/debian/?( |$)' | head -1 || true)
mirror=${mirror% }
mirror=${MIRROR:-${mirror:-http://deb.debian.org/debian}}
command -v debootstrap >/dev/null || {
  echo "debootstrap is missing: apt-get install debootstrap" >&2
  exit 1
}
root=$(mktemp -d)
trap 'rm -rf "$root" "$root.log"' EXIT
echo "debootstrap bookworm from $mirror (a few minutes)..."
debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
  bookworm "$root" "$mirror" >"$root.log" 2>&1 || {
  tail -20 "$root.log" >&2
  exit 1
}
rm -f "$root.log"
# The apt sources for later `apt-get install` in derived images; no cached lists.
printf 'deb %s bookworm main\n' "$mirror" >"$root/etc/apt/sources.list"
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/archives/*.deb \
  "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/locale/*
# Like the official slim images: no documentation in later `apt-get install` either.
printf 'path-exclude /usr/share/doc/*\npath-exclude /usr/share/man/*\npath-exclude /usr/share/locale/*\n' \
  >"$root/etc/dpkg/dpkg.cfg.d/excludes"
tar -C "$root" -c . | $docker import \
  -c 'ENV LANG=C.UTF-8 PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  -c 'CMD ["/bin/bash"]' - "$tag"
echo "Built $tag."
