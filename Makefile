# `make run` serves on port 8031, `make test` runs the suite; each installs into .venv what it needs first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# torch first, pinned: an unpinned torch pulls the newest CUDA build (gigabytes). On a CUDA machine
# PyPI's torch==2.13.0 is a CUDA build; for another build pass e.g. TORCH="torch==2.13.0 --index-url ...".
TORCH ?= torch==2.13.0
# One stamp per extra: a venv made for the embedded engine gets torch once the DeepSeek engine is asked for.
BASE := $(VENV)/.installed-base
DEEPSEEK := $(VENV)/.installed-deepseek
TESTS := $(VENV)/.installed-test
LINT := $(VENV)/.installed-lint
# `make run` installs what OCR_ENGINE needs: the embedded engine needs no torch; deepseek and auto do.
OCR_ENGINE ?= embedded
ifneq ($(filter deepseek auto,$(OCR_ENGINE)),)
RUN_NEEDS := $(DEEPSEEK)
else
RUN_NEEDS := $(BASE)
endif

.PHONY: run test test-fast lint install install-deepseek clean

install: $(BASE)

install-deepseek: $(DEEPSEEK)

$(BASE): setup.cfg setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip
	$(BIN)/pip install -e .
	touch $@

$(DEEPSEEK): $(BASE)
	$(BIN)/pip install $(TORCH)
	$(BIN)/pip install -e '.[deepseek]'
	touch $@

$(TESTS): $(DEEPSEEK)
	$(BIN)/pip install -e '.[test]'
	touch $@

$(LINT): $(BASE)
	$(BIN)/pip install -e '.[lint]'
	touch $@

run: $(RUN_NEEDS)
	$(BIN)/gunicorn --config gunicorn.conf.py wsgi:app

# Everything, the DeepSeek tests on a tiny checkpoint included (about 11 minutes on 2 cores; CI allows 25).
test: $(TESTS)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Without the tests marked slow (real gunicorn servers under load, nginx, Chromium, hostile input).
test-fast: $(TESTS)
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

lint: $(LINT)
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) build *.egg-info
