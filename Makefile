# The two commands: `make test` and `make demo`. Both bootstrap .venv themselves.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.deps-stamp

.PHONY: test demo lint typecheck pytest fuzz fuzz-smoke bench bench-smoke install sysdeps clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# libopus is the one system library (opuslib loads it); install it on Debian when missing.
sysdeps:
	@if ! ldconfig -p 2>/dev/null | grep -q 'libopus\.so'; then \
	  if command -v apt-get >/dev/null 2>&1; then \
	    echo "installing libopus0 (apt-get)"; \
	    (apt-get install -y -q libopus0 >/dev/null 2>&1 || (apt-get update -q >/dev/null && apt-get install -y -q libopus0 >/dev/null)) ; \
	  else echo "libopus not found: install it (Debian: apt-get install libopus0, macOS: brew install opus)"; fi; \
	fi

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[dev]' --config-settings editable_mode=strict
	touch $(STAMP)

# Re-link on every run (strict editable mode links files that exist at install time).
install: sysdeps $(STAMP)
	@$(BIN)/pip install -q --no-deps -e . --config-settings editable_mode=strict 2>$(VENV)/relink.log \
	  || (cat $(VENV)/relink.log; exit 1)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy -p adk_realtime

pytest: install
	$(BIN)/python -m pytest

fuzz-smoke: install
	$(BIN)/python fuzz/run_all.py --smoke

bench-smoke: install
	$(BIN)/python bench/run_all.py --smoke

test: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy -p adk_realtime
	$(BIN)/python -m pytest
	$(BIN)/python fuzz/run_all.py --smoke
	$(BIN)/python bench/run_all.py --smoke

fuzz: install
	$(BIN)/python fuzz/run_all.py

# Full runs; each benchmark also draws bench/out/bench_<name>.png (matplotlib is the `bench` extra).
bench: install
	$(BIN)/pip install -q 'matplotlib>=3.7'
	$(BIN)/python bench/run_all.py --plot bench/out

demo: install
	$(BIN)/adk-realtime demo

clean:
	rm -rf $(VENV) build *.egg-info
