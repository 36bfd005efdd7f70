# The two set-up commands of README.md:
#   make demo   install everything, then run the main job on the embedded default
#   make test   install everything (plus Debian test tools), then run the whole test suite
.PHONY: demo test lint install
PYTEST_ARGS ?=

install:
	bash .ci/setup

demo: install
	.venv/bin/genomlab demo

test:
	bash .ci/setup --test-tools
	.venv/bin/ruff check .
	.venv/bin/lint-imports
	.venv/bin/python -m pytest $(PYTEST_ARGS)

lint:
	.venv/bin/ruff check .
	.venv/bin/lint-imports
