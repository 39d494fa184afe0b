# heritage damage paper suite. The two commands: `make demo` and `make test` (README).
# Both bootstrap .venv from python3 on a fresh machine and reuse it afterwards.
#   make demo              the demo suite (notebooks 01-05 on synthetic data, CPU) and its PDF when TeX is present
#   make paper SUITE=name  paper/build/<name>.pdf from paper/generated/<name>/ (written by notebook 05)
#   make lab               JupyterLab on the notebooks (127.0.0.1), kernels in the project root, autosave off
#                          (LAB_PORT=8888, LAB_ARGS="--no-browser" on a remote machine)
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
export NO_ALBUMENTATIONS_UPDATE := 1
export MPLBACKEND := Agg

SUITE  ?= demo
JOBS   ?= 2
LAB_PORT ?= 8888
LAB_ARGS ?=
# The suite runner (`python -m heritage_core.suite` is the same command).
SUITE_CMD := $(BIN)/heritage suite

.PHONY: venv demo test data benchmarks gpu-check clean-demo paper lab

venv: $(STAMP)

# Re-installs only when pyproject.toml changes (or the venv is missing).
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip setuptools wheel
	$(BIN)/python -m pip install -e ".[dev]"
	@touch $@

# Embedded default data: synthetic ARTeFACT-schema parquet -> ingest cache.
data: $(STAMP)
	$(BIN)/heritage synth --out data/synthetic --n 418 --seed 0 --max-side 512
	$(BIN)/heritage ingest data/synthetic --out cache/synthetic --max-side 512

# The demo suite: resumes (finished steps are skipped), so a second `make demo` only rebuilds what changed.
# The PDF needs TeX Live (latexmk); `make paper` installs it when running as root with apt-get.
demo: $(STAMP)
	$(SUITE_CMD) run parameters/demo.yaml --resume --jobs $(JOBS)
	@if command -v latexmk >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; }; then \
	  $(MAKE) --no-print-directory paper SUITE=demo; \
	else \
	  echo "make demo: TeX (latexmk) is not installed, so no PDF; the tables and figures are in paper/generated/demo/."; \
	  echo "Install TeX Live, then run: make paper SUITE=demo"; \
	fi

paper: $(STAMP)
	bash scripts/build_paper.sh $(SUITE)

# Registers the venv's interpreter as the notebooks' kernelspec (python3, "Python 3"), first on JUPYTER_PATH,
# then runs the server: kernels in the project root like papermill's, autosave off, no news (heritage_core/suite/lab.py).
lab: $(STAMP)
	$(BIN)/python -m heritage_core.suite.lab --port $(LAB_PORT) $(LAB_ARGS)

# The tests build what they need offline and set HF_HUB_OFFLINE=1 for themselves (tests/conftest.py).
test: $(STAMP)
	$(BIN)/python -m pytest

benchmarks: $(STAMP)
	$(BIN)/python -m benchmarks

# On a CUDA machine: throughput, memory and the smoke suite on the GPU -> benchmarks/results/gpu.json (README).
# GPU_CHECK_ARGS="--device cpu --quick" runs it at tiny size on the CPU.
GPU_CHECK_ARGS ?=
gpu-check: $(STAMP)
	$(BIN)/python -m benchmarks.gpu_check $(GPU_CHECK_ARGS)

clean-demo:
	rm -rf data cache runs suites papermill_runs/*/ paper/build paper/generated
