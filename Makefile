# Two commands do everything on a fresh machine with Python 3.11, Node 20 and npm:
#   make run    the service on the local stack (Azurite + emulators + dev host), until Ctrl-C
#   make test   the whole test suite against a private Azurite
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: bootstrap run test lint typecheck bench-notify clean

bootstrap: $(VENV)/.installed node_modules/.installed

$(VENV)/.installed: requirements.txt requirements-dev.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

run: bootstrap
	$(PY) -m scripts.stack run

test: bootstrap
	$(PY) -m scripts.stack test

lint: bootstrap
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: bootstrap
	$(VENV)/bin/mypy

bench-notify: bootstrap
	$(PY) -m bench.notify_ack

clean:
	rm -rf .localstack .pytest_cache .mypy_cache .ruff_cache
