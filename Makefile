# The two commands a fresh machine needs (see README):
#   make run    start the dashboard
#   make test   run the test suite
# Both create .venv from requirements.txt on first use.

PYTHON ?= python3
# Where the dashboard listens: this machine only; HOST=0.0.0.0 serves a class on the local network.
HOST ?= localhost
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-fast lint bench browser clean

$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	# catdog itself, editable: the `catdog` command works from any folder
	$(BIN)/python -m pip install --quiet --no-deps --editable .
	touch $(STAMP)

# Debian's Chromium for the browser tests (Playwright drives it; its own browser download is not used).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium >/dev/null; \
	  else sudo apt-get update -qq && sudo apt-get install -y -qq chromium >/dev/null; fi; }

run: $(STAMP)
	$(BIN)/streamlit run app.py --server.address $(HOST)

test: $(STAMP) browser
	$(BIN)/ruff check catdog pages tests app.py
	$(BIN)/ruff format --check catdog pages tests app.py
	$(BIN)/python -m pytest

test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow and not browser"

lint: $(STAMP)
	$(BIN)/ruff check catdog pages tests app.py
	$(BIN)/ruff format --check catdog pages tests app.py

bench: $(STAMP)
	$(BIN)/python -m catdog bench

clean:
	rm -rf $(VENV) .pytest_cache test-output
