# The two commands: `make demo` and `make test`. Each creates .venv if missing and installs.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo demo-reset test install bench clean check-config

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

# The story (conf/demo/story.toml) is seeded once per state directory (run/demo/state);
# demo-reset deletes that directory first and plays the story from the start.
demo: $(STAMP)
	$(BIN)/python -m gatewayd.demo --config conf/demo.toml

demo-reset: $(STAMP)
	$(BIN)/python -m gatewayd.demo --config conf/demo.toml --reset

# Two workers (CI has two cores); files stay whole on one worker so module fixtures are shared.
test: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider -n 2 --dist loadfile tests

bench: $(STAMP)
	$(BIN)/python bench/throughput.py

check-config: $(STAMP)
	$(BIN)/gatewayd --config conf/gatewayd.toml --check-config

clean:
	rm -rf $(VENV) build src/*.egg-info
