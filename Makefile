# One-command set-up: `make bench` (install + default benchmark + report) and `make test`.
PYTHON ?= python3
VENV ?= .venv
TORCH ?= torch==2.13.0
BIN := $(VENV)/bin
PY := $(BIN)/python
RESULTS ?= results

.PHONY: venv install install-dev bench test test-all lint typecheck check clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip setuptools wheel

venv: $(PY)

# Torch first, pinned (overridable: make install TORCH=torch==2.15.0), so the package's
# range never pulls a different (multi-GB CUDA) build.
install: $(PY)
	$(PY) -m pip install -q "$(TORCH)"
	$(PY) -m pip install -q -e .

install-dev: $(PY)
	$(PY) -m pip install -q "$(TORCH)"
	$(PY) -m pip install -q -e ".[dev,data]"

# Expanded once (:=), so the run and its report name the same folder even if a second ticks in between.
ifndef RUN_ID
RUN_ID := bench-$(shell date +%Y%m%d-%H%M%S)
endif

# The main job: the quick preset (lstm+gru on the CPU, about a minute on 2 cores) into $(RESULTS)/$(RUN_ID),
# then its report (tables, report.md, report.html, figures) into $(RESULTS)/$(RUN_ID)/report/.
bench: install
	$(BIN)/rnnbench run --preset quick --output $(RESULTS) --run-id $(RUN_ID)
	$(BIN)/rnnbench report $(RESULTS)/$(RUN_ID) --output $(RESULTS)/$(RUN_ID)/report --quiet

# The suite minus tests marked slow (a real 10-process A/B run); `make test-all` runs everything. Two
# pytest-xdist workers (PYTEST_JOBS=0: one process) halve the wall time on 2 cores; tests that must not overlap
# (two torchrun jobs) share an xdist_group, which --dist loadgroup keeps on one worker.
PYTEST_JOBS ?= 2
PYTEST_PARALLEL := -n $(PYTEST_JOBS) --dist loadgroup

test: install-dev
	$(PY) -m pytest -q -m "not slow" $(PYTEST_PARALLEL) --durations=5

test-all: install-dev
	$(PY) -m pytest -q $(PYTEST_PARALLEL) --durations=10

lint: install-dev
	$(BIN)/ruff check rnnbench tests benchmarks
	$(BIN)/ruff format --check rnnbench tests benchmarks

typecheck: install-dev
	$(BIN)/mypy rnnbench

check: lint typecheck test

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
