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

.PHONY: demo test install clean

install: $(STAMP)

$(STAMP): pyproject.toml $(wildcard plugins/*/pyproject.toml)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test]" $(addprefix -e ,$(PLUGINS))
	touch $(STAMP)

# A real model end to end on offline data (scikit-learn's digits), then the leaderboard.
demo: $(STAMP)
	$(BIN)/genbench plugins
	$(BIN)/genbench run vae --dataset digits --budget quick --results-dir $(DEMO_RESULTS)
	$(BIN)/genbench run vae --model cvae --dataset digits --budget quick --results-dir $(DEMO_RESULTS)
	$(BIN)/genbench leaderboard --dataset digits --results-dir $(DEMO_RESULTS)
	$(BIN)/genbench run cyclegan --dataset digits2color --budget smoke --results-dir $(DEMO_RESULTS)
	$(BIN)/genbench run cyclegan --model identity --dataset digits2color --budget smoke --results-dir $(DEMO_RESULTS)
	$(BIN)/genbench leaderboard --dataset digits2color --metric translate-fd-a2b --results-dir $(DEMO_RESULTS)

test: $(STAMP)
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) results/runs results/cache results/demo results/genbench.db*
