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
# The images' own pins (requirements-web.txt, requirements-worker-cpu.txt) win over the venv's.
$PY - "$out/constraints.txt" <<'PYTHON'
import re
import sys

def name(line):
    match = re.match(r"[A-Za-z0-9_.\-]+", line.strip())
    return re.sub(r"[-_.]+", "-", match.group(0)).lower() if match else ""

own = {name(line) for f in ("requirements-web.txt", "requirements-worker-cpu.txt")
       for line in open(f) if not line.startswith(("#", "-"))}
skip = re.compile(r"^(torch|torchvision|triton|tensorflow|nvidia-|cuda-)")
with open(sys.argv[1], "w") as out:
    for line in open("requirements.txt"):
        if name(line) and name(line) not in own and not skip.match(line):
            out.write(line)
PYTHON
for req in requirements-worker-cpu.txt requirements-services.txt; do
  echo "Downloading the wheels of $req into $out..."
  $PY -m pip download --quiet --only-binary=:all: --dest "$out" -c "$out/constraints.txt" -r "$req"
done
echo "$stamp" >"$out/.stamp"
du -sh "$out"
