# labkit: `make lab` sets up and starts the lab; `make test` sets up and runs every test.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
JUPYTER_PORT ?= 8888
# pytest-xdist workers for `make test` (0: one process)
PYTEST_WORKERS ?= 3

.PHONY: lab test setup install system-deps test-deps up down status unit integration notebooks lint bench clean compose

lab: install up  ## set up everything, start the stack, open JupyterLab on work/ (student copies)
	$(BIN)/labkit lab --work work --notebooks notebooks --port $(JUPYTER_PORT)

test: install test-deps  ## set up everything and run all tests (unit, integration, notebooks)
	$(BIN)/python -m pytest -q --durations=25 -n $(PYTEST_WORKERS)

setup: $(BIN)/labkit

$(BIN)/labkit: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev,postgres,docker]'
	touch $@

system-deps:  ## compilers for the one-time llama-server build (Debian, as root)
	@if ! command -v cmake >/dev/null || ! command -v g++ >/dev/null; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends cmake g++ make libgomp1; \
	  else echo "install cmake and g++ (needed once, to build llama-server)"; exit 1; fi; \
	fi

test-deps:  ## PostgreSQL's server binaries, for the test that runs the usage SQL on PostgreSQL
	@if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends postgresql; \
	  else echo "install PostgreSQL's server binaries (apt install postgresql) to run the tests"; exit 1; fi; \
	fi

install: setup system-deps  ## binaries (apt or release tarballs), llama-server build, tiny model
	$(BIN)/labkit install

up: install
	$(BIN)/labkit up

down:
	$(BIN)/labkit down

status:
	$(BIN)/labkit status

compose: setup  ## regenerate stack/compose.yaml from the service catalog
	$(BIN)/labkit compose

unit: setup
	$(BIN)/python -m pytest -q tests/unit

integration: install
	$(BIN)/python -m pytest -q tests/integration

notebooks: install
	$(BIN)/python -m pytest -q tests/notebooks

lint: setup
	$(BIN)/ruff check labkit tests benchmarks

bench: install
	$(BIN)/python benchmarks/gateway_overhead.py
	$(BIN)/python benchmarks/loki_standin.py
	$(BIN)/python benchmarks/jaeger_standin.py
	$(BIN)/python benchmarks/runtime_startup.py
	$(BIN)/python benchmarks/grading.py

clean:
	rm -rf $(VENV) *.egg-info
