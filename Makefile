# cellpipe — the two commands:  make demo   and   make test
#
# Both create the virtual environment (.venv) and install everything first.
# Override for a GPU machine, e.g.:
#   make demo TORCH_SPEC="torch==2.13.0 --index-url https://download.pytorch.org/whl/cu128"
# (the default takes the CPU wheel; a plain `torch` would pull a multi-GB CUDA build).
#
# Cellpose-SAM (cellpose 4) needs its own environment, .venv-sam (`make sam-env`): PyPI's
# torch 2.14.1 with torchvision (a CUDA build; the CPU runs it too, slowly). `make test`
# builds it and runs tests/sam there.
#
# The main environment also holds napari (extra `napari`: napari, PyQt6, napari-ome-zarr) to view
# results with `napari results/<sample>`; tests/napari opens them in a real viewer on Xvfb.

PYTHON      ?= python3.11
VENV        ?= .venv
TORCH_SPEC  ?= torch==2.13.0
CORES       ?= all
PROFILE     ?= profiles/workstation
PYTEST_ARGS ?=
SAM_VENV        ?= .venv-sam
SAM_TORCH_SPEC  ?= torch==2.14.1 torchvision==0.29.1
SAM_PYTEST_ARGS ?=

BIN   := $(VENV)/bin
STAMP := $(VENV)/.cellpipe-installed
SAM_BIN   := $(SAM_VENV)/bin
SAM_STAMP := $(SAM_VENV)/.cellpipe-installed

.PHONY: setup sam-env demo test lint schemas bench clean help

help:
	@echo "make demo    set up and run the workflow on the embedded simulated movie"
	@echo "make test    set up and run the test suite (tests/sam in the Cellpose-SAM environment)"
	@echo "make sam-env build .venv-sam, the Cellpose-SAM (cellpose 4) environment"
	@echo "make lint    snakemake --lint, ruff check, snakefmt --check (make test runs it first)"
	@echo "make bench   benchmarks (bench/), not part of the tests"

setup: $(STAMP)

$(STAMP): pyproject.toml requirements/constraints.txt tools/install_system_deps.sh tools/ensure_btrack.py
	bash tools/install_system_deps.sh
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24" wheel setuptools
	$(BIN)/python -m pip install --quiet $(TORCH_SPEC)
	$(BIN)/python -m pip install --quiet -c requirements/constraints.txt -e ".[test,lint,cellpose3,napari]"
	$(BIN)/python tools/ensure_btrack.py
	touch $@

sam-env: $(SAM_STAMP)

$(SAM_STAMP): pyproject.toml requirements/constraints-sam.txt tools/install_system_deps.sh tools/ensure_btrack.py
	bash tools/install_system_deps.sh
	test -x $(SAM_BIN)/python || $(PYTHON) -m venv $(SAM_VENV)
	$(SAM_BIN)/python -m pip install --quiet --upgrade "pip>=24" wheel setuptools
	$(SAM_BIN)/python -m pip install --quiet $(SAM_TORCH_SPEC)
	$(SAM_BIN)/python -m pip install --quiet -c requirements/constraints-sam.txt -e ".[test,sam]"
	$(SAM_BIN)/python tools/ensure_btrack.py
	touch $@

demo: $(STAMP)
	$(BIN)/snakemake --profile $(PROFILE) --cores $(CORES)
	@echo
	@echo "Report written: $(CURDIR)/results/demo/report.html"
	@echo "Summary:        $(CURDIR)/results/summary.html"

# CELLPIPE_REQUIRE_ALL=1 (and CI=true, which CI runners set): a test that skips (no root for SLURM or a tmpfs,
# no chromium, too little memory, no ../shared) fails with its reason, unless it is on the GPU-only allow-list
# of tests/require_all.py; each run ends with the list of skips and their reasons.  pytest by hand skips as usual.
test: lint $(SAM_STAMP)
	CELLPIPE_REQUIRE_ALL=1 $(BIN)/python -m pytest $(PYTEST_ARGS)
	CELLPIPE_REQUIRE_ALL=1 $(SAM_BIN)/python -m pytest tests/sam $(SAM_PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/snakemake --lint
	$(BIN)/ruff check .
	$(BIN)/snakefmt --check .

schemas: $(STAMP)
	$(BIN)/python tools/write_schemas.py

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf results .snakemake
