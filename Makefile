# Two entry points for a fresh machine with Python 3.11 and make: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint browser postgres schemas bench-parse clean constraints

# Installs exactly the versions in constraints.txt (what the tests ran with), so a build next month is the same.
$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

$(VENV)/.bench-installed: $(STAMP)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev,bench]'
	touch $@

# After changing dependencies in pyproject.toml: install, run the tests, then pin what was tested.
constraints: $(STAMP)
	{ echo "# The versions the test suite ran with: Makefile, Dockerfile and CI install with -c constraints.txt."; \
	  echo "# Regenerate from the tested virtualenv after changing dependencies: make constraints"; \
	  $(BIN)/python -m pip freeze --exclude-editable; } > constraints.txt

run: $(STAMP)
	$(BIN)/python -m streams.demo

test: lint browser postgres
	$(BIN)/python -m pytest

# Chromium for the browser test (tests/test_page.py); without it that test is skipped, nothing fails.
browser:
	@command -v chromium >/dev/null || (command -v apt-get >/dev/null && (apt-get install -y --no-install-recommends chromium >/dev/null 2>&1 || (apt-get update >/dev/null 2>&1 && apt-get install -y --no-install-recommends chromium >/dev/null 2>&1))) || echo "chromium could not be installed (apt-get install chromium): the browser test will be skipped"

# PostgreSQL for the history-store tests (tests/test_sink.py start their own server from it); without it those
# tests are skipped, nothing fails.
postgres:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || (command -v apt-get >/dev/null && (apt-get install -y --no-install-recommends postgresql >/dev/null 2>&1 || (apt-get update >/dev/null 2>&1 && apt-get install -y --no-install-recommends postgresql >/dev/null 2>&1))) || echo "postgresql could not be installed (apt-get install postgresql): the PostgreSQL tests will be skipped"

lint: $(STAMP)
	$(BIN)/ruff check streams tests bench
	$(BIN)/ruff format --check streams tests bench
	$(BIN)/mypy streams

schemas: $(STAMP)
	$(BIN)/form4 schemas --out schemas

bench-parse: $(VENV)/.bench-installed
	$(BIN)/python bench/parse.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .form4-data .hypothesis test-artifacts
