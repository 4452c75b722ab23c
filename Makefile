# Two commands on a fresh machine: `make demo` and `make test`. Both create .venv themselves.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip install --quiet --disable-pip-version-check
RUN := $(VENV)/bin/heartsound
LAB := $(VENV)/bin/heartsound-lab

.PHONY: demo test test-fast chromium web web-deps reproduce bench lint clean

# Runtime only (inference runs on numpy/scipy/soundfile/soxr + onnxruntime, no torch).
# The bytecode is compiled once, as installing the wheel does: an editable install would
# otherwise compile every module at each start where PYTHONDONTWRITEBYTECODE is set.
$(VENV)/.runtime: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) -e '.[plot]'
	$(PY) -m compileall -q src/heartsound
	touch $@

# Training, export and tests: torch pinned first (the CPU wheel on this machine's disk),
# so nothing later can pull an unpinned multi-GB CUDA build.
$(VENV)/.dev: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) torch==2.13.0
	$(PIP) -e '.[train,plot,dev,serve]'
	$(PY) -m compileall -q src/heartsound
	touch $@ $(VENV)/.runtime

demo: $(VENV)/.runtime
	$(RUN) demo

# Everything CI runs (.ci/run): lint, types of the runtime package, every test.
test: $(VENV)/.dev chromium web-deps lint
	$(PY) -m pytest

# The runtime and layout tests without the slow ones (the wheel install): ~75 s on 2 cores.
test-fast: $(VENV)/.dev
	$(PY) -m pytest tests/runtime tests/test_layout.py -m "not slow"

# Debian's chromium for the report's headless-browser test, installed when missing and
# running as root (CI); elsewhere that test is skipped with the reason.
chromium:
	@command -v chromium >/dev/null || test "$$(id -u)" != 0 || ! command -v apt-get >/dev/null \
	  || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } \
	  || echo "chromium could not be installed: the report's browser test will be skipped"

# The phone app's runtime: onnxruntime-web from the npm registry, pinned by web/package.json
# and web/package-lock.json (npm ci installs exactly the locked tree into web/node_modules).
web-deps: web/node_modules/.package-lock.json

web/node_modules/.package-lock.json: web/package.json web/package-lock.json
	@command -v npm >/dev/null || { echo "npm not found: the web app's tests will be skipped"; exit 0; } \
	  && cd web && npm ci --no-audit --no-fund --ignore-scripts && touch node_modules/.package-lock.json

# The static offline app (page, WebAssembly runtime, raw-audio models) in web/dist/.
web: $(VENV)/.runtime web-deps
	$(RUN) web --out web/dist

# The whole study (an hour or more on 2 CPU cores): every CV run, shipped models (float and
# int8), the lightness bench, the ablation of every recipe change (its test-time views, the
# non-deep baseline, its epoch budgets), and the report.
reproduce: $(VENV)/.dev
	$(LAB) reproduce
	$(LAB) ablation
	$(LAB) views
	$(LAB) baseline
	$(LAB) epochs
	$(LAB) bench --markdown docs/lightness.md --save-json docs/lightness.json
	$(LAB) report runs/a-light runs/a-base runs/b-light runs/b-base runs/b-light-random \
	  runs/b-base-random runs/a-light-x2 runs/a-light-x4 runs/b-light-x2 runs/b-light-x4 \
	  runs/a-light-candidate runs/b-light-candidate runs/b-light-augment \
	  runs/a-light-joint runs/a-light-improved runs/b-light-improved --bench docs/lightness.json --out docs/report

bench: $(VENV)/.dev
	$(LAB) bench --markdown docs/lightness.md --save-json docs/lightness.json

# ruff everywhere; mypy on the runtime package ([tool.mypy] in pyproject.toml).
lint: $(VENV)/.dev
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) demo .pytest_cache
