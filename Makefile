# The two commands: `make test` and `make demo`. Both bootstrap .venv themselves:
# `make demo` installs the core and the console extra only (`.[cli]`, a dozen packages);
# `make test` installs the whole dev toolchain (`.[dev]`) into the same .venv.
# Afterwards run things from there: .venv/bin/adk-realtime, .venv/bin/python, or
# `source .venv/bin/activate` first.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
export PIP_DISABLE_PIP_VERSION_CHECK := 1

# Strict editable mode links the modules that exist at install time, so the install is
# redone when one is added, removed or renamed: $(MODULES) is the list it depends on.
MODULES := $(sort $(wildcard agent/*.py drivers/*.py sansio/*.py sansio/*/*.py sansio/*/*/*.py))
EDITABLE := --config-settings editable_mode=strict

.PHONY: test demo lint typecheck pytest fuzz fuzz-smoke soak bench bench-smoke install sysdeps clean

# pip >= 23.1 passes editable_mode to the build; older ones are upgraded, newer ones kept.
$(BIN)/python:
	$(PY) -m venv $(VENV)
	@$(BIN)/python -c 'import pip, sys; sys.exit(tuple(map(int, pip.__version__.split(".")[:2])) < (23, 1))' \
	  || $(BIN)/pip install -q --upgrade pip

# Rewritten only when the list changes: its date is the last time a module came or went.
$(VENV)/modules.txt: FORCE | $(BIN)/python
	@echo '$(MODULES)' | cmp -s - $@ || echo '$(MODULES)' > $@
FORCE:

# The demo's install: the core and the console extra (rich).
$(VENV)/.cli-stamp: pyproject.toml $(VENV)/modules.txt | $(BIN)/python
	$(BIN)/pip install -q -e '.[cli]' $(EDITABLE)
	touch $@

# Everything `make test` uses; it includes the console extra.
$(VENV)/.dev-stamp: pyproject.toml $(VENV)/modules.txt | $(BIN)/python
	$(BIN)/pip install -q -e '.[dev]' $(EDITABLE)
	touch $@ $(VENV)/.cli-stamp

# libopus is the one system library (opuslib loads it); install it on Debian when missing.
sysdeps:
	@if ! ldconfig -p 2>/dev/null | grep -q 'libopus\.so'; then \
	  if command -v apt-get >/dev/null 2>&1; then \
	    echo "installing libopus0 (apt-get)"; \
	    (apt-get install -y -q libopus0 >/dev/null 2>&1 || (apt-get update -q >/dev/null && apt-get install -y -q libopus0 >/dev/null)) ; \
	  else echo "libopus not found: install it (Debian: apt-get install libopus0, macOS: brew install opus)"; fi; \
	fi
	@# baresip is the independent SIP phone the SIP tests call the agent with (skipped without it)
	@if ! command -v baresip >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing baresip-core (apt-get)"; \
	  (apt-get install -y -q --no-install-recommends baresip-core >/dev/null 2>&1 || (apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends baresip-core >/dev/null)) || echo "baresip not installed: the SIP test with a real phone will be skipped"; \
	fi

install: sysdeps $(VENV)/.dev-stamp

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy -p adk_realtime

# Tests run on every core (pytest-xdist); PYTEST_WORKERS=0 runs them in this process.
PYTEST_WORKERS ?= auto
PYTEST := $(BIN)/python -m pytest -n $(PYTEST_WORKERS)

pytest: install
	$(PYTEST)

fuzz-smoke: install
	$(BIN)/python fuzz/run_all.py --smoke

bench-smoke: install
	$(BIN)/python bench/run_all.py --smoke

test: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy -p adk_realtime
	$(PYTEST)
	$(BIN)/python fuzz/run_all.py --smoke
	$(BIN)/python bench/run_all.py --smoke

fuzz: install
	$(BIN)/python fuzz/run_all.py

# A long conversation against the simulator: client memory must level off (a few minutes).
soak: install
	$(BIN)/python fuzz/soak_memory.py --turns 300

# Full runs; each benchmark also draws bench/out/bench_<name>.png (matplotlib is the `bench` extra).
bench: install
	$(BIN)/pip install -q 'matplotlib>=3.7'
	$(BIN)/python bench/run_all.py --plot bench/out

demo: $(VENV)/.cli-stamp
	$(BIN)/adk-realtime demo
	@echo
	@echo "adk-realtime is installed in $(VENV), not on your PATH. Run it from there:"
	@echo "  $(BIN)/adk-realtime demo --question 'Hello'   (and: sim, talk; --help for each)"
	@echo "  $(BIN)/python examples/realtime_tools.py"
	@echo "or activate it once per shell: source $(BIN)/activate, then adk-realtime ... / python ..."

clean:
	rm -rf $(VENV) build *.egg-info
