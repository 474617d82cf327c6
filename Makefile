# Two commands do everything:  `make train`  and  `make test`.
# Each creates .venv if there is none, installs dlx into it (again only when
# pyproject.toml changed), then trains on the embedded default data / runs the tests
# (after `lint-imports`, which checks the layer order written in pyproject.toml).
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.dlx-installed

.PHONY: setup train test bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

train: $(STAMP)
	$(BIN)/dlx train $(ARGS)

test: $(STAMP)
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -n auto --dist worksteal $(ARGS)

bench: $(STAMP)
	$(BIN)/python benchmarks/loop_overhead.py

clean:
	rm -rf $(VENV) outputs/runs outputs/sweeps outputs/cv
