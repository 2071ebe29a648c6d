# weir's one task runner. Every target installs what it needs into .venv first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: setup browser demo test test-all lint format bench clean

setup: $(STAMP) browser

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@rm -f $(VENV)/.installed-* && touch $@

# the web app's browser tests drive Debian's headless Chromium (no browser download)
browser:
	@if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then \
	  if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver; \
	  else \
	    echo "the browser tests need chromium and chromium-driver: sudo apt-get install chromium chromium-driver"; \
	  fi; \
	fi

demo: setup
	$(BIN)/weir demo --dir demo-project --days 56 --serve

# one worker per core; a test file's tests stay together (its fixtures are built once)
PYTEST := $(BIN)/python -m pytest -n auto --dist loadfile

test: setup
	$(PYTEST)

test-all: setup
	$(PYTEST) -m ''

lint: setup
	$(BIN)/ruff check weir tests bench
	$(BIN)/ruff format --check weir tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

format: setup
	$(BIN)/ruff format weir tests bench
	$(BIN)/ruff check --fix weir tests bench

bench: setup
	$(BIN)/python bench/run.py

clean:
	rm -rf demo-project bench/.work .pytest_cache .mypy_cache .ruff_cache
