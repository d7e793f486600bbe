# The app's images: web (REQUIREMENTS=requirements-web.txt, the default), the CPU worker
# (requirements-worker-cpu.txt) and the GPU worker (requirements-gpu.txt, PIP_OPTIONS="" to use
# PyPI). Run scripts/build_wheelhouse.sh first: packages install from var/wheelhouse with no
# network. Hosts without Docker Hub build a local base with scripts/build_base_image.sh and set
# BASE_IMAGE=moocguide-base:bookworm (a Debian bookworm, Python 3.11 as in the official image).
ARG BASE_IMAGE=python:3.11-slim-bookworm

FROM ${BASE_IMAGE} AS venv
ARG REQUIREMENTS=requirements-web.txt
ARG PIP_OPTIONS="--no-index"
ENV PIP_DISABLE_PIP_VERSION_CHECK=1
COPY var/wheelhouse /wheels
COPY requirements*.txt /requirements/
RUN python3 -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-cache-dir ${PIP_OPTIONS} --find-links /wheels \
      -c /wheels/constraints.txt -r /requirements/${REQUIREMENTS}
# The CPU worker: PyPI's torchvision is a CUDA build, whose C++ ops (nms, roi_align: detection,
# unused here) cannot load on torch's CPU build. Without them torchvision imports, except for
# two unguarded registrations of those ops, which are guarded here.
RUN tv=/opt/venv/lib/python3.11/site-packages/torchvision; \
    if [ -d "$tv" ] && /opt/venv/bin/python -c 'import torch, sys; sys.exit(torch.version.cuda is not None)'; then \
      rm -f "$tv"/_C.so && sed -i 's/^@torch.library.register_fake(\(.*\))$/@(torch.library.register_fake(\1) if torchvision.extension._has_ops() else (lambda fn: fn))/' "$tv"/_meta_registrations.py \
      && /opt/venv/bin/python -c 'import torchvision.models'; \
    fi

FROM ${BASE_IMAGE}
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PATH=/opt/venv/bin:$PATH
COPY --from=venv /opt/venv /opt/venv
WORKDIR /app
# The app only (not var/wheelhouse, which is in the build context for the first stage).
COPY manage.py ./
COPY config config
COPY guide guide
COPY experiments experiments
COPY workers workers
COPY templates templates
COPY static static
COPY locale locale
RUN DJANGO_DEBUG=0 DJANGO_SECRET_KEY=collectstatic-only python manage.py collectstatic --no-input -v 0
EXPOSE 8000
CMD ["gunicorn", "config.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", "--worker-class", "gthread", "--threads", "4"]
