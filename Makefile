# One-command set-up: `make bench` (install + a benchmark that answers + report), `make test`, `make docs`.
PYTHON ?= python3
VENV ?= .venv
TORCH ?= torch==2.13.0
# Where torch comes from. Empty: pip's configured index (on Linux PyPI's torch brings the multi-GB CUDA
# libraries). `cpu`, `cu126`, `rocm6.4`, …: PyTorch's own index for that build
# (https://download.pytorch.org/whl/<name>); a URL: that index.
TORCH_INDEX ?=
TORCH_INDEX_URL := $(if $(TORCH_INDEX),$(if $(findstring ://,$(TORCH_INDEX)),$(TORCH_INDEX),https://download.pytorch.org/whl/$(TORCH_INDEX)))
TORCH_PIP := $(if $(TORCH_INDEX_URL),--index-url $(TORCH_INDEX_URL))
BIN := $(VENV)/bin
PY := $(BIN)/python
RESULTS ?= results

.PHONY: venv install install-dev install-docs install-notebook bench test test-all lint typecheck check docs \
	notebook examples clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip setuptools wheel

venv: $(PY)

# Torch first, pinned (overridable: make install TORCH=torch==2.15.0) and from TORCH_INDEX, so the package's
# range never pulls a different (multi-GB CUDA) build.
install: $(PY)
	$(PY) -m pip install -q $(TORCH_PIP) "$(TORCH)"
	$(PY) -m pip install -q -e .

install-dev: $(PY)
	$(PY) -m pip install -q $(TORCH_PIP) "$(TORCH)"
	$(PY) -m pip install -q -e ".[dev,data]"

install-docs: install-dev
	$(PY) -m pip install -q -e ".[docs]"

# The venv as a Jupyter kernel named "rnnbench" (plus ipywidgets, which the notebook progress bar draws in).
install-notebook: install
	$(PY) -m pip install -q -e ".[notebook]"
	$(PY) -m ipykernel install --user --name rnnbench --display-name "Python (rnnbench)"

# Expanded once (:=), so the run and its report name the same folder even if a second ticks in between.
ifndef RUN_ID
RUN_ID := bench-$(shell date +%Y%m%d-%H%M%S)
endif

# The first question, answered: the quick grid (lstm+gru on the CPU) in five fresh processes at one thread —
# a GRU/LSTM verdict with its 95% interval per shape in about two minutes on 2 cores — into
# $(RESULTS)/$(RUN_ID), then its report (report.md, report.html, figures) into $(RESULTS)/$(RUN_ID)/report/.
# One round could not answer: samples inside one process say nothing about the next.
BENCH_ARGS ?= --preset quick --rounds 5 --threads 1
bench: install
	$(BIN)/rnnbench run $(BENCH_ARGS) --output $(RESULTS) --run-id $(RUN_ID)
	@report=$$($(BIN)/rnnbench report $(RESULTS)/$(RUN_ID) --output $(RESULTS)/$(RUN_ID)/report --quiet) && \
	  echo "Report: $$report"

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

# The documentation site, strictly (a broken link or a missing page fails), into site/. Not --quiet: it hides
# the warnings that --strict counts, and the build then passes with them.
docs: install-docs
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

# The notebook in docs/, executed top to bottom by nbmake (about 15 s), in a scratch folder so that its
# results/ never land in docs/.
notebook: install-docs
	@scratch=$$(mktemp -d) && cp docs/notebook.ipynb "$$scratch/" && \
	  $(PY) -m pytest -q -p no:cacheprovider --nbmake "$$scratch/notebook.ipynb"; \
	  code=$$?; rm -rf "$$scratch"; exit $$code

# What a new user runs first, run as they would (about 2 min; slow, so not in `make test`): the notebook, the
# Python examples of the README and docs/api.md, and the CI template's gate step with the real `rnnbench ab`.
examples: notebook
	$(PY) -m pytest -q -p no:cacheprovider -m slow tests/test_api.py tests/test_ci_templates.py

clean:
	rm -rf $(VENV) build site *.egg-info .pytest_cache .mypy_cache .ruff_cache
