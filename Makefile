# synthmark: `make run` sets up and runs the main job; `make test` sets up and runs the tests.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# torch 2.14.1 + torchvision 0.29.1 install from this machine's disk; elsewhere from PyPI.
TORCH_SPEC ?= torch==2.14.1 torchvision==0.29.1
# `make run` needs only the package itself (the demo imports no extra); `make test` and
# `make lint` install every extra.
RUN_EXTRAS ?=
EXTRAS ?= dev,serve,rivagan,onnx,postgres,ray
PYTEST_ARGS ?=
export HF_HUB_OFFLINE ?= 1
# Pretrained weight files (the detector's MobileNetV2), read offline from the shared folder.
ifneq ($(wildcard ../shared/models),)
export SYNTHMARK_MODELS ?= $(abspath ../shared/models)
endif

.PHONY: run test test-all lint venv system-deps bench clean

$(VENV)/.base: pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(TORCH_SPEC)
	touch $@

$(VENV)/.installed-run: $(VENV)/.base
	$(PY) -m pip install -q -e '.$(if $(RUN_EXTRAS),[$(RUN_EXTRAS)])'
	touch $@

$(VENV)/.installed: $(VENV)/.base
	$(PY) -m pip install -q -e '.[$(EXTRAS)]'
	touch $@ $(VENV)/.installed-run

venv: $(VENV)/.installed

system-deps:
	scripts/system-deps.sh

run: $(VENV)/.installed-run
	$(VENV)/bin/synthmark --home demo/home demo -o demo

lint: venv
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/mypy

# Every test but the slow ones, those that need PostgreSQL, Chromium or exiftool included
# (plain `pytest` leaves those out: see pyproject.toml).
test: venv system-deps lint
	$(PY) -m pytest -m 'not slow' $(PYTEST_ARGS)

test-all: venv system-deps
	$(PY) -m pytest -m '' $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
