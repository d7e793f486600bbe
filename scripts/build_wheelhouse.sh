#!/usr/bin/env bash
# The wheels the images install, downloaded once on this host into var/wheelhouse/ (git-ignored,
# sent to `docker build`), so that image builds need no network: the Dockerfiles install with
# `pip install --no-index --find-links`. The versions shared with the local venv come from
# requirements.txt, used as constraints (less what the images replace: torch's CUDA build,
# TensorFlow). Skipped when the requirement files have not changed since the last run.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
out=var/wheelhouse
files=(requirements.txt requirements-web.txt requirements-worker-cpu.txt requirements-services.txt)
stamp=$(cat "${files[@]}" | sha256sum | cut -c1-16)
if [ -f "$out/.stamp" ] && [ "$(cat "$out/.stamp")" = "$stamp" ]; then
  echo "Wheelhouse $out is up to date."
  exit 0
fi
mkdir -p "$out"
grep -vE '^(torch|torchvision|triton|tensorflow|nvidia-|cuda-)' requirements.txt >"$out/constraints.txt"
for req in requirements-worker-cpu.txt requirements-services.txt; do
  echo "Downloading the wheels of $req into $out..."
  $PY -m pip download --quiet --only-binary=:all: --dest "$out" -c "$out/constraints.txt" -r "$req"
done
echo "$stamp" >"$out/.stamp"
du -sh "$out"
