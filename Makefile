# churnml: every target bootstraps .venv on first use, so a fresh clone needs only Python >= 3.11.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEMO   ?= data/demo
WORLDS_ARGS ?= --seeds 1,2 --customers 20000
TEST_WORKERS ?= auto
BENCH_ARGS ?= --customers 1000000 --stages generate,validate,features,generate-train,train,floors,score

.DEFAULT_GOAL := help
.PHONY: help install demo test test-fast lint bench worlds clean

help: ## Show the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  \033[36m%-10s\033[0m %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "churnml needs Python >= 3.11; set PYTHON=python3.11")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP) ## Create .venv and install churnml with its dev tools

demo: $(STAMP) ## Generate a dataset, validate it and run every pipeline stage on it
	$(BIN)/churnml demo --workdir $(DEMO)

test: lint ## Lint, then run the whole test suite (spread over the cores; the timing-sensitive tests alone after)
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile -m "not serial"
	$(BIN)/python -m pytest -m serial

test-fast: $(STAMP) ## Every test not marked slow (the developer loop)
	$(BIN)/python -m pytest -m "not slow" -q

lint: $(STAMP) ## ruff (style, bugs, security rules) and mypy (types) over the package, tests and benchmarks
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy

bench: $(STAMP) ## Wall time and peak memory of the pipeline stages, each beside its floor measured in the same run (BENCHMARKS.md)
	$(BIN)/python benchmarks/run.py $(BENCH_ARGS)

worlds: $(STAMP) ## Train and score on every simulated world with the defaults: risk, calibration and cause at T
	$(BIN)/python benchmarks/worlds.py $(WORLDS_ARGS)

clean: ## Remove generated data, models, tracking files and the virtual environment
	rm -rf $(VENV) data/demo models/*/ mlruns mlflow.db mlartifacts reports .pytest_cache
