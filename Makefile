# The two commands the README starts with are `make gate` and `make test`;
# both set up everything they need first (a venv, the Python packages, the servers).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
TARGET ?= reference

.PHONY: setup servers test-tools gate test lint bench nightly clean

setup: $(VENV)/.installed servers

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

# The command any user runs (`queue-chaos servers install`), with Toxiproxy kept in this
# checkout's .bin instead of the user cache (`make clean` removes it).
servers: $(VENV)/.installed
	@$(BIN)/queue-chaos servers install --into .bin

test-tools:
	@scripts/install-test-tools.sh

gate: setup
	$(BIN)/queue-chaos gate --target $(TARGET)

test: setup test-tools
	$(BIN)/ruff check .
	$(BIN)/pytest -q -n 2 --dist loadfile

bench: setup
	$(BIN)/python -m benchmarks

nightly: setup
	$(BIN)/queue-chaos nightly --budget 60s --target $(TARGET)

clean:
	rm -rf $(VENV) .bin .hypothesis .pytest_cache
