# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEMO_OUT ?= demo-output

.PHONY: demo test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# The demo's report includes the k-means decomposition of its STS grid (scikit-learn, extra ml).
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[ml]'
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(VENV)/.installed $@

demo: $(VENV)/.installed
	$(BIN)/supramap demo --out $(DEMO_OUT)

test: $(VENV)/.installed-test browser
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/python -m pytest -q

lint: $(VENV)/.installed-test
	$(BIN)/ruff check src tests benchmarks examples

# Every benchmark, each printing its figures beside a baseline measured in the same run
# (several minutes; the APT one writes a 763 MB file in a temporary folder).
bench: $(VENV)/.installed
	$(BIN)/python benchmarks/startup.py
	$(BIN)/python benchmarks/report.py
	$(BIN)/python benchmarks/cafm.py
	$(BIN)/python benchmarks/islands.py
	$(BIN)/python benchmarks/network.py
	$(BIN)/python benchmarks/gapmap.py
	$(BIN)/python benchmarks/sts.py
	$(BIN)/python benchmarks/deconvolve.py
	$(BIN)/python benchmarks/decompose.py
	$(BIN)/python benchmarks/explorer.py
	$(BIN)/python benchmarks/readers.py
	$(BIN)/python benchmarks/apt.py

clean:
	rm -rf $(VENV) $(DEMO_OUT) build *.egg-info src/*.egg-info

# The report test drives headless Chromium; install it from Debian's packages where missing
# (root on the CI and developer machines); without it that one test skips with its reason.
.PHONY: browser
browser:
	@command -v chromium >/dev/null 2>&1 || { (apt-get update -qq && apt-get install -y -qq chromium) >/dev/null 2>&1 || echo "chromium could not be installed: the browser test will skip"; }
