# The README's two commands: `make demo` and `make test`. Both create .venv when it is missing.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-dev
# every spec in pgcli/library/ that carries an `expect:` block (the reproduction library)
REPRODUCTIONS := $(shell grep -l '^expect:' pgcli/library/*.yaml)
# the quick ones, checked by CI (a minute or two on 2 cores)
QUICK := pgcli/library/cartpole.yaml pgcli/library/cartpole-natural.yaml \
	pgcli/library/cartpole-ppo.yaml pgcli/library/cartpole-trpo.yaml \
	pgcli/library/estimators-variance.yaml pgcli/library/estimators-unbiased.yaml pgcli/library/estimators-binary.yaml \
	pgcli/library/fisher-identities.yaml pgcli/library/optimize-bernoulli.yaml \
	pgcli/library/optimize-gaussian.yaml pgcli/library/optimize-classifier.yaml \
	pgcli/library/sequence-estimators.yaml pgcli/library/sequence-kl.yaml pgcli/library/sequence-kl-objective.yaml \
	pgcli/library/finetune-kl.yaml pgcli/library/finetune-large.yaml
# the reproductions on the optional simulators (their headers name the pgcli[mujoco] / pgcli[box2d] extra):
# about 1.5 minutes on 2 cores, checked by CI too
PHYSICS := $(shell grep -l 'pgcli\[mujoco\]\|pgcli\[box2d\]' pgcli/library/*.yaml)
# the core numerics `make mutation` mutates, one module at a time (pyproject.toml [tool.mutmut] says which
# tests run: for each mutant, those of the listed test files that call the mutated function)
MUTATE := pgcli.lab.estimators pgcli.lab.distributions pgcli.rl.advantages pgcli.rl.ppo pgcli.rl.trpo pgcli.rl.natural

.PHONY: demo test test-fast browser lint format check reproduce reproduce-physics mutation benchmarks figures docs reference clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,dask,envpool]'
	touch $(STAMP)

demo: $(STAMP)
	$(PY) -m pgcli estimate --dist gaussian --f step --n 10,100,1000 --name demo-estimate
	$(PY) -m pgcli train pgcli/library/cartpole.yaml
	$(PY) -m pgcli plot results/cartpole --target 475 --table --out results/cartpole/convergence.png

# tests/shell/test_browser.py opens the HTML report in Debian's headless chromium through chromium-driver
browser:
	@if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then \
		sudo=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		$$sudo apt-get update -qq && \
		$$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; \
	fi

# the whole suite on both cores (pytest-xdist; the slow tests are handed out first and an idle worker
# takes tests queued for the other: worksteal); -rs lists every skip with its reason, and the run
# fails unless they are exactly tests/expected-skips.txt
test: $(STAMP) browser
	$(PY) -m pytest -n 2 --dist worksteal -rs --expected-skips tests/expected-skips.txt

# the inner loop: every test but the slow ones (a second or more: learning runs, the wheel, the
# browser, the docs' command blocks), on both cores
test-fast: $(STAMP)
	$(PY) -m pytest -n 2 --dist worksteal -m "not slow"

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: $(STAMP)
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

# the quick reproductions' report (one HTML page, CI keeps it): results/check-report.html; the quick
# train specs' expectations hold on both vector-env engines: checked again on EnvPool's, as copies
# with env.backend: envpool (.ci/with_backend.py) in a results root of their own
QUICK_TRAIN := $(filter pgcli/library/cartpole%,$(QUICK))
check: $(STAMP)
	$(PY) -m pgcli check $(QUICK) --jobs 2 --quiet --report results/check-report.html
	$(PY) .ci/with_backend.py envpool results/envpool/specs $(QUICK_TRAIN)
	$(PY) -m pgcli check results/envpool/specs/*.yaml --results results/envpool --jobs 2 --quiet

reproduce: $(STAMP)
	$(PY) -m pip install --quiet -e '.[dev,dask,mujoco,box2d]'
	$(PY) -m pgcli check $(REPRODUCTIONS) --jobs 2 --quiet --junit results/reproduce.xml --report results/reproduce.html

reproduce-physics: $(STAMP)
	$(PY) -m pip install --quiet -e '.[dev,dask,envpool,mujoco,box2d]'
	$(PY) -m pgcli check $(PHYSICS) --jobs 2 --quiet --junit results/reproduce-physics.xml

# mutation testing of the core numerics (mutmut; CPU-heavy: niced, both cores, a module at a time); scores
# per module go to results/mutation.txt (killed / all, and the survivors by name)
mutation: $(STAMP)
	$(PY) -m pip install --quiet -e '.[dev,dask,envpool,mutation]'
	rm -rf mutants
	for module in $(MUTATE); do nice -n 10 $(VENV)/bin/mutmut run --max-children 2 "$$module.*" > /dev/null || exit 1; done
	$(PY) tests/mutation_scores.py $(MUTATE) | tee results/mutation.txt

benchmarks: $(STAMP)
	$(PY) benchmarks/run_all.py

# the documentation site (MkDocs, Material theme; the README is its home page) in site/: strict, so a
# broken link or anchor, or a page missing from mkdocs.yml's nav, fails; nothing needs the network
docs: $(STAMP)
	$(PY) -m pip install --quiet -e '.[docs]'
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict --site-dir site

# docs/reference.md, the spec reference, from the kinds' schemas (tests/test_docs.py fails when it is stale)
reference: $(STAMP)
	$(PY) -m pgcli.shell.reference > docs/reference.md.tmp
	mv docs/reference.md.tmp docs/reference.md

# the docs' figures (docs/figures/), made by pgcli from the bundled specs
FIG := docs/figures
figures: $(STAMP)
	$(PY) -m pgcli train pgcli/library/cartpole-sweep.yaml --jobs 2 --quiet
	$(PY) -m pgcli plot results/cartpole-sweep --target 475 --out $(FIG)/cartpole-variants.png
	$(PY) -m pgcli plot results/cartpole-sweep --kind variance --out $(FIG)/cartpole-gradient-variance.png
	$(PY) -m pgcli train pgcli/library/cartpole.yaml
	$(PY) -m pgcli train pgcli/library/cartpole-natural.yaml --quiet
	$(PY) -m pgcli plot results/cartpole results/cartpole-natural --target 475 \
		--title "CartPole-v1: Adam (lr 0.03) vs natural gradient (δ = 0.02), 5 seeds" --out $(FIG)/cartpole-adam-vs-natural.png
	$(PY) -m pgcli estimate pgcli/library/estimators-step.yaml --quiet
	$(PY) -m pgcli plot results/estimators-step --select param=mu --out $(FIG)/estimators-step.png
	$(PY) -m pgcli estimate pgcli/library/estimators-binary.yaml --quiet
	$(PY) -m pgcli plot results/estimators-binary --out $(FIG)/estimators-binary.png
	$(PY) -m pgcli estimate pgcli/library/estimators-variance.yaml --quiet
	$(PY) -m pgcli plot results/estimators-variance --select param=mu --out $(FIG)/estimators-variance.png
	$(PY) -m pgcli fisher --dist gamma --theta shape=2,rate=3 --n 1e3,1e4,1e5,1e6 --name fisher-gamma --quiet
	$(PY) -m pgcli plot results/fisher-gamma --out $(FIG)/fisher-gamma.png
	$(PY) -m pgcli optimize pgcli/library/optimize-bernoulli.yaml --jobs 2 --quiet
	$(PY) -m pgcli plot results/optimize-bernoulli --out $(FIG)/optimize-bernoulli.png \
		--title "Bernoulli toy: E[(x − 0.45)²], 4 samples per step, 10 seeds"
	$(PY) -m pgcli plot results/optimize-bernoulli --y grad_var --x step --smooth 25 --out $(FIG)/optimize-bernoulli-variance.png \
		--title "Bernoulli toy: gradient variance (25-step trailing mean)"
	$(PY) -m pgcli train pgcli/library/pendulum.yaml --jobs 2 --quiet
	$(PY) -m pgcli plot results/pendulum --out $(FIG)/pendulum.png
	$(PY) -m pgcli sequence pgcli/library/sequence-estimators.yaml --jobs 2 --quiet
	$(PY) -m pgcli plot results/sequence-estimators --y variance,snr,expected_cosine,expected_scale \
		--out $(FIG)/sequence-estimators.png
	$(PY) -m pgcli sequence pgcli/library/sequence-kl.yaml --quiet
	$(PY) -m pgcli plot results/sequence-kl --select "target=grad KL" --hue kl_estimator,kl_placement \
		--y expected_cosine,expected_scale,snr --out $(FIG)/sequence-kl.png
	$(PY) -m pgcli finetune pgcli/library/finetune-target.yaml --jobs 2 --quiet
	$(PY) -m pgcli plot results/finetune-target --x sequences --y reward_exact --target 5 \
		--out $(FIG)/finetune-target.png
	$(PY) -m pgcli plot results/finetune-target --kind variance --smooth 5 --out $(FIG)/finetune-target-variance.png
	$(PY) -m pgcli finetune pgcli/library/finetune-kl.yaml --jobs 2 --quiet
	$(PY) -m pgcli plot results/finetune-kl --y objective --target 1.103314 --out $(FIG)/finetune-kl.png
	$(PY) -m pgcli finetune pgcli/library/finetune-large.yaml --jobs 2 --quiet
	$(PY) -m pgcli plot results/finetune-large --out $(FIG)/finetune-large.png

clean:
	rm -rf $(VENV) results/*/ .pytest_cache .ruff_cache mutants site
