#!/usr/bin/env bash
# bench/gpu_device.sh: bench/gpu_grid.py on a bare GPU machine (Python 3.12 with torch and CUDA,
# but no TensorFlow, fastai, Django or Celery), in one call of at most 8 minutes. Two steps:
#
#   here, once (needs PyPI):   bench/gpu_device.sh wheels   -> var/device-wheels/ (~20 MB) and
#                                                              var/device-data/ (a link to ISIC)
#   on the GPU machine:        bench/gpu_device.sh run      -> figures under $OUT
#
# The device tool's call (bench/README.md, "The device call") carries what `wheels` prepared
# (the images through the link, 34 MB):
#   carry: ["var/device-wheels", "var/device-data/skin-cancer-isic-180/Train",
#           "var/device-data/skin-cancer-isic-180/Test"]
#   command: OUT=$OUT bench/gpu_device.sh run     (timeout_s 480: ~20 s install, 420 s grid)
# $OUT gets gpu.txt, gpu_grid.txt (what it printed), gpu_grid.json, logs.tar.gz (the worker's
# and every job's log): 4 files, well under the tool's 8 files / 16 MiB each.
#
# Only what the machine lacks travels, pinned as in requirements.txt, for CPython $DEVICE_PY
# (3.12) / manylinux. `run` installs it with --no-deps into /tmp/site, beside the machine's own
# torch, numpy, pandas, scipy, scikit-learn, matplotlib, Pillow, PyYAML, h5py, rich... (its
# package list: the device tool's KINDS.md), so Keras runs on torch there (backend "auto" finds
# no TensorFlow). `run` says what is still missing before it starts.
#
# Rehearsal on a CPU, in a Python 3.12 venv with torch and those packages but no
# TensorFlow/fastai/Django/Celery (bench/README.md, "Device call rehearsal"):
#   bench/gpu_device.sh wheels
#   OUT=/tmp/out PYTHON=/tmp/devvenv/bin/python GRID_TIMEOUT=240 GRID_ARGS=--smoke \
#     bench/gpu_device.sh run
set -euo pipefail
cd "$(dirname "$0")/.."
WHEELS=var/device-wheels
DATA=var/device-data/skin-cancer-isic-180
ISIC=../shared/data/skin-cancer-isic-180
DEVICE_PY=${DEVICE_PY:-3.12}
PYTHON=${PYTHON:-python3}
# What the job path imports that the machine lacks: django.setup() needs every INSTALLED_APPS
# package (keep this list in step with config/settings.py; django.contrib.postgres wants
# psycopg2 even on SQLite), the worker needs Celery, the jobs fastai and Keras (fastprogress
# imports python-fasthtml, and that starlette, itsdangerous and python-multipart).
NEEDED=(
  Django asgiref sqlparse dj-database-url whitenoise djangorestframework django-filter
  drf-spectacular inflection uritemplate jsonschema jsonschema-specifications referencing
  rpds-py python-dotenv drf-spectacular-sidecar django-axes django-csp psycopg2-binary
  celery kombu billiard vine amqp click-didyoumean click-plugins click-repl prompt_toolkit
  wcwidth tzlocal tzdata
  fastai fastcore fasttransform plum-dispatch beartype fastprogress fastdownload
  python-fasthtml starlette itsdangerous python-multipart
  keras namex optree
)

pin() {  # NAME==VERSION from requirements.txt (case-insensitive, - and _ alike)
  local key found
  key=$(echo "$1" | tr 'A-Z_' 'a-z-')
  found=$(awk -F'==' -v k="$key" '{n=tolower($1); gsub("_","-",n); if (n==k) print $0}' \
    requirements.txt)
  echo "${found:-$1}"  # not pinned (yet): the latest
}

case "${1:-}" in
  wheels)
    rm -rf "$WHEELS" && mkdir -p "$WHEELS"
    specs=()
    for name in "${NEEDED[@]}"; do specs+=("$(pin "$name")"); done
    abi=cp${DEVICE_PY/./}
    .venv/bin/pip download --quiet --no-deps --only-binary=:all: --python-version "$DEVICE_PY" \
      --implementation cp --abi "$abi" --platform manylinux2014_x86_64 \
      --platform manylinux_2_17_x86_64 --platform manylinux_2_28_x86_64 --platform any \
      -d "$WHEELS" "${specs[@]}"
    du -sh "$WHEELS"
    # the ISIC images travel through a link: never copied into the repository
    if [ -d "$ISIC" ]; then
      mkdir -p "$(dirname "$DATA")" && ln -sfn "$(realpath "$ISIC")" "$DATA"
      du -shL "$DATA"
    else
      echo "no $ISIC here: the run will use the demo digits" >&2
    fi
    ;;
  run)
    : "${OUT:?set OUT to the folder for the figures}"
    export PYTHONUNBUFFERED=1
    "$PYTHON" -m pip install --quiet --no-index --no-deps --no-compile --no-cache-dir \
      --upgrade --target /tmp/site "$WHEELS"/*.whl
    export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
    "$PYTHON" -c '
import importlib.util as u
names = ("numpy", "pandas", "scipy", "sklearn", "matplotlib", "PIL", "yaml", "h5py", "torch",
         "torchvision", "django", "celery", "fastai", "keras")
print("missing on this machine:", [m for m in names if u.find_spec(m) is None] or "nothing")'
    if command -v nvidia-smi >/dev/null; then
      nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
    fi
    data=()
    if [ -d "$DATA/Train" ]; then data=(--data "$DATA"); fi
    # The 12 thesis jobs with the job defaults (bf16, channels-last, decode-once cache,
    # compiled steps), 256 px, batch 32, 2 + 2 epochs (each phase's first epoch compiles and
    # is left out of the rates): first ResNet50 in fastai, then in Keras, each alone (the
    # >= 2,500 img/s target), then the other ten packed, jobs per GPU from the peaks the
    # first two recorded and the cores (2 each). Each phase prints its table and rewrites the
    # JSON as it ends. At GRID_TIMEOUT the grid kills its worker's process group (jobs deep in
    # a compile included), records the unfinished jobs cancelled and reports; `timeout` here
    # is the belt (SIGTERM: the grid reports and stops; 15 s later SIGKILL), the recorded
    # process group the braces. GRID_ARGS adds options ("--smoke" for a rehearsal on a CPU).
    pgid_file=$(mktemp)
    grid_timeout=${GRID_TIMEOUT:-390}
    set +e
    # shellcheck disable=SC2086
    timeout -k 15 $((grid_timeout + 30)) "$PYTHON" bench/gpu_grid.py "${data[@]}" \
      --timeout "$grid_timeout" --json "$OUT/gpu_grid.json" --logs "$OUT/logs.tar.gz" \
      --pgid-file "$pgid_file" ${GRID_ARGS:-} 2>&1 | tee "$OUT/gpu_grid.txt"
    status=${PIPESTATUS[0]}
    set -e
    echo "grid: exit status $status"
    # a member still running (zombies, dead but not yet reaped, do not count: kill -0 sees them)
    if [ -s "$pgid_file" ] && ps -eo pgid=,stat= | awk -v g="$(cat "$pgid_file")" \
      '$1 == g && $2 !~ /^Z/ {found = 1} END {exit !found}'; then
      echo "the grid's worker group outlived it: killing it"
      kill -KILL -- "-$(cat "$pgid_file")" 2>/dev/null || true
    fi
    ls -l "$OUT"
    ;;
  *)
    echo "usage: bench/gpu_device.sh wheels|run" >&2
    exit 2
    ;;
esac
