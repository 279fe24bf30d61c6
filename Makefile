# Two commands do everything on a fresh machine with Python 3.11, Node 20 and npm:
#   make run    the service on the local stack (Azurite + emulators + dev host), until Ctrl-C
#   make test   the whole test suite against a private Azurite
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: bootstrap chromium faketime run demo test test-any-day lint typecheck bench-notify clean

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

# With `make run` up in another terminal: plays book/move/rename/cancel from each side and times them.
demo: bootstrap
	$(PY) -m scripts.demo

# Debian's chromium for the ops page browser test (Playwright drives it; never `playwright install`).
chromium:
	@command -v chromium >/dev/null 2>&1 || (apt-get update && apt-get install -y chromium) \
		|| echo "chromium could not be installed: the ops page browser test will be skipped"

# Two pytest workers (pytest-xdist): the end-to-end stacks mostly wait on each other's clocks, so two
# modules at a time fit 2 cores; tests/conftest.py keeps tests of the shared Azurite account on one worker.
TEST_WORKERS ?= 2
test: bootstrap chromium
	$(PY) -m scripts.stack test -n $(TEST_WORKERS) --dist loadgroup

# Debian's libfaketime for the date sweep below.
faketime:
	@command -v faketime >/dev/null 2>&1 || (apt-get update && apt-get install -y faketime)

# The date-sensitive tests under a shifted clock: each weekday once, 23:40 in Berlin, the week of the next
# DST change (scripts/any_day.py). Not part of `make test` (about 9 runs of 5 minutes).
test-any-day: bootstrap chromium faketime
	$(PY) -m scripts.any_day

lint: bootstrap
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: bootstrap
	$(VENV)/bin/mypy

bench-notify: bootstrap
	$(PY) -m bench.notify_ack

clean:
	rm -rf .localstack .pytest_cache .mypy_cache .ruff_cache
