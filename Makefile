# Two commands matter: `make run` (server on the embedded store at :8081) and `make test`.
# `make e2e` (README) runs the scenarios against real peers built with Go; `make test` needs no Go.
PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin
ARGS ?=

# Bytecode is cached inside the venv even where the environment turns it off (PYTHONDONTWRITEBYTECODE):
# every pytest worker and every exporter a test starts would otherwise compile the package and
# rewrite every test module again (about 3 s of CPU per worker; docs/development.md).
export PYTHONDONTWRITEBYTECODE :=
export PYTHONPYCACHEPREFIX := $(abspath $(VENV))/pycache

.PHONY: run test lint typecheck unit quick deps debian-deps bench demo stubs clean e2e
.PHONY: image image-test

# pytest-xdist workers: the slow tests wait on processes and sockets, not the CPU, so more workers
# than cores pay off (docs/development.md#keeping-make-test-under-a-minute); each module-scoped
# stack stays on one worker (its xdist_group).
WORKERS ?= 8

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

deps: $(BIN)/.installed

debian-deps:
	./scripts/ensure-debian-packages

run: deps
	$(BIN)/python exporter.py $(ARGS)

lint: deps
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: deps
	$(BIN)/mypy

# Tests marked `e2e` run in `make e2e` instead (E2E_PEER_SUITES, docs/development.md).
unit: deps debian-deps
	$(BIN)/pytest -n $(WORKERS) --dist loadgroup -m 'not e2e'

# The inner loop: everything but the process- and etcd-level tests, in a few seconds.
quick: deps
	$(BIN)/pytest -n $(WORKERS) -m 'not process and not etcd'

test: lint typecheck unit

# Real peers: e2e/build-peers builds kube-apiserver, etcd 3.6 and the agent into a cache outside
# the repository and prints where; the scenarios in e2e/, then our etcd suites on that etcd 3.6.
E2E_ETCD_SUITES = tests/test_store_etcd.py tests/test_server_etcd_process.py tests/test_server_sick_etcd.py \
	tests/test_store_etcd_record_size.py tests/test_store_etcd_nospace.py tests/test_store_etcd_history.py
# Moved out of `make test` (marked `e2e`): their cost is real peers running, not our code.
E2E_PEER_SUITES = tests/test_sharded_prometheus.py tests/test_demo_fleet_live.py
e2e: deps debian-deps
	@set -e; peers="$$(e2e/build-peers)"; eval "$$peers"; \
	echo "$$peers" | sed 's/^export /make e2e: /'; \
	$(BIN)/pytest -p no:cacheprovider e2e; \
	$(BIN)/pytest -p no:cacheprovider $(E2E_ETCD_SUITES); \
	$(BIN)/pytest -p no:cacheprovider $(E2E_PEER_SUITES)

# config/kubernetes/*/netchecker.yaml from charts/netchecker (helm from e2e/build-peers; `make e2e`
# requires the committed files to equal this output).
.PHONY: manifests
manifests: deps
	@set -e; eval "$$(e2e/build-peers)"; $(BIN)/python -m e2e.manifests

# The container image (docs/image.md): `make image` builds the real Dockerfile with buildah on a base
# made once from Debian's packages (no registry is reached); `make image-test` runs that image with
# kubespray's flags on etcd 3.6 from e2e/build-peers' cache (image_tests/, not part of `make test`).
image:
	./scripts/ensure-image-tools
	./scripts/build-image

image-test: deps image
	@set -e; peers="$$(e2e/build-peers)"; eval "$$peers"; \
	$(BIN)/pytest -p no:cacheprovider image_tests

# The etcd v3 modules in netchecker_exporter/store/etcdpb/ from our .proto files (committed; a test
# checks they are current).
stubs: deps
	$(BIN)/python scripts/generate_etcd_stubs.py

# Benchmarks (BENCHMARKS.md) and the demo fleet live in bench/; neither runs in `make test`.
$(BIN)/.bench-installed: $(BIN)/.installed
	$(BIN)/pip install -q -e '.[dev,bench]'
	touch $@

# The other HTTP fronts it measures (waitress, gunicorn, cheroot) come from the [bench] extra.
bench: deps debian-deps $(BIN)/.bench-installed
	$(BIN)/python -m bench.run $(ARGS)

demo: deps
	$(BIN)/python -m bench.demo $(ARGS)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache *.egg-info
