# Two commands: `make run` and `make test`. Everything else is set up by them.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
INI ?= development.ini
PLUGIN_DIRS := $(sort $(dir $(wildcard plugins/*/setup.py)))
TEST_PLUGIN_DIRS := $(sort $(dir $(wildcard tests/plugins/*/setup.py)))
PO_FILES := $(shell find src plugins -name '*.po' -path '*LC_MESSAGES*' 2>/dev/null)
MO_FILES := $(PO_FILES:.po=.mo)
PYTEST_ARGS ?=

.PHONY: run test install catalogs init clean bench i18n help

help:
	@echo "make run   - set everything up and serve http://127.0.0.1:6543"
	@echo "make test  - set everything up and run the whole test suite"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip 'setuptools<81' wheel

$(VENV)/.installed: $(BIN)/python setup.py $(wildcard plugins/*/setup.py) $(wildcard tests/plugins/*/setup.py)
	$(BIN)/python -m pip install -q --no-build-isolation --config-settings editable_mode=compat -e '.[test]' $(foreach p,$(PLUGIN_DIRS) $(TEST_PLUGIN_DIRS),-e $(p))
	touch $@

install: $(VENV)/.installed catalogs

%.mo: %.po
	$(BIN)/pybabel compile --statistics -i $< -o $@

catalogs: $(VENV)/.installed $(MO_FILES)

var/Data.fs:
	mkdir -p var/blobs var/mail
	$(BIN)/compte-citoyen $(INI) init --demo

init: install var/Data.fs

run: install var/Data.fs
	$(BIN)/pserve $(INI)

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: install
	$(BIN)/python bench/run.py

i18n: install
	$(BIN)/python -m compte_citoyen.i18n_tools

clean:
	rm -rf $(VENV) var build *.egg-info
