# The two commands of the README.
VENV ?= .venv
export HF_HUB_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= false

.PHONY: setup demo test bench

setup:
	bash scripts/setup.sh

demo: setup
	$(VENV)/bin/rag-dialogue demo

test: setup
	$(VENV)/bin/python -m pytest -q -ra

bench: setup
	$(VENV)/bin/python bench/bench_rag_token.py
	$(VENV)/bin/python bench/bench_causal_rag.py
	$(VENV)/bin/python bench/bench_fid.py
	$(VENV)/bin/python bench/bench_finetune.py
	$(VENV)/bin/python bench/bench_metrics.py
	$(VENV)/bin/python bench/bench_selection.py
	$(VENV)/bin/python bench/bench_bf16.py
	$(VENV)/bin/python bench/bench_stages.py --against-one-pass
	nice $(VENV)/bin/python bench/bench_encode.py
	nice $(VENV)/bin/python bench/bench_index.py
