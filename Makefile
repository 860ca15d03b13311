# The addon's commands. Odoo is found through `import odoo` (PYTHON=python3).
PYTHON ?= python3
TEST_TAGS ?= /crm_opportunity_followup
N ?= 10000
SERVE ?=

.PHONY: test lint demo demo-clean kill-test bench screenshots

test:  ## static checks + the Odoo suite on a throwaway PostgreSQL
	$(PYTHON) tools/test.py --test-tags=$(TEST_TAGS)

lint:  ## static checks only
	$(PYTHON) tools/test.py --static-only

demo:  ## demo database in .local/, run the follow-up once, print its JSON (SERVE=1 serves it)
	$(PYTHON) tools/demo.py $(if $(SERVE),--serve)

demo-clean:  ## remove the demo cluster
	rm -rf .local/pg

kill-test:  ## kill a run mid-way, rerun, check the counts
	$(PYTHON) tools/kill_rerun.py

bench:  ## this addon against Odoo's automation rule and a per-record loop
	$(PYTHON) tools/bench.py --sizes $(N)

screenshots:  ## capture static/description/*.png from the served demo (make demo SERVE=1)
	$(PYTHON) tools/screenshots.py
