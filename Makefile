# The two commands: `make run` and `make test`. Both set up .venv with the pinned dependencies first.
PYTHON ?= $(shell for p in python3.11 python3.12 python3; do $$p -c "import sys; assert sys.version_info[:2] in ((3, 11), (3, 12))" 2>/dev/null && { echo $$p; break; }; done)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PORT ?= 8000

.PHONY: setup run test clean bench soak faults stress

$(STAMP): requirements.txt requirements-dev.txt constraints.txt pyproject.toml
	@$(PYTHON) -c 'import sys; assert (3, 11) <= sys.version_info[:2] <= (3, 12), "durable-rules needs Python 3.11 or 3.12"'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -r requirements-dev.txt -c constraints.txt
	$(BIN)/pip install -q --disable-pip-version-check --no-deps -e .
	touch $@

setup: $(STAMP)

run: setup
	PORT=$(PORT) $(BIN)/gunicorn -c gunicorn.conf.py wsgi:app

test: setup
	$(BIN)/pytest

# Measurements, not tests: each starts gunicorn on 127.0.0.1 and drives it with a bounded client.
bench: setup
	$(BIN)/python -m bench.run

# The audit fault tests alone (they also run in `make test`; the disk faults need root for a tmpfs).
faults: setup
	$(BIN)/pytest tests/test_audit_faults.py

soak: setup
	$(BIN)/python -m bench.soak

# Idle, slowloris and slow-body clients held 60 s, then 20 CDS Hooks calls on a 1-second FHIR server,
# while native advice must keep p99 <= 100 ms with no failure (bench/stress.py; loopback only, ~2 min).
stress: setup
	$(BIN)/python -m bench.stress

clean:
	rm -rf $(VENV) instance *.egg-info
