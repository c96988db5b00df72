# The README's two commands: `make demo` and `make test`. Everything installs into .venv.
# Python 3.12+ when there is one (eager tasks: an app that never awaits is answered inline);
# pyenv's installs count too. 3.11 works, one event-loop turn slower per request.
PYTHON ?= $(shell for p in python3.13 python3.12 $(wildcard $(HOME)/.pyenv/versions/3.1[23]*/bin/python3) python3; do \
	$$p -c 'import sys; assert sys.version_info >= (3, 12) or "$$p" == "python3"' >/dev/null 2>&1 && { echo $$p; break; }; done)
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install demo tour test lint format bench clean

$(STAMP): pyproject.toml
	@# Browser tests drive Debian's chromium; install it when we may (root) and it is missing.
	@if [ ! -x /usr/bin/chromium ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) \
		|| echo "chromium not installed: browser tests will be skipped"; fi
	@# The deployment docs' test runs docs/deploy/nginx.conf in a real nginx (its own
	@# instance): install nginx-light if missing, and stop the service the package starts.
	@if ! command -v nginx >/dev/null && [ ! -x /usr/sbin/nginx ] && [ "$$(id -u)" = 0 ] \
		&& command -v apt-get >/dev/null; then \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light \
		&& { [ ! -f /run/nginx.pid ] || /usr/sbin/nginx -s quit; }) \
		|| echo "nginx not installed: the nginx deployment test will be skipped"; fi
	@# A venv made by another Python is made again.
	@if [ -x $(BIN)/python ] && [ "$$($(BIN)/python -c 'import sys; print(sys.version)')" != "$$($(PYTHON) -c 'import sys; print(sys.version)')" ]; then \
		echo "$(VENV) was made by another Python: making it again"; rm -rf $(VENV); fi
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test,dev]'
	touch $@

install: $(STAMP)

# The showcase site (examples/showcase): SQLite and the in-process cache, no set-up; it
# migrates and seeds its database when it starts. --env development: a random secret key.
# An open page keeps its live feed (SSE) streaming: CTRL+C waits 3 s for it, not 20.
demo: $(STAMP)
	$(BIN)/porch serve examples.showcase.app:app --env development --host $(HOST) --port $(PORT) \
		--health-path /healthz --ready-path /readyz --metrics-path /metrics --timeout-graceful 3

# The capabilities tour (examples/demo.py): every framework and server feature, one page each.
tour: $(STAMP)
	$(BIN)/porch serve examples.demo:app --env development --host $(HOST) --port $(PORT) \
		--health-path /healthz --ready-path /readyz --metrics-path /metrics

# pytest exits 5 when it collected nothing: that is a failure here, never a pass.
test: $(STAMP)
	@$(BIN)/python -m pytest; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing"; exit 1; fi; exit $$rc

lint: $(STAMP)
	$(BIN)/ruff check src tests bench examples
	$(BIN)/ruff format --check src tests bench examples
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff check --fix src tests bench examples
	$(BIN)/ruff format src tests bench examples

# Every suite, one after the other (each prints its table); BENCH_ARGS="--runs 3" for medians.
bench:
	bash bench/run.sh --suite server $(BENCH_ARGS)
	bash bench/run.sh --suite static $(BENCH_ARGS)
	bash bench/run.sh --suite framework $(BENCH_ARGS)
	bash bench/run.sh --suite hosting $(BENCH_ARGS)
	bash bench/run.sh --suite workers $(BENCH_ARGS)
	bash bench/run.sh --suite db $(BENCH_ARGS)  # PostgreSQL on 127.0.0.1:5432
	bash bench/run.sh --suite cache $(BENCH_ARGS)  # Redis on 127.0.0.1:6379
	bash bench/run.sh --suite websocket $(BENCH_ARGS)
	bench/.venv/bin/python bench/plot.py

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .mypy_cache .ruff_cache
