# Two entry points: `make demo` and `make test`. Both create .venv on first use.
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: demo test test-all test-contract-1thread test-install lint bench setup clean

setup: $(STAMP)

# torch is named in the same pip command so that pip takes the pinned CPU build.
$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -c constraints.txt torch==2.13.0 -e ".[all,dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(PY) -m ctxembed.demo

test: $(STAMP)
	$(PY) -m pytest -q

# every embedder's contract (batch mates, save/load, ...) on one thread: sums in another order
test-contract-1thread: $(STAMP)
	OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $(PY) -m pytest -q -k Contract

# a real install: the wheel built from this tree, in a fresh venv, run from outside the checkout
test-install: $(STAMP)
	$(PY) -m pytest -q --runslow tests/test_install.py

test-all: $(STAMP)
	CTXEMBED_SLOW=1 $(PY) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks

bench: $(STAMP)
	$(PY) benchmarks/embed_words.py
	$(PY) benchmarks/train_static.py

clean:
	rm -rf $(VENV) build .pytest_cache
