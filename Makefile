# Every target sets up what it needs: a virtualenv in .venv with the project installed.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test lint demo soak bench clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	@# spsync's own bytecode, written once here: the editable install leaves it to the
	@# first run, and where PYTHONDONTWRITEBYTECODE is set (CI runners often set it) every
	@# command would compile its ~60 modules again at start, 0.1 s each time
	$(BIN)/python -m compileall -q spsync
	touch $(STAMP)

# ruff, then mypy (its settings in pyproject.toml: strict on the pure core)
lint: $(STAMP)
	$(BIN)/ruff check spsync tests benchmarks
	$(BIN)/ruff format --check spsync tests benchmarks
	$(BIN)/mypy

# the suite on TEST_WORKERS processes (pytest-xdist; TEST_WORKERS=0 runs it in this one)
TEST_WORKERS ?= 2
test: $(STAMP) lint
	$(BIN)/pytest -q -p no:cacheprovider -m "not soak" -n $(TEST_WORKERS)

# The README's first command: apply the bundled tenants on the embedded sandbox, then show
# that a second plan has nothing to do. The apply's whole plan (thousands of lines for
# globex) goes to .spsync/demo-apply.txt; the terminal shows each tenant's summary. The example manifests read their exam passwords from
# the environment; these demo-only values are set for this target alone.
# The sandbox clock is pinned so that the example appointments (2028) stay in its future.
DEMO_ENV := SPSYNC_SANDBOX_NOW=2027-06-01T00:00:00Z SPSYNC_ACME_CERT_PASSWORD=demo-only SPSYNC_ACME_SAFETY_PASSWORD=demo-only \
	SPSYNC_ACME_ORIENTATION_PASSWORD=demo-only SPSYNC_GLOBEX_CLOUD_PASSWORD=demo-only \
	SPSYNC_GLOBEX_SECURITY_PASSWORD=demo-only SPSYNC_GLOBEX_FINANCE_PASSWORD=demo-only \
	SPSYNC_GLOBEX_LEADERSHIP_PASSWORD=demo-only SPSYNC_GLOBEX_CONDUCT_PASSWORD=demo-only

demo: $(STAMP)
	@echo '$$ spsync --sandbox validate manifests'
	@$(DEMO_ENV) $(BIN)/spsync --sandbox validate manifests
	@echo '$$ spsync --sandbox apply manifests --auto-approve > .spsync/demo-apply.txt'
	@mkdir -p .spsync
	@$(DEMO_ENV) $(BIN)/spsync --sandbox apply manifests --auto-approve > .spsync/demo-apply.txt
	@grep -E '^(Tenant |Plan: |No changes|[a-z0-9-]+: [0-9]+ done|Apply complete)' .spsync/demo-apply.txt
	@echo '(the whole plan and report: .spsync/demo-apply.txt)'
	@echo '$$ spsync --sandbox plan manifests --detailed-exitcode'
	@$(DEMO_ENV) $(BIN)/spsync --sandbox plan manifests --detailed-exitcode

# Long reliability trials (faults, kills, torn writes); the last line is the summary.
# SPSYNC_SOAK_TRIALS=N (default 30), SPSYNC_SOAK_SEED, SPSYNC_SOAK_WORKERS: see docs/reliability.md.
soak: $(STAMP)
	$(BIN)/pytest -q -p no:cacheprovider -m soak -s

clean:
	rm -rf $(VENV) .spsync build *.egg-info
