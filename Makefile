# laminar_pg: `make run` serves on 127.0.0.1:6875, `make test` runs the whole suite.
# Both set themselves up on a fresh machine: a virtualenv in .venv, the Python packages,
# the Debian packages the client tests need, and node-postgres for the JavaScript client test.

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SYSTEM_STAMP := $(VENV)/.system-packages
NODE_STAMP := tests/clients/node/node_modules/.installed
PYTEST_WORKERS ?= 2
export NUMBA_CACHE_DIR := $(CURDIR)/$(VENV)/numba-cache

SLT_CORPUS ?= ../shared/corpora/sqlite
SLT_FILES ?= select1.test select2.test select3.test select4.test select5.test
SLT_PROTOCOL ?= simple

.PHONY: install run test test-fast lint typecheck bench slt clean system-packages

WARM_STAMP := $(VENV)/.numba-warm
ENGINE_SOURCES := $(shell find laminar_pg/engine -name '*.py')

install: $(STAMP) $(SYSTEM_STAMP) $(NODE_STAMP) $(WARM_STAMP)

# The engine's numba kernels, compiled once into $(NUMBA_CACHE_DIR) (inside .venv), so
# that no server or test worker compiles them on its first view.
$(WARM_STAMP): $(STAMP) $(ENGINE_SOURCES)
	$(BIN)/python -m laminar_pg.engine.warm
	touch $@

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

# PostgreSQL 15 (server for comparisons and benchmarks, psql for tests), pgjdbc for the
# Java client test, Node.js for node-postgres, Chromium for the pipeline page's test
# (headless). Installed only when missing.
$(SYSTEM_STAMP):
	@missing=""; \
	test -x /usr/lib/postgresql/15/bin/postgres || missing="$$missing postgresql-15"; \
	command -v psql >/dev/null || missing="$$missing postgresql-client-15"; \
	test -f /usr/share/java/postgresql.jar || missing="$$missing libpostgresql-jdbc-java"; \
	command -v java >/dev/null || missing="$$missing default-jdk-headless"; \
	command -v node >/dev/null || missing="$$missing nodejs npm"; \
	command -v chromium >/dev/null || command -v chromium-browser >/dev/null || missing="$$missing chromium"; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi
	mkdir -p $(VENV) && touch $@

$(NODE_STAMP): tests/clients/node/package.json
	cd tests/clients/node && npm install --silent --no-audit --no-fund
	touch $@

run: $(STAMP) $(WARM_STAMP)
	$(BIN)/laminar-pg serve --host 127.0.0.1 --port 6875 --data-dir ./laminar-data

test: install
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadgroup -q

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -x tests/wire tests/sql

lint: $(STAMP)
	$(BIN)/ruff check laminar_pg tests bench tools
	$(BIN)/mypy

bench: install
	$(BIN)/python bench/wire.py

# sqllogictest files, each against a fresh server: make slt SLT_CORPUS=dir SLT_PROTOCOL=extended
# (.ci/run runs SQLite's select1-5 over both protocols after make test)
slt: $(STAMP)
	$(BIN)/python -m laminar_pg.slt.serve_and_run --protocol $(SLT_PROTOCOL) \
	  $(addprefix $(SLT_CORPUS)/,$(SLT_FILES))

clean:
	rm -rf $(VENV) laminar-data tests/clients/node/node_modules
