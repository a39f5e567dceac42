# One command each: `make up` starts the platform, `make test` runs the tests, `make bench` the benchmarks.
# Each sets itself up from nothing (a local virtualenv in .venv) on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: setup up test bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

# `make up PORT=9000` picks the gateway port (GATEWAY_PORT=9000 in the environment works too).
up: setup
	$(BIN)/hyperoru up $(if $(PORT),--port $(PORT))

test: setup
	$(BIN)/python -m pytest -q

bench: setup
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) .hyperoru .pytest_cache .hypothesis
