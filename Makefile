# The README's two commands: `make demo` and `make test`. Both create .venv when it is missing.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-dev
# every spec in experiments/ that carries an `expect:` block (the reproduction library)
REPRODUCTIONS := $(shell grep -l '^expect:' experiments/*.yaml)
# the quick ones, checked by CI (a minute or two on 2 cores)
QUICK := experiments/cartpole.yaml experiments/cartpole-natural.yaml \
	experiments/estimators-variance.yaml experiments/estimators-unbiased.yaml \
	experiments/fisher-identities.yaml experiments/optimize-bernoulli.yaml \
	experiments/optimize-gaussian.yaml experiments/optimize-classifier.yaml

.PHONY: demo test lint format check reproduce benchmarks figures clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,dask]'
	touch $(STAMP)

demo: $(STAMP)
	$(PY) -m pgcli train experiments/cartpole.yaml --quiet
	$(PY) -m pgcli plot results/cartpole --target 475 --out results/cartpole/convergence.png
	$(PY) -m pgcli estimate --dist gaussian --f step --n 10,100,1000 --quiet --name demo-estimate

test: $(STAMP)
	$(PY) -m pytest

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: $(STAMP)
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

check: $(STAMP)
	$(PY) -m pgcli check $(QUICK) --jobs 2 --quiet

reproduce: $(STAMP)
	$(PY) -m pip install --quiet -e '.[dev,dask,mujoco,box2d]'
	$(PY) -m pgcli check $(REPRODUCTIONS) --jobs 2 --quiet --junit results/reproduce.xml

benchmarks: $(STAMP)
	$(PY) benchmarks/run_all.py

clean:
	rm -rf $(VENV) results/*/ .pytest_cache .ruff_cache
