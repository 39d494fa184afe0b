# heritage damage paper suite. The two commands: `make demo` and `make test` (README).
# Both bootstrap .venv from python3 on a fresh machine and reuse it afterwards.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
export NO_ALBUMENTATIONS_UPDATE := 1
export HF_HUB_OFFLINE := 1
export MPLBACKEND := Agg

.PHONY: venv demo test data benchmarks clean-demo

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

demo: data

test: $(STAMP)
	$(BIN)/python -m pytest

benchmarks: $(STAMP)
	$(BIN)/python -m benchmarks

clean-demo:
	rm -rf data cache runs suites papermill_runs/*/ paper/build paper/generated
