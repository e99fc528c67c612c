# Quick start: `make demo` (train the quickstart run) and `make test` (the test suite, then the
# documentation build: `make docs`).
# Both create .venv when missing, install tfreg into it and make Fashion-MNIST available offline.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.tfreg-installed
DOCS_STAMP := $(VENV)/.tfreg-docs-installed
FASHION := /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz
export TF_ENABLE_ONEDNN_OPTS ?= 1

.PHONY: demo test test-fast docs dataset install clean bench gpu-check tensorboard-screenshots

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml setup.py | $(BIN)/python
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

$(DOCS_STAMP): pyproject.toml setup.py | $(STAMP)
	$(BIN)/python -m pip install -q -e ".[docs]"
	touch $(DOCS_STAMP)

# The documentation site (mkdocs.yml: docs/, the flag tables and the API reference generated from
# the code) into site/. --strict: a broken link or anchor, or a public name without a docstring,
# fails it (CI runs it as part of `make test`).
docs: $(DOCS_STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

# Debian's dataset-fashion-mnist where apt-get works as root; elsewhere the loader downloads.
dataset:
	@if [ ! -f $(FASHION) ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		(apt-get update -q && apt-get install -y -q dataset-fashion-mnist) \
		|| echo "dataset-fashion-mnist not installed; tfreg will download Fashion-MNIST when needed"; \
	fi

demo: $(STAMP) dataset
	$(BIN)/python -m tfreg.run --flagfile=experiments/quickstart.flags

# The full tier (CI). `make test-fast` leaves out the tests marked slow (subprocess runs, kills,
# sweeps, end-to-end training): the edit loop's tier, under a minute. Both spread the tests over
# one process per core, at most 4 (pytest-xdist; tests sharing a module's reference run stay in
# one process); PYTEST_PARALLEL= runs them in this process.
PYTEST_PARALLEL ?= -n logical --maxprocesses=4 --dist=loadgroup
test: $(STAMP) dataset
	$(BIN)/python -m pytest -q --durations=15 $(PYTEST_PARALLEL)
	$(MAKE) docs

test-fast: $(STAMP) dataset
	$(BIN)/python -m pytest -q -m "not slow" $(PYTEST_PARALLEL)

# Throughput against plain Keras and PyTorch (benchmarks/README.md), on a quiet machine. DEVICE=gpu
# adds TensorFlow's CUDA libraries; BENCH_ARGS passes options, e.g. BENCH_ARGS=--suite=tta.
DEVICE ?= cpu
BENCH_ARGS ?=
bench: $(STAMP) dataset
	$(BIN)/python -m pip install -q -e ".[bench]"
	@if [ "$(DEVICE)" = gpu ]; then $(BIN)/python -m pip install -q "tensorflow[and-cuda]==2.21.*"; fi
	$(BIN)/python -m benchmarks.bench --device=$(DEVICE) $(BENCH_ARGS)
	$(BIN)/python -m benchmarks.table

# The GPU-only checks (issue 26): on a machine with TensorFlow and CUDA, about 10 minutes; one line
# per check in gpu-check.txt. Not run on this project's machines (none has a GPU with TensorFlow).
gpu-check: $(STAMP) dataset
	$(BIN)/python -m pip install -q "tensorflow[and-cuda]==2.21.*" -e ".[bench]"
	$(BIN)/python -m tools.gpu_check --out=gpu-check.txt

# docs/images/tensorboard_*.png (docs/guide/tensorboard.md): a two-arm x two-seed smoke sweep in a
# temporary folder, TensorBoard on it, headless Chromium's screenshots; about 2 minutes on 2 cores.
tensorboard-screenshots: $(STAMP) dataset
	@command -v chromium >/dev/null || [ "$$(id -u)" != 0 ] || apt-get install -y -q chromium
	$(BIN)/python -m tools.tensorboard_screenshots

clean:
	rm -rf $(VENV) runs .pytest_cache site
