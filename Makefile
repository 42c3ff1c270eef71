# The two commands a new user needs: `make demo` (run the portal) and `make test`.
SHELL := /bin/bash
VENV := .venv
PYTHON := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export DEBUG ?= 1

.PHONY: venv demo serve test browser prometheus bench screenshots lint migrate seed cluster cluster-stop cluster-reset clean

venv: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt constraints.txt
	test -x $(PYTHON) || python3 -m venv $(VENV)
	$(PYTHON) -m pip install --quiet --upgrade pip
	$(PYTHON) -m pip install --quiet -r requirements-dev.txt -c constraints.txt
	touch $(STAMP)

migrate: venv
	$(PYTHON) manage.py migrate --no-input

seed: migrate
	$(PYTHON) manage.py seed_demo
	$(PYTHON) manage.py seed_demo_history

# The whole system: web, Celery worker and beat on the embedded broker, and a stream of
# simulated training jobs on the local cluster; the seed's namespaces are applied first.
demo: seed cluster
	$(PYTHON) manage.py apply_namespace --all
	$(VENV)/bin/honcho start -f Procfile -p $${PORT:-8000}

# The production settings on this machine: DEBUG off, gunicorn, worker and beat as the image runs them
# (Procfile.serve), against PostgreSQL and Redis; plain HTTP, so no HTTPS redirect, secure cookies or HSTS.
# The secret key is made once into var/serve-secret-key unless SECRET_KEY is set.
SERVE_DATABASE_URL := postgres://postgres@127.0.0.1:5432/gpu_portal
serve: export DEBUG = 0
serve: export DATABASE_URL ?= $(SERVE_DATABASE_URL)
serve: export CELERY_BROKER_URL ?= redis://127.0.0.1:6379/0
serve: export CACHE_URL ?= redis://127.0.0.1:6379/1
serve: export SECURE_SSL_REDIRECT ?= 0
serve: export SECURE_COOKIES ?= 0
serve: export SECURE_HSTS_SECONDS ?= 0
serve: export WEB_BIND ?= 127.0.0.1:$(or $(PORT),8000)
serve: export SECRET_KEY ?= $(shell mkdir -p var && { test -s var/serve-secret-key || \
	$(PYTHON) -c 'import secrets; print(secrets.token_urlsafe(50))' > var/serve-secret-key; } && cat var/serve-secret-key)
serve: venv
	@if [ "$${DATABASE_URL}" = "$(SERVE_DATABASE_URL)" ] && ! psql "$(SERVE_DATABASE_URL)" -tAc "SELECT 1" >/dev/null 2>&1; then \
		createdb -h 127.0.0.1 -U postgres gpu_portal; fi
	$(PYTHON) manage.py migrate --no-input
	$(PYTHON) manage.py collectstatic --no-input --verbosity 0
	$(VENV)/bin/honcho start -f Procfile.serve

# Without a KUBECONFIG of the user's own, the tests run against the local control plane;
# without a broker of the user's own, on a broker file of their own, apart from the demo's.
test: export CELERY_BROKER_URL ?= sqla+sqlite:///$(CURDIR)/var/test-broker.sqlite3
test: venv browser prometheus
	$(VENV)/bin/ruff check .
	@if [ -z "$${KUBECONFIG:-}" ]; then bash cluster/up.sh; fi
	$(PYTHON) -m pytest $(PYTEST_ARGS)

# The browser tests drive Debian's chromium; never a browser downloaded by a test tool.
browser:
	@command -v chromium >/dev/null 2>&1 || { apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }
	@# axe-core from its npm package, pinned by tests/e2e/node/package-lock.json: the e2e tests inject it.
	npm ci --prefix tests/e2e/node --no-audit --no-fund --silent

# The metrics tests scrape the portal with Debian's Prometheus and check the alert rules with its promtool.
prometheus:
	@command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1 || { apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null; }

# Benchmarks print ratios measured side by side in one run; see BENCHMARKS.md.
bench: venv
	@if [ -z "$${KUBECONFIG:-}" ]; then bash cluster/up.sh; fi
	$(PYTHON) -m tests.bench $(BENCH_ARGS)

# The README's screenshots (docs/screenshots/), from a demo of their own that ran long enough to show real
# usage: about 6 minutes. SCREENSHOT_ARGS="--url http://127.0.0.1:8000" takes them from a running demo instead.
screenshots: venv browser
	@if [ -z "$${KUBECONFIG:-}" ]; then bash cluster/up.sh; fi
	$(PYTHON) docs/screenshots/take.py $(SCREENSHOT_ARGS)

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

cluster: venv
	bash cluster/up.sh

cluster-stop:
	bash cluster/stop.sh

cluster-reset:
	bash cluster/reset.sh

clean:
	rm -rf $(VENV) var
