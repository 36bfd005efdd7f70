# The two set-up commands of README.md:
#   make demo   install everything, then run the main job on the embedded default
#   make test   install everything (plus Debian test tools), then run the whole test suite
.PHONY: demo test lint install
PYTEST_ARGS ?=

install:
	bash .ci/setup

demo: install
	.venv/bin/genomlab demo

# The PostgreSQL pass runs the store, workflow, ledger and trust-centre suites again against a
# throw-away PostgreSQL cluster on 127.0.0.1 (.ci/postgres installs and starts it).
POSTGRES_TESTS = tests/test_ledger.py tests/test_config.py tests/test_ledger_health.py \
	tests/trust_center tests/platform tests/postgres tests/migrations tests/airlock tests/reports

test:
	bash .ci/setup --test-tools
	.venv/bin/ruff check .
	.venv/bin/lint-imports
	.venv/bin/mypy
	.venv/bin/python -m pytest $(PYTEST_ARGS)
	PYTEST_POSTGRES="$$(bash .ci/postgres | tail -n 1)" .venv/bin/python -m pytest \
		-m "not hail and not browser and not notebook" $(POSTGRES_TESTS)

lint:
	.venv/bin/ruff check .
	.venv/bin/lint-imports
	.venv/bin/mypy
