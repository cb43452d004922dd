# fashion-report: `make report` builds the report, `make test` runs the checks.
# `make` alone lists the targets.

.DEFAULT_GOAL := help
SHELL := /bin/bash

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# `make setup TF_EXTRA=gpu` installs the CUDA-enabled TensorFlow instead of the CPU build.
TF_EXTRA ?= cpu
PROFILE ?= standard
# Extra arguments for the report and tune commands, e.g. ARGS="--set seed=7", ARGS="--force", ARGS="--from 04".
ARGS ?=
# `make tune`: which model's search, and how many worker processes beside the chief.
MODEL ?= cnn
WORKERS ?= 2
# `make tensorboard`: where the runs are (as for the report command) and the port TensorBoard serves on.
RUNS_DIR ?= $(or $(FASHION_RUNS_DIR),runs)
TENSORBOARD_PORT ?= 6006
KERNEL := fashion-report
# Debian packages: the data set; chromium + MathJax for the PDF, mupdf-tools for the rendered-report check.
DATA_PACKAGES := dataset-fashion-mnist
REPORT_PACKAGES := chromium libjs-mathjax mupdf-tools

.PHONY: help setup data system-deps report runs tune tensorboard lab test test-fast lint bench clean

help: ## Show this list of targets
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}'

# pip's and setuptools' output goes to $(INSTALL_LOG); the terminal gets one line, or the log's end on failure.
INSTALL_LOG := $(VENV)/install.log
$(STAMP): pyproject.toml
	@echo "Installing the Python packages of pyproject.toml into $(VENV) (minutes; log: $(INSTALL_LOG))"
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@{ $(PY) -m pip install --upgrade pip \
	  && $(PY) -m pip install -e ".[$(TF_EXTRA),dev]" \
	  && $(PY) -m ipykernel install --sys-prefix --name $(KERNEL) --display-name "Python (fashion-report)"; \
	} >$(INSTALL_LOG) 2>&1 || { tail -n 25 $(INSTALL_LOG); echo "error: installing the Python packages failed (whole log: $(INSTALL_LOG))"; exit 1; }
	@touch $(STAMP)

setup: $(STAMP) ## Create or refresh the virtual environment (.venv) and the Jupyter kernel

define apt_install
	missing=""; for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "Installing Debian packages:$$missing"; \
	    log=$$(mktemp); \
	    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; } >$$log 2>&1 \
	      || { tail -n 25 $$log; echo "error: apt-get could not install$$missing"; rm -f $$log; exit 1; }; \
	    rm -f $$log; \
	  else \
	    echo "Missing Debian packages:$$missing. Install them as root: apt-get install$$missing"; \
	  fi; \
	fi
endef

data: $(STAMP) ## Install the Fashion-MNIST files (Debian package) when missing and verify them
	@$(PY) -m fashion_lib data --quiet >/dev/null 2>&1 || { $(call apt_install,$(DATA_PACKAGES)); }
	@$(PY) -m fashion_lib data

system-deps: ## Install chromium (PDF), MathJax and mupdf-tools (report check) when missing (as root)
	@$(call apt_install,$(REPORT_PACKAGES))

report: setup data system-deps ## Run the notebooks that changed, reuse the rest, render report/$(PROFILE)/ (PROFILE=quick|standard|full|replicate|best)
	$(PY) -m fashion_lib report --profile $(PROFILE) $(ARGS)

runs: setup ## List the kept report runs with their accuracies and write report/runs.html comparing them
	$(PY) -m fashion_lib runs

tune: setup data ## Run one model's search in a chief and WORKERS worker processes (MODEL=mlp|cnn, PROFILE, ARGS)
	$(PY) -m fashion_lib tune --model $(MODEL) --profile $(PROFILE) --workers $(WORKERS) $(ARGS)

tensorboard: setup ## Serve a run's TensorBoard logs: trials' hyperparameters and scores, training curves (PROFILE)
	@test -d $(RUNS_DIR)/$(PROFILE)/tensorboard || { echo "No TensorBoard logs in $(RUNS_DIR)/$(PROFILE)/tensorboard: run \`make report PROFILE=$(PROFILE)\` first."; exit 1; }
	$(VENV)/bin/tensorboard --logdir $(RUNS_DIR)/$(PROFILE)/tensorboard --port $(TENSORBOARD_PORT)

lab: setup data ## Open the notebooks in JupyterLab with the project's kernel
	$(VENV)/bin/jupyter lab --notebook-dir=notebooks

lint: setup ## Check the code and notebooks with ruff
	$(VENV)/bin/ruff check fashion_lib tests notebooks docs/probes
	$(VENV)/bin/ruff format --check fashion_lib tests docs/probes

test: setup data system-deps lint ## Run ruff and the whole test suite (includes a quick report end to end)
	$(PY) -m pytest -q

test-fast: setup data lint ## Run the tests that train nothing big (no end-to-end report)
	$(PY) -m pytest -q -m "not slow and not report"

bench: setup data ## Measure training speed against the CPU's matrix-multiply peak (BENCH_ARGS=--quick)
	$(PY) -m fashion_lib bench $(BENCH_ARGS)

clean: ## Remove runs, reports and caches (keeps .venv)
	rm -rf runs report/*/ report/runs.html .pytest_cache .ruff_cache
