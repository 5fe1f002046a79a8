# Two commands do all the set-up: `make report` (the main job) and `make test`.
# The first run creates .venv/ inside the repository; later runs reuse it.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
PROFILE ?= demo
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: report test lab bench bench-gpu

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

## The main job: every notebook with profile $(PROFILE), then results/$(PROFILE)/report.html
report: $(STAMP)
	$(BIN)/strn report --profile $(PROFILE)

## The test suite (CPU only; executes every notebook with profile="smoke")
test: $(STAMP)
	STRN_QUIET=1 MPLBACKEND=Agg $(BIN)/python -m pytest

## JupyterLab with a kernel named "Python (strn)" that has strn installed; a git filter
## (nbstripout) keeps outputs out of committed notebooks, cell tags included
lab: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[lab]'
	$(BIN)/python -m ipykernel install --user --name strn --display-name "Python (strn)"
	$(BIN)/nbstripout --install
	$(BIN)/jupyter lab notebooks/

## CPU benchmarks (run alone on a quiet machine), then the README's performance section
bench: $(STAMP)
	OMP_NUM_THREADS=1 nice -n 5 $(BIN)/python benchmarks/bench_reader.py
	OMP_NUM_THREADS=1 $(BIN)/python benchmarks/bench_data.py
	OMP_NUM_THREADS=2 $(BIN)/python benchmarks/bench_model.py
	OMP_NUM_THREADS=2 $(BIN)/python benchmarks/bench_epoch.py
	$(BIN)/python benchmarks/render.py

## The GPU benchmark (on a machine with a CUDA card), then the README's GPU rows and the
## full profile's expected cost per notebook
bench-gpu: $(STAMP)
	$(BIN)/python benchmarks/bench_gpu.py
	$(BIN)/python benchmarks/render.py
