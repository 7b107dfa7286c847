# Two commands work on a fresh machine: `make demo` and `make test`. Each creates .venv
# and installs genbench plus every plugin under plugins/ (editable) the first time.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PLUGINS := $(sort $(wildcard plugins/genbench-*))
STAMP := $(VENV)/.installed
# Real MNIST/Fashion-MNIST files, when the shared data folder sits beside the checkout.
export GENBENCH_DATA ?= $(if $(wildcard ../shared/data),$(abspath ../shared/data),)
DEMO_RESULTS := results/demo

.PHONY: demo test test-slow lint install clean

install: $(STAMP)

$(STAMP): pyproject.toml $(wildcard plugins/*/pyproject.toml)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test]" $(addprefix -e ,$(PLUGINS))
	touch $(STAMP)

# Every installed model, from every family, trained on offline data (scikit-learn's digits; the
# translation models on digits2color) by the digits suite, two at a time; then the leaderboards and
# the HTML report's path. Run it again: finished runs are kept, so it only prints.
demo: $(STAMP)
	$(BIN)/genbench plugins
	$(BIN)/genbench suite run digits --jobs 2 --results-dir $(DEMO_RESULTS)
	$(BIN)/genbench leaderboard --dataset digits --results-dir $(DEMO_RESULTS)
	$(BIN)/genbench leaderboard --dataset digits2color --results-dir $(DEMO_RESULTS)
	$(BIN)/genbench report --results-dir $(DEMO_RESULTS) --out $(DEMO_RESULTS)/report

# Tests that train for a minute or more are marked `slow`: `make test` skips them, `make test-slow` runs only them.
# Two worker processes (pytest-xdist), a test file each at a time, so that a file's module fixtures
# are built once: on 2 idle cores the suite took 741 s in one process. TEST_WORKERS=0 runs it in one.
TEST_WORKERS ?= 2
test: $(STAMP)
	$(BIN)/python -m pytest -m "not slow" -n $(TEST_WORKERS) --dist loadfile --durations=15

# The house style (pyproject.toml's [tool.ruff] and [tool.mypy]): lint, formatting and the public surface's
# types; `.ci/run` calls it before the tests.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test-slow: $(STAMP)
	$(BIN)/python -m pytest -m slow

clean:
	rm -rf $(VENV) results/runs results/cache results/demo results/genbench.db*
