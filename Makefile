# The two front-door commands: `make demo` and `make test` (see README.md).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test check lint bench bench-deps clean system-deps

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m minitorrent.demo

# Interop tests drive aria2c; the PostgreSQL tests start a throwaway server from
# Debian's postgresql (tests/postgres.py); the web tests drive Debian's chromium
# (Playwright cannot download its own browsers here). Install what is missing when we can.
system-deps:
	@missing=""; \
	command -v aria2c >/dev/null || missing="$$missing aria2"; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	test -x /usr/bin/chromium || missing="$$missing chromium"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	  else echo "note: install$$missing (sudo apt-get install$$missing) for the interop, PostgreSQL and web tests"; fi; \
	fi

test: $(STAMP) system-deps bench-deps
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy
	$(BIN)/python -m pytest -n 2 --dist loadgroup

# The fast loop while working: lint, types, and the tests that start no process
# (units, protocol pairs, properties, in-process tracker services on SQLite).
check: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy
	$(BIN)/python -m pytest -q -n 2 -m "not slow" tests/unit tests/tracker -k "not postgres"

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

# The benchmark's references (README.md, "Benchmarks"): mktorrent, opentracker and wrk from
# Debian (libtorrent comes from PyPI with the test extra); iproute2 for the shaped network.
bench-deps:
	@missing=""; \
	command -v mktorrent >/dev/null || missing="$$missing mktorrent"; \
	command -v opentracker >/dev/null || missing="$$missing opentracker"; \
	command -v wrk >/dev/null || missing="$$missing wrk"; \
	command -v tc >/dev/null || missing="$$missing iproute2"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	  else echo "note: install$$missing (sudo apt-get install$$missing) for the benchmark"; fi; \
	fi

# BENCH_ARGS: e.g. --quick, --runs 5, --only w1,w2, --shape N=12,rate=50,size=128
# (python bench/run.py --help). Writes docs/performance.md and its SVG charts.
BENCH_ARGS ?=
bench: $(STAMP) bench-deps
	$(BIN)/python bench/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
