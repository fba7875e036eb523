# The two set-up commands of the README:
#   make demo   lock -> sync -> install -> verify -> run on the built-in example
#   make check  lint, type checks and the whole test suite (what CI runs)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo check test lint typecheck bench clean azurite

# -qq: pip says nothing unless something fails (its warnings about this machine's extra
# file:// indexes lacking a project, for one, are not the set-up's business)
$(STAMP): pyproject.toml
	@echo "setting up $(VENV) (once; under a minute)"
	@$(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install -qq --upgrade pip
	@$(BIN)/python -m pip install -qq -e '.[dev]'
	@# a build backend for Python 3.7 (setuptools + wheel, the last releases for 3.7): the
	@# tests that build sdists offline put it in their own index (tests/conftest.py)
	@$(BIN)/python -m pip download -qq --no-deps --only-binary :all: --python-version 3.7 \
	    --dest $(VENV)/test-dists 'setuptools==68.0.0' 'wheel==0.42.0'
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python examples/demo.py

lint: $(STAMP)
	$(BIN)/ruff check wheelhouse tests bench examples scripts
	$(BIN)/ruff format --check wheelhouse tests bench examples scripts

typecheck: $(STAMP)
	$(BIN)/mypy

# Azurite (the Azure Storage emulator) for the tests of az:// wheelhouses, from npm into
# .ci/node, where npm is present (the tests skip without it, and fail under CI=true)
AZURITE := .ci/node/node_modules/.bin/azurite-blob
$(AZURITE):
	@if command -v npm >/dev/null; then \
	    echo "installing azurite into .ci/node (once)"; \
	    mkdir -p .ci/node && npm install --silent --no-audit --no-fund --prefix .ci/node \
	        azurite@3 >/dev/null; \
	else echo "npm not found: the az:// tests will be skipped"; fi

azurite: $(AZURITE)

test: $(STAMP) azurite
	$(BIN)/python -m pytest $(PYTEST_ARGS)

check: lint typecheck test

bench: $(STAMP)
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) .ci/node .mypy_cache .ruff_cache .pytest_cache .demo
