# Credo. `make test` and `make dev` work on a fresh machine: the first run installs a
# pinned uv into .tools/ and the locked dependencies into .venv/.

PYTHON      ?= python3
UV_VERSION  := 0.13.8
TOOLS       := .tools
UV          := $(TOOLS)/bin/uv
VENV        := .venv
BIN         := $(VENV)/bin
STAMP       := $(VENV)/.installed

export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: install test lint format bench chaos asyncapi dev dev-resend token clean

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(STAMP): pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --python $(PYTHON)
	@touch $@

# The console's front-end packages (htmx, ECharts; axe-core for its tests), from the npm lock file.
CONSOLE_ASSETS := services/console/node_modules/.package-lock.json
$(CONSOLE_ASSETS): services/console/package.json services/console/package-lock.json
	npm ci --prefix services/console --no-audit --no-fund --loglevel=error
	@touch $@

install: $(STAMP) $(CONSOLE_ASSETS)

# The CJK font statements of account embed (Debian's fonts-wqy-microhei).
STATEMENT_FONT := /usr/share/fonts/truetype/wqy/wqy-microhei.ttc
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
$(STATEMENT_FONT):
	$(SUDO) apt-get install -y -q fonts-wqy-microhei > /dev/null || \
		($(SUDO) apt-get update -q > /dev/null && $(SUDO) apt-get install -y -q fonts-wqy-microhei > /dev/null)

# The browser the console's tests drive (Debian's chromium; Playwright downloads none).
BROWSER := /usr/bin/chromium
$(BROWSER):
	$(SUDO) apt-get install -y -q chromium > /dev/null || \
		($(SUDO) apt-get update -q > /dev/null && $(SUDO) apt-get install -y -q chromium > /dev/null)

## Every test: lint and types, contract drift, unit, integration and system tests.
test: lint $(STATEMENT_FONT) $(CONSOLE_ASSETS) $(BROWSER)
	$(BIN)/python -m contracts.catalogue --check
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .
	$(BIN)/lint-imports

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

## Benchmarks; they print figures and assert nothing. wrk (Debian) measures HTTP reads.
bench: $(STAMP)
	@command -v wrk > /dev/null || apt-get install -y -q wrk > /dev/null 2>&1 || \
		echo "wrk is not installed: read latencies will come from the Python client"
	$(BIN)/python -m bench.ratios
	$(BIN)/python -m bench.idle
	$(BIN)/python -m bench.backbone
	$(BIN)/python -m bench.profiles
	$(BIN)/python -m bench.receivables
	$(BIN)/python -m bench.scoring
	$(BIN)/python -m bench.payment_dates
	$(BIN)/python -m bench.collections
	$(BIN)/python -m bench.alerts
	$(BIN)/python -m bench.console

## The chaos trial at scale: a 200-customer, 20,000-invoice book loaded through 20 kills.
chaos: $(STAMP)
	CREDO_CHAOS_BOOK=200,20000 CREDO_CHAOS_KILLS=20 $(BIN)/python -m pytest -s -p no:cacheprovider \
		--timeout 3600 tests/system/test_chaos.py

## Regenerate contracts/: JSON Schemas of every event and the AsyncAPI document.
asyncapi: $(STAMP)
	$(BIN)/python -m contracts.catalogue

## Run the system on this machine (see README).
# DEMO=1 (or DEMO=customers,invoices) loads the ERP simulator's book once everything is ready.
DEMO ?=
dev: $(STAMP) $(STATEMENT_FONT) $(CONSOLE_ASSETS)
	CREDO_DEV_DEMO=$(DEMO) $(BIN)/python -m tools.dev

## Send the running make dev's demo book to the ERP's topics again (after the broker lost its log).
dev-resend: $(STAMP)
	$(BIN)/python -m tools.dev resend

## A development token: make token ROLE=credit_analyst SUBJECT=li (signed with CREDO_JWT_SECRET, or
## with the secret make dev keeps in $(CREDO_DEV_DIR)/secrets.json, .dev/ by default).
ROLE ?= admin
SUBJECT ?= developer
token: $(STAMP)
	@$(BIN)/python -m tools.token --role $(ROLE) --subject "$(SUBJECT)"

clean:
	rm -rf $(TOOLS) $(VENV) .pytest_cache .mypy_cache .ruff_cache services/console/node_modules
