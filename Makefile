# Two commands: `make run` and `make test`. Both set everything up from nothing.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: run test services bench-inference clean

$(STAMP): pyproject.toml constraints.txt setup.py inference/_fastpath.c
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	touch $(STAMP)

## Start the game server on http://127.0.0.1:8000 with embedded defaults.
run: $(STAMP)
	$(PY) -m server

## Start Redis and MariaDB when they are down (installing them if missing), then run every test.
test: $(STAMP) services
	$(PY) -m pytest

services:
	bash scripts/ensure_services.sh
	if [ -f scripts/ensure_chromium.sh ]; then bash scripts/ensure_chromium.sh; fi

## Benchmarks (on demand; they write JSON under bench/results/): see bench/README.md.
bench-inference: $(STAMP)
	$(PY) -m bench.inference

clean:
	rm -rf $(VENV) var .pytest_cache
