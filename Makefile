# The two set-up commands of README.md:
#   make demo   install everything, then run the main job on the embedded default
#   make test   install everything (plus Debian test tools), then run the whole test suite
SHELL := /bin/bash
.PHONY: demo test lint install
PYTEST_ARGS ?=

install:
	bash .ci/setup

demo: install
	.venv/bin/genomlab demo

# The PostgreSQL pass runs the tests of every institution store and of the ledger again against
# a throw-away PostgreSQL cluster on 127.0.0.1 (.ci/postgres installs and starts it); each store
# of a test home is a PostgreSQL schema, and a test that opens a SQLite file fails the pass
# (tests/engines.py). Each pass ends with its line "engine sqlite: ..." / "engine postgresql: ...".
POSTGRES_TESTS = tests/test_engines.py tests/test_ledger.py tests/test_ledger_health.py \
	tests/test_config.py tests/platform tests/platform_nodes tests/trust_center \
	tests/genome_center tests/clinical_node tests/data_service tests/airlock tests/reports \
	tests/postgres tests/migrations tests/test_demo.py tests/test_events.py tests/test_node_intake.py \
	tests/test_ledger_completeness.py tests/test_cli_read_commands.py tests/services

# The shifted-clock passes run the fast tests again with the machine's clock moved (Debian's
# faketime), to a mid-2027 day and to the last evening of February 2030, so that no test or code
# path silently depends on today's date. Each date runs half of the test files (tests/shards.py):
# every fast test runs once under today's clock and once under a shifted one. Monotonic clocks stay real (timeouts keep working).
# The shift is an offset from now ("+SECONDS"), the same in every process: with an absolute
# start ("@DATE") each process's clock started at DATE when it started, so a service started
# minutes into the pass ran minutes behind the test that minted its tokens ("issued in the
# future").
#
# The five pytest passes (Hail/notebook/browser tests; the other, fast, tests; the fast tests
# under the shifted clocks, half each; the PostgreSQL pass) run two at a time, longest first, each into its
# own log: .ci/passes.py says when each starts and ends and prints the whole log of a pass that
# failed. One after the other they took about 80 of CI's 90 minutes (one run two at a time:
# 126 minutes of passes in 67).

test:
	bash .ci/setup --test-tools
	.venv/bin/ruff check .
	.venv/bin/lint-imports
	.venv/bin/mypy
	PYTEST_ARGS='$(PYTEST_ARGS)' .venv/bin/python .ci/passes.py

lint:
	.venv/bin/ruff check .
	.venv/bin/lint-imports
	.venv/bin/mypy
