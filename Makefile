# physai: two commands do all the set-up on a fresh machine (`make demo`, `make test`).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TORCH_VERSION := 2.13.0
export MUJOCO_GL ?= egl
export PYOPENGL_PLATFORM ?= $(MUJOCO_GL)

.PHONY: setup demo test test-slow bench lint typecheck clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install -q torch==$(TORCH_VERSION)
	$(BIN)/pip install -q -e '.[dev,ray,field,hardware]'
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(BIN)/physai demo --out runs/demo

# pytest exit 5 (no tests collected) is a failure, not a pass.
test: $(STAMP)
	@$(BIN)/python -m pytest -q --timeout=600; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "no tests were collected: failing" >&2; exit 1; fi; exit $$rc

test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -m slow --timeout=3600

bench: $(STAMP)
	$(BIN)/python bench/sim_speed.py

lint: $(STAMP)
	$(BIN)/ruff check src tests bench

# mypy against .ci/mypy-baseline.json: a new error in any file fails; `--update` locks in fewer errors
typecheck: $(STAMP)
	$(BIN)/python .ci/mypy_baseline.py

clean:
	rm -rf $(VENV) runs bench/results/*.json
