# Two commands on a fresh machine:
#   make run   – set everything up and run the tool with the sandbox LMS
#   make test  – set everything up and run the whole test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_PG_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test
TEST_REDIS_URL ?= redis://127.0.0.1:6379/15

.PHONY: run test install lint chromium content-check bench clean

AXE := node_modules/axe-core/axe.min.js

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/lti-tool keys generate
	$(BIN)/lti-tool db upgrade
	$(BIN)/lti-tool dev

# Browser tests drive Debian's Chromium; install it when it is missing.
chromium:
	@test -x /usr/bin/chromium || { apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

# axe-core (npm) checks the pages' accessibility in the browser tests.
$(AXE): package.json package-lock.json
	npm ci --no-audit --no-fund --silent
	touch $(AXE)

lint: $(STAMP)
	$(BIN)/ruff check lti_tool tests bench
	$(BIN)/ruff format --check lti_tool tests bench

content-check: $(STAMP)
	$(BIN)/lti-tool content check

test: $(STAMP) $(AXE) chromium lint content-check
	LTI_TOOL_TEST_REDIS_URL=$(TEST_REDIS_URL) $(BIN)/pytest -q
	@if $(BIN)/python -c "import sqlalchemy as sa; sa.create_engine('$(TEST_PG_URL)', connect_args={'connect_timeout': 3}).connect().close()" 2>/dev/null; then \
	  echo "--- again on PostgreSQL ($(TEST_PG_URL))"; \
	  LTI_TOOL_TEST_DATABASE_URL=$(TEST_PG_URL) LTI_TOOL_TEST_REDIS_URL=$(TEST_REDIS_URL) \
	    $(BIN)/pytest -q -m "not browser"; \
	else echo "--- PostgreSQL on 127.0.0.1:5432 not reachable: PostgreSQL pass skipped"; fi

bench: $(STAMP)
	$(BIN)/python bench/launch.py

clean:
	rm -rf $(VENV) instance .pytest_cache
