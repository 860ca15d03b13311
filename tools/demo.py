"""The demo command (``make demo``).

Starts a private PostgreSQL cluster in ``.local/pg`` (kept between runs),
creates the database ``followup_demo`` with crm, this addon and its demo data
if it does not exist yet, backdates the demo opportunities, runs the follow-up
once and prints its JSON result. ``--serve`` then serves the database on
http://127.0.0.1:8069 (admin/admin) until Ctrl-C. The cluster is stopped on
every exit. Running it twice is safe: the second run finds the activities of
the first and schedules nothing twice.
"""

import argparse
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pgcluster

DATABASE = "followup_demo"
CLUSTER_DIR = os.path.join(pgcluster.REPO, ".local", "pg")

# Runs inside Odoo: backdate, run, print. A demo opportunity whose xml id ends
# with _stale_<N>d was last updated N days ago (see demo/*.xml).
RUN_CODE = """
import json, re, sys
import odoo
from odoo.modules.registry import Registry
from odoo.tools import SQL, config

config.parse_config(sys.argv[1:])
registry = Registry(config["db_name"][0])
with registry.cursor() as cr:
    env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
    records = env["ir.model.data"].search([
        ("module", "=", "crm_opportunity_followup"), ("model", "=", "crm.lead"),
    ])
    for record in records:
        days = re.search(r"_stale_(\\d+)d$", record.name)
        if days:
            cr.execute(SQL(
                "UPDATE crm_lead SET write_date = now() at time zone 'UTC'"
                " - make_interval(days => %s) WHERE id = %s",
                int(days.group(1)), record.res_id,
            ))
    env.invalidate_all()
    result = env["opportunity.followup.runner"].run(trigger="manual")
    print(json.dumps(result, indent=2, default=str))
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serve", action="store_true", help="serve on :8069 after")
    parser.add_argument("--http-port", type=int, default=8069)
    args = parser.parse_args()
    pgcluster.raise_on_signals()
    cluster = pgcluster.Cluster(CLUSTER_DIR)
    if not cluster.exists:
        cluster.init()
    cluster.start()
    try:
        with pgcluster.addons_path() as addons:
            options = [
                f"--addons-path={addons}",
                *cluster.odoo_options(),
                f"--database={DATABASE}",
                "--log-level=warn",
            ]
            if not cluster.database_exists(DATABASE):
                print(f"Creating {DATABASE!r} with crm, the addon and demo data...")
                subprocess.run(
                    pgcluster.odoo_command(
                        *options,
                        "--init=crm_opportunity_followup",
                        "--with-demo",
                        "--stop-after-init",
                    ),
                    check=True,
                )
            run = subprocess.run(
                [sys.executable, "-c", RUN_CODE, *options],
                capture_output=True,
                text=True,
                check=False,
            )
            if run.returncode:
                sys.exit(f"The follow-up run failed:\n{run.stderr}")
            print(json.dumps(json.loads(run.stdout), indent=2))
            if args.serve:
                print(f"Serving on http://127.0.0.1:{args.http_port} (admin/admin)")
                subprocess.run(
                    pgcluster.odoo_command(
                        *options,
                        f"--db-filter=^{DATABASE}$",
                        "--http-interface=127.0.0.1",
                        f"--http-port={args.http_port}",
                    ),
                    check=False,
                )
    except KeyboardInterrupt:
        pass
    finally:
        cluster.stop()


if __name__ == "__main__":
    main()
