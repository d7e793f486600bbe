#!/usr/bin/env bash
# bench/gpu_grid.py on a bare GPU machine (Python 3.12 with torch and CUDA, but no TensorFlow,
# fastai, Django or Celery), in one call of at most 8 minutes. Two steps:
#
#   here, once (needs PyPI):   bench/gpu_device.sh wheels      -> var/device-wheels/ (< 64 MiB)
#   on the GPU machine:        bench/gpu_device.sh run         -> figures under $OUT
#
# The wheels are pure Python or small binaries for CPython 3.12 / manylinux, pinned as in
# requirements.txt, installed with --no-deps next to the machine's own torch (so Keras runs on
# torch there: Keras backend "auto" finds no TensorFlow). numpy, pandas, scipy, scikit-learn,
# matplotlib and pillow are expected on the machine (usual CUDA/torch images); `run` lists what
# is still missing before it starts.
set -euo pipefail
cd "$(dirname "$0")/.."
WHEELS=var/device-wheels
# What the job path imports on the GPU machine: django.setup() needs every INSTALLED_APPS
# package (keep this list in step with config/settings.py); web-only servers are left out.
NEEDED=(
  Django asgiref sqlparse dj-database-url whitenoise djangorestframework django-filter
  drf-spectacular inflection uritemplate jsonschema jsonschema-specifications referencing
  rpds-py attrs PyYAML python-dotenv drf-spectacular-sidecar django-axes django-csp
  psycopg2-binary
  celery kombu billiard vine amqp click click-didyoumean click-plugins click-repl
  prompt_toolkit wcwidth python-dateutil six tzlocal
  fastai fastcore fasttransform plum-dispatch beartype fastprogress fastdownload cloudpickle
  keras namex optree h5py ml_dtypes rich markdown-it-py mdurl Pygments absl-py tqdm packaging
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
    .venv/bin/pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 \
      --implementation cp --abi cp312 --platform manylinux2014_x86_64 \
      --platform manylinux_2_17_x86_64 --platform manylinux_2_28_x86_64 --platform any \
      -d "$WHEELS" "${specs[@]}"
    du -sh "$WHEELS"
    ;;
  run)
    : "${OUT:?set OUT to the folder for the figures}"
    python3 -m pip install --quiet --no-index --no-deps --find-links "$WHEELS" "$WHEELS"/*.whl
    python3 - <<'EOF'
import importlib.util as u
missing = [m for m in ("numpy", "pandas", "scipy", "sklearn", "matplotlib", "PIL", "torch",
                       "torchvision", "django", "celery", "fastai", "keras")
           if u.find_spec(m) is None]
print("missing on this machine:", missing or "nothing")
EOF
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
    # ~6 minutes: the 12 thesis jobs at 256 px, batch 32, 1 + 2 epochs, several at once.
    # GRID_ARGS adds options, e.g. "--no-compile" if compiling costs more than it saves here.
    # shellcheck disable=SC2086
    timeout 420 python3 bench/gpu_grid.py --epochs 1 2 --json "$OUT/gpu_grid.json" \
      ${GRID_ARGS:-} 2>&1 | tee "$OUT/gpu_grid.txt"
    ;;
  *)
    echo "usage: bench/gpu_device.sh wheels|run" >&2
    exit 2
    ;;
esac
