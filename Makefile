# Two commands for a newcomer on a fresh machine:
#   make demo   set everything up, then run the main job offline
#   make test   set everything up, then run the tests (what CI runs)
# Both install what is missing and nothing else.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.zoo-installed
FASHION_MNIST := /usr/share/datasets/fashion-mnist
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

.PHONY: setup data demo lint test bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --editable '.[dev]'
	touch $@

# Fashion-MNIST from Debian's package where apt-get exists; elsewhere torchvision downloads it on first use.
data:
	@if [ -d $(FASHION_MNIST) ]; then \
		echo "Fashion-MNIST: found in $(FASHION_MNIST)"; \
	elif command -v apt-get >/dev/null; then \
		$(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq dataset-fashion-mnist; \
	else \
		echo "Fashion-MNIST: no apt-get here; torchvision will download it into ~/.local/share/zoo on first use"; \
	fi

demo: setup data
	$(BIN)/zoo quantize mobilenet_v2 --preset fbgemm-histogram

# The layers contract (pyproject.toml), style and types; fast, so every test run checks them first.
lint: setup
	$(BIN)/lint-imports
	$(BIN)/ruff check .
	$(BIN)/mypy

test: setup data lint
	$(BIN)/python -m pytest

bench: setup
	$(BIN)/python -m pip install --quiet --editable '.[dev,bench]'
	$(BIN)/python -m tests.benchmarks.registry_index
	$(BIN)/python -m tests.benchmarks.listing
	$(BIN)/python -m tests.benchmarks.runtimes

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
