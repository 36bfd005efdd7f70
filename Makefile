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

# The shifted-clock pass runs the fast tests again with the machine's clock moved (Debian's
# faketime), to a mid-2027 day and to the last evening of February 2030, so that no test or code
# path silently depends on today's date. Monotonic clocks stay real (timeouts keep working).
# The shift is an offset from now ("+SECONDS"), the same in every process: with an absolute
# start ("@DATE") each process's clock started at DATE when it started, so a service started
# minutes into the pass ran minutes behind the test that minted its tokens ("issued in the
# future").
SHIFTED_CLOCKS = 2027-07-15T10:00:00 2030-02-28T23:30:00
FAST_TESTS = -m "not hail and not browser and not notebook and not sigkill"

test:
	bash .ci/setup --test-tools
	.venv/bin/ruff check .
	.venv/bin/lint-imports
	.venv/bin/mypy
	.venv/bin/python -m pytest $(PYTEST_ARGS)
	for at in $(SHIFTED_CLOCKS); do \
		echo "shifted clock: $$at"; \
		offset=$$(( $$(date -d "$${at/T/ }" +%s) - $$(date +%s) )); \
		FAKETIME_DONT_FAKE_MONOTONIC=1 faketime -f "+$$offset" \
			.venv/bin/python -m pytest -q -p no:cacheprovider $(FAST_TESTS) || exit 1; \
	done
	url="$$(bash .ci/postgres | tail -n 1)" && case "$$url" in postgresql*) ;; \
		*) echo "make test: .ci/postgres gave no PostgreSQL URL: '$$url'" >&2; exit 1;; esac && \
	echo "== the PostgreSQL pass: the store and ledger tests again, on $$url ==" && \
	PYTEST_POSTGRES="$$url" .venv/bin/python -m pytest \
		-m "not hail and not browser and not notebook" $(POSTGRES_TESTS)

lint:
	.venv/bin/ruff check .
	.venv/bin/lint-imports
	.venv/bin/mypy
