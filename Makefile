# The two commands: `make demo` and `make test`. Each creates .venv if missing and installs.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo demo-reset test install bench bench-smpp bench-profile clean check-config

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

# Issue 16: gatewayd vs Kannel 1.4.5 on the C benchmark SMSC (built with cc -O2 into build/).
# BENCH_ARGS=--quick for a smoke run. Needs cc; Kannel from Debian's kannel + kannel-extras.
bench-smpp: $(STAMP)
	$(BIN)/python bench/smpp_vs_kannel.py $(BENCH_ARGS)

# py-spy of the daemon and its SMPP worker under load (the bench extra installs py-spy).
bench-profile: $(STAMP)
	$(BIN)/python -m pip install -q -e '.[bench]'
	$(BIN)/python bench/smpp_profile.py $(BENCH_ARGS)

check-config: $(STAMP)
	$(BIN)/gatewayd --config conf/gatewayd.toml --check-config

clean:
	rm -rf $(VENV) build src/*.egg-info
