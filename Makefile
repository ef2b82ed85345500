# The two commands: `make run` serves the portal on the embedded default, `make test` runs the suite.
# Installs come from the lock files (hashes checked); `make lock` rewrites them from pyproject.toml.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck install browser clean deps-audit lock container-test

# Reinstalled whenever pyproject.toml or the lock changes.
$(STAMP): pyproject.toml requirements-dev.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --require-hashes -r requirements-dev.lock
	$(BIN)/pip install --quiet --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

# `make run PORT=8001 HOST=0.0.0.0`: where the development server listens (command line only:
# some shells export HOST). Links in emails use PORTAL_BASE_URL, set to that address unless given
# (command line or environment); on 127.0.0.1 and 0.0.0.0 it is localhost, and other machines need the name
# they use in PORTAL_BASE_URL and DJANGO_ALLOWED_HOSTS.
HOST = 127.0.0.1
PORT = 8000
# This machine's own interfaces are named "localhost" (the same server): browsers accept it as a
# passkey's RP ID and as a secure context, which they refuse an IP address.
SERVED_AT = http://$(if $(filter 0.0.0.0 127.0.0.1,$(HOST)),localhost,$(HOST)):$(PORT)
run: export PORTAL_BASE_URL ?= $(SERVED_AT)
run: export DJANGO_ALLOWED_HOSTS ?= 127.0.0.1,localhost,$(HOST)
run: $(STAMP)
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py seed_demo
	@echo "Serving the portal on $(SERVED_AT)/ (links in emails: $$PORTAL_BASE_URL); Ctrl-C stops it."
	$(BIN)/python manage.py runserver $(HOST):$(PORT)

# Browser tests drive Debian's Chromium; install it when we can (root), else they are skipped.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = "0" ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium is not installed: browser tests will be skipped (apt-get install chromium)"; fi; }

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports  # the layers: pyproject.toml [tool.importlinter], README "Architecture"

typecheck: $(STAMP)
	$(BIN)/mypy .

# Known vulnerabilities in the pinned dependencies (skipped, with a message, when offline).
deps-audit: $(STAMP)
	$(BIN)/python scripts/audit_dependencies.py

test: $(STAMP) browser lint typecheck deps-audit
	@$(BIN)/python -m pytest $(PYTEST_ARGS); status=$$?; \
	if [ $$status -eq 5 ]; then echo "pytest collected no tests: failing on purpose"; exit 1; fi; \
	exit $$status

# Rewrite both lock files after changing a pin in pyproject.toml (direct pins stay there; the locks
# add every transitive package and the hash of each file). Unchanged pins keep their locked version;
# `make lock LOCK_ARGS=--upgrade` moves transitive packages to their newest versions.
UV_COMPILE = $(BIN)/uv pip compile pyproject.toml --universal --python-version 3.11 --generate-hashes --quiet $(LOCK_ARGS)
lock: $(STAMP)
	$(UV_COMPILE) -o requirements.lock
	$(UV_COMPILE) --extra dev -o requirements-dev.lock

# `make container-test`: builds the image, starts docker-compose.yml with podman and checks the running
# stack over HTTP (tests_container/run.py; about 5 minutes). Skipped, with a message, without podman.
container-test: $(STAMP)
	$(BIN)/python tests_container/run.py $(CONTAINER_TEST_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

# `make bench`: the SPEC §9 benchmark, not part of `make test` (docs/performance.md). Uses the
# machine's PostgreSQL and Redis on 127.0.0.1 with its own databases, generates the data set once,
# and runs Debian's wrk (installed here when root) against a local gunicorn. Flags: BENCH_ARGS
# (BENCH_ARGS="--only ingest": the ingestion figure alone, without wrk).
BENCH_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/portal_bench
BENCH_VAULT_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/vault_bench
BENCH_REDIS_URL ?= redis://127.0.0.1:6379/1
.PHONY: bench
bench: $(STAMP)
	@case "$(BENCH_ARGS)" in *"--only"*) exit 0;; esac; \
	command -v wrk >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = "0" ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; \
	  else echo "wrk is not installed: apt-get install wrk"; exit 1; fi; }
	DATABASE_URL=$(BENCH_DATABASE_URL) VAULT_DATABASE_URL=$(BENCH_VAULT_DATABASE_URL) \
	  REDIS_URL=$(BENCH_REDIS_URL) $(BIN)/python -m bench.run $(BENCH_ARGS)
