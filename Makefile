# The README's two commands: `make demo` and `make test`. Both create .venv when it is missing.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-dev
# every spec in experiments/ that carries an `expect:` block (the reproduction library)
REPRODUCTIONS := $(shell grep -l '^expect:' experiments/*.yaml)
# the quick ones, checked by CI (a minute or two on 2 cores)
QUICK := experiments/cartpole.yaml experiments/cartpole-natural.yaml \
	experiments/cartpole-ppo.yaml experiments/cartpole-trpo.yaml \
	experiments/estimators-variance.yaml experiments/estimators-unbiased.yaml experiments/estimators-binary.yaml \
	experiments/fisher-identities.yaml experiments/optimize-bernoulli.yaml \
	experiments/optimize-gaussian.yaml experiments/optimize-classifier.yaml

.PHONY: demo test browser lint format check reproduce benchmarks figures clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,dask,envpool]'
	touch $(STAMP)

demo: $(STAMP)
	$(PY) -m pgcli estimate --dist gaussian --f step --n 10,100,1000 --name demo-estimate
	$(PY) -m pgcli train experiments/cartpole.yaml
	$(PY) -m pgcli plot results/cartpole --target 475 --table --out results/cartpole/convergence.png

# tests/test_browser.py opens the HTML report in Debian's headless chromium through chromium-driver
browser:
	@if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then \
		sudo=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		$$sudo apt-get update -qq && \
		$$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; \
	fi

test: $(STAMP) browser
	$(PY) -m pytest

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: $(STAMP)
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

# the quick train specs' expectations hold on both vector-env engines: checked again on EnvPool's,
# as copies with env.backend: envpool (.ci/with_backend.py) in a results root of their own
QUICK_TRAIN := $(filter experiments/cartpole%,$(QUICK))
check: $(STAMP)
	$(PY) -m pgcli check $(QUICK) --jobs 2 --quiet
	$(PY) .ci/with_backend.py envpool results/envpool/specs $(QUICK_TRAIN)
	$(PY) -m pgcli check results/envpool/specs/*.yaml --results results/envpool --jobs 2 --quiet

reproduce: $(STAMP)
	$(PY) -m pip install --quiet -e '.[dev,dask,mujoco,box2d]'
	$(PY) -m pgcli check $(REPRODUCTIONS) --jobs 2 --quiet --junit results/reproduce.xml

benchmarks: $(STAMP)
	$(PY) benchmarks/run_all.py

# the README's figures, made by pgcli from committed experiments
FIG := docs/figures
figures: $(STAMP)
	$(PY) -m pgcli train experiments/cartpole-sweep.yaml --jobs 2 --quiet
	$(PY) -m pgcli plot results/cartpole-sweep --target 475 --out $(FIG)/cartpole-variants.png
	$(PY) -m pgcli plot results/cartpole-sweep --kind variance --out $(FIG)/cartpole-gradient-variance.png
	$(PY) -m pgcli train experiments/cartpole.yaml
	$(PY) -m pgcli train experiments/cartpole-natural.yaml --quiet
	$(PY) -m pgcli plot results/cartpole results/cartpole-natural --target 475 \
		--title "CartPole-v1: Adam (lr 0.03) vs natural gradient (δ = 0.02), 5 seeds" --out $(FIG)/cartpole-adam-vs-natural.png
	$(PY) -m pgcli estimate experiments/estimators-step.yaml --quiet
	$(PY) -m pgcli plot results/estimators-step --select param=mu --out $(FIG)/estimators-step.png
	$(PY) -m pgcli estimate experiments/estimators-binary.yaml --quiet
	$(PY) -m pgcli plot results/estimators-binary --out $(FIG)/estimators-binary.png
	$(PY) -m pgcli estimate experiments/estimators-variance.yaml --quiet
	$(PY) -m pgcli plot results/estimators-variance --select param=mu --out $(FIG)/estimators-variance.png
	$(PY) -m pgcli fisher --dist gamma --theta shape=2,rate=3 --n 1e3,1e4,1e5,1e6 --name fisher-gamma --quiet
	$(PY) -m pgcli plot results/fisher-gamma --out $(FIG)/fisher-gamma.png
	$(PY) -m pgcli optimize experiments/optimize-bernoulli.yaml --jobs 2 --quiet
	$(PY) -m pgcli plot results/optimize-bernoulli --out $(FIG)/optimize-bernoulli.png \
		--title "Bernoulli toy: E[(x − 0.45)²], 4 samples per step, 10 seeds"
	$(PY) -m pgcli plot results/optimize-bernoulli --y grad_var --x step --smooth 25 --out $(FIG)/optimize-bernoulli-variance.png \
		--title "Bernoulli toy: gradient variance (25-step trailing mean)"
	$(PY) -m pgcli train experiments/pendulum.yaml --jobs 2 --quiet
	$(PY) -m pgcli plot results/pendulum --out $(FIG)/pendulum.png

clean:
	rm -rf $(VENV) results/*/ .pytest_cache .ruff_cache
