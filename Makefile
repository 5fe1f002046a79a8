# Two commands do all the set-up: `make report` (the main job) and `make test`.
# The first run creates .venv/ inside the repository; later runs reuse it.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
PROFILE ?= demo
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: report test lab lab-git bench bench-gpu

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

## The main job: every notebook with profile $(PROFILE), then results/$(PROFILE)/report.html
report: $(STAMP)
	$(BIN)/strn report --profile $(PROFILE)

## The test suite (CPU only; executes every notebook with profile="smoke")
test: $(STAMP)
	STRN_QUIET=1 MPLBACKEND=Agg $(BIN)/python -m pytest $(PYTEST_ARGS)

## JupyterLab run from .venv: its own "Python 3" kernel is this environment (no kernel is
## registered, so the notebooks' kernelspec `python3`, papermill and `strn report` all run the
## same interpreter). A git filter (nbstripout, keeping cell ids) keeps outputs out of
## committed notebooks, so `git status` stays clean. Lab is installed once (a stamp file).
LAB_STAMP := $(VENV)/.lab-stamp
NBSTRIPOUT := "$(abspath $(BIN))/python" -m nbstripout --keep-id
$(LAB_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[lab]'
	touch $(LAB_STAMP)

lab: $(LAB_STAMP)
	@$(MAKE) --no-print-directory lab-git BIN=$(BIN)
	$(BIN)/jupyter lab notebooks/

## The git filter, set once in this clone (.git/config, .git/info/attributes) and only when no
## nbstripout filter is set yet: one you set yourself, or an earlier `make lab`'s, is left alone.
lab-git:
	@if git config --get filter.nbstripout.clean >/dev/null; then \
	  echo "make lab: a git filter nbstripout is already set in this clone ($$(git config --get filter.nbstripout.clean)); git config left as it is"; \
	else \
	  $(BIN)/nbstripout --install && \
	  git config filter.nbstripout.clean '$(NBSTRIPOUT)' && \
	  git config diff.ipynb.textconv '$(NBSTRIPOUT) -t' && \
	  echo "make lab: set the git filter nbstripout (--keep-id) in this clone's .git/config and .git/info/attributes, once: notebooks saved from Lab are committed without outputs"; \
	fi

## CPU benchmarks (run alone on a quiet machine), then the README's performance section
bench: $(STAMP)
	OMP_NUM_THREADS=1 nice -n 5 $(BIN)/python benchmarks/bench_reader.py
	OMP_NUM_THREADS=1 $(BIN)/python benchmarks/bench_data.py
	OMP_NUM_THREADS=1 $(BIN)/python benchmarks/bench_data.py --preset ucf-shaped --repeat 2 --only pyav_decode_only \
	  pyav_raw ffmpeg_cli project_decode torchvision project_cached project_cached_jpeg
	OMP_NUM_THREADS=1 $(BIN)/python benchmarks/bench_loader.py
	OMP_NUM_THREADS=2 $(BIN)/python benchmarks/bench_model.py
	OMP_NUM_THREADS=2 $(BIN)/python benchmarks/bench_epoch.py
	$(BIN)/python benchmarks/render.py

## The GPU benchmark (on a machine with a CUDA card), then the README's GPU rows and the
## full profile's expected cost per notebook
bench-gpu: $(STAMP)
	$(BIN)/python benchmarks/bench_gpu.py
	$(BIN)/python benchmarks/render.py
