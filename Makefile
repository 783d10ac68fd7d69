# l2g: the two commands of the README are `make demo` and `make test`.
# Both run `make setup` first, which installs whatever is missing and is quick when nothing is.

VENV ?= .venv
PY := $(VENV)/bin/python
# `make test` runs the fast selection; `make test SLOW=1` runs everything (what CI does).
PYTEST_SELECT := $(if $(SLOW),,-m "not slow")
# Test files run on TEST_JOBS pytest-xdist workers (whole files per worker, so a module's
# fixtures are built once); TEST_JOBS=0 runs them in this process.
TEST_JOBS ?= 2

.PHONY: setup demo test bench clean

setup:
	@scripts/setup.sh

demo: setup
	$(VENV)/bin/l2g demo

test: setup
	$(PY) -m pytest $(PYTEST_SELECT) -n $(TEST_JOBS) --dist loadfile $(PYTEST_ARGS)

bench: setup
	$(PY) -m pytest benchmarks $(PYTEST_ARGS)

clean:
	rm -rf build
