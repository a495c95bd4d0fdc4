# cellpipe — the two commands:  make demo   and   make test
#
# Both create the virtual environment (.venv) and install everything first.
# Override for a GPU machine, e.g.:
#   make demo TORCH_SPEC="torch==2.13.0 --index-url https://download.pytorch.org/whl/cu128"
# (the default takes the CPU wheel; a plain `torch` would pull a multi-GB CUDA build).

PYTHON      ?= python3.11
VENV        ?= .venv
TORCH_SPEC  ?= torch==2.13.0
CORES       ?= all
PROFILE     ?= profiles/workstation
PYTEST_ARGS ?=

BIN   := $(VENV)/bin
STAMP := $(VENV)/.cellpipe-installed

.PHONY: setup demo test lint schemas bench clean help

help:
	@echo "make demo    set up and run the workflow on the embedded simulated movie"
	@echo "make test    set up and run the test suite"
	@echo "make lint    snakemake --lint"
	@echo "make bench   benchmarks (bench/), not part of the tests"

setup: $(STAMP)

$(STAMP): pyproject.toml requirements/constraints.txt tools/install_system_deps.sh tools/ensure_btrack.py
	bash tools/install_system_deps.sh
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24" wheel setuptools
	$(BIN)/python -m pip install --quiet $(TORCH_SPEC)
	$(BIN)/python -m pip install --quiet -c requirements/constraints.txt -e ".[test]"
	$(BIN)/python tools/ensure_btrack.py
	touch $@

demo: $(STAMP)
	$(BIN)/snakemake --profile $(PROFILE) --cores $(CORES)
	@echo
	@echo "Report written: $(CURDIR)/results/demo/report.html"
	@echo "Summary:        $(CURDIR)/results/summary.html"

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/snakemake --lint

schemas: $(STAMP)
	$(BIN)/python tools/write_schemas.py

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf results .snakemake
