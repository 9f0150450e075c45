# The two set-up commands: `make demo` runs the main job, `make test` runs the whole suite.
# Both create .venv and install everything on a fresh machine; the stamp re-installs only when
# pyproject.toml changes, and the Node tools (Azurite, for the local stack) only when package-lock.json does.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed

.PHONY: install demo test test-deep synth snapshots bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

# Everything the two set-up commands install, without running either (CI jobs use it).
install: $(STAMP) $(NODE_STAMP)

$(NODE_STAMP): package-lock.json
	npm ci --no-audit --no-fund
	touch $(NODE_STAMP)

# The main job: the whole topology on this machine, 200 orders through both pipelines under a small
# fault mix (a 10-minute ERP outage, failing fetches, duplicate events, poison orders), then the summary.
# It exits non-zero if any order was lost, duplicated in the ERP, or went backwards in the shop.
DEMO_STATE := .orderbridge/demo
demo: $(STAMP) $(NODE_STAMP)
	$(BIN)/orderbridge local demo --orders 200 --erp-outage 600 --ecp-error-rate 0.05 --duplicate-rate 0.05 \
		--poison-rate 0.02 --time-scale 300 --state-dir $(DEMO_STATE)

test: $(STAMP) $(NODE_STAMP)
	$(BIN)/python -m pytest -n 2 --dist loadgroup -q

# Every property test with its full number of examples (a few minutes; `make test` draws a share).
test-deep: $(STAMP) $(NODE_STAMP)
	ORDERBRIDGE_DEEP_PROPERTIES=1 $(BIN)/python -m pytest -n 2 --dist loadgroup -q

snapshots: $(STAMP)
	$(BIN)/orderbridge synth --stack dev --json > tests/snapshots/dev.json
	$(BIN)/orderbridge synth --stack prod --json > tests/snapshots/prod.json

clean:
	rm -rf $(VENV) dist .pytest_cache node_modules
