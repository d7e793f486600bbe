# Two commands: `make run` (the app on embedded defaults) and `make test` (the whole suite).
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test venv services lint bench-guide clean

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

# Local app: SQLite under var/, filesystem Celery broker, web + one worker. Ctrl-C stops both.
run: venv
	DJANGO_DEBUG=$${DJANGO_DEBUG:-1} ./scripts/run.sh $(HOST) $(PORT)

# The whole suite against the local Postgres, Redis and Chromium (started/installed if needed).
test: venv
	./scripts/ensure_services.sh
	./scripts/test.sh

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

bench-guide: venv
	./scripts/ensure_services.sh
	$(PY) bench/guide_http.py

clean:
	rm -rf var staticfiles .pytest_cache
