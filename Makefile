# xerotrial: `make demo` and `make test` work on a fresh machine with Python 3.11+ and make.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install demo demo-data demo-data-check test test-fast lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# The synthetic demo trial: case report forms -> trial store -> analysis -> demo-output/report.html
demo: $(STAMP)
	$(BIN)/xerotrial demo --out demo-output
	$(BIN)/xerotrial demo --study phase2 --out demo-output/phase2
	$(BIN)/xerotrial demo-web --out demo-output/web --study examples/phase2/study.toml \
		--records examples/phase2/records.csv

# One pytest worker per core (pytest-xdist): the suite is CPU-bound and its tests independent.
test: $(STAMP)
	$(BIN)/ruff check src tests benchmarks tools
	$(BIN)/python -m pytest -n auto

# The suite without the slow tests (demo builds in subprocesses, the demo's recalibration)
test-fast: $(STAMP)
	$(BIN)/python -m pytest -n auto -m "not slow"

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks tools
	$(BIN)/ruff format --check src tests benchmarks tools

# Maintainer's tool: recalibrate the demo's case report forms (src/xerotrial/data/demo_crf)
demo-data: $(STAMP)
	PYTHONPATH=tools $(BIN)/python -m demo_calibration
	PYTHONPATH=tools $(BIN)/python -m demo_calibration.phase2

# Recalibrate every demo row (the suite takes the two slowest ion rows from the bundle)
demo-data-check: $(STAMP)
	PYTHONPATH=tools $(BIN)/python -m demo_calibration --check
	PYTHONPATH=tools $(BIN)/python -m demo_calibration.phase2 --check

bench: $(STAMP)
	$(BIN)/python benchmarks/startup.py
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
