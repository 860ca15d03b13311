# The addon's commands. Odoo is found through `import odoo` (PYTHON=python3);
# where it is not, `make test` and `make demo` set Odoo 19.0 up in .local/ once
# (tools/bootstrap.py): a shallow clone of ODOO_REPO at ODOO_BRANCH (Odoo's
# official repository, 19.0, by default; a local clone or its path works) and a
# virtualenv with its requirements.
PYTHON ?= python3
ODOO_REPO ?=
ODOO_BRANCH ?=
export ODOO_REPO ODOO_BRANCH
TEST_TAGS ?= /crm_opportunity_followup
# Odoo's crm and mail activity suites rerun with the addon installed
# (tools/core_tests): empty runs them with the default TEST_TAGS only; none skips.
CORE_TAGS ?=
# The addon's tests tagged followup_sale, again with sale_crm installed (on a
# database of their own): empty runs them with the default TEST_TAGS only; none
# skips.
SALE_TAGS ?=
HTTP_PORT ?= 8069
N ?= 10000
SERVE ?=
UPDATE ?=

.PHONY: help test lint demo serve demo-clean kill-test cron-test bench screenshots

help:  ## this list
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

test:  ## sets up what it needs, then static checks + the Odoo suite, its Sales tests with sale_crm, then crm's and mail's with the addon, on a throwaway PostgreSQL (TEST_TAGS=..., SALE_TAGS=..., CORE_TAGS=...)
	$(PYTHON) tools/test.py --test-tags=$(TEST_TAGS) $(if $(CORE_TAGS),--core-tags=$(CORE_TAGS)) $(if $(SALE_TAGS),--sale-tags=$(SALE_TAGS))

lint:  ## static checks only
	$(PYTHON) tools/test.py --static-only

demo:  ## sets up what it needs, then a demo database in .local/, one follow-up run, its JSON (SERVE=1 serves it, UPDATE=1 updates the addon)
	$(PYTHON) tools/demo.py $(if $(UPDATE),--update) $(if $(SERVE),--serve --http-port=$(HTTP_PORT))

serve:  ## serve the demo database on http://127.0.0.1:$(HTTP_PORT), admin/admin, until Ctrl-C
	$(PYTHON) tools/demo.py --no-run --serve --http-port=$(HTTP_PORT) $(if $(UPDATE),--update)

demo-clean:  ## stop and remove the demo cluster (.local/pg)
	$(PYTHON) tools/demo.py --clean

kill-test:  ## kill a run mid-way, rerun, check the counts
	$(PYTHON) tools/kill_rerun.py

cron-test:  ## the daily job on a --workers 2 server, --limit-time-real-cron 20, 20,000 opportunities (N=..., CRON_ARGS=--kill-variant)
	$(PYTHON) tools/cron_workers.py $(if $(filter command line,$(origin N)),--leads $(N)) $(CRON_ARGS)

bench:  ## this addon against Odoo's automation rule and a per-record loop
	$(PYTHON) tools/bench.py --sizes $(N)

screenshots:  ## capture static/description/*.png from the served demo (make serve, same HTTP_PORT)
	$(PYTHON) tools/screenshots.py --url http://127.0.0.1:$(HTTP_PORT)
