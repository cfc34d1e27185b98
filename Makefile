# `make run` serves on port 8031, `make test` runs the suite; both install into .venv first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# torch first, pinned: an unpinned torch pulls the newest CUDA build (gigabytes). On a CUDA machine
# PyPI's torch==2.13.0 is a CUDA build; for another build pass e.g. TORCH="torch==2.13.0 --index-url ...".
TORCH ?= torch==2.13.0
EXTRAS ?= deepseek,test
STAMP := $(VENV)/.installed

.PHONY: run test install clean

install: $(STAMP)

$(STAMP): setup.cfg setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip
	$(BIN)/pip install $(TORCH)
	$(BIN)/pip install -e '.[$(EXTRAS)]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/gunicorn --config gunicorn.conf.py wsgi:app

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) build *.egg-info
