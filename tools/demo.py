"""The demo command (``make demo``).

Starts a private PostgreSQL cluster in ``.local/pg`` (kept between runs),
creates the database ``followup_demo`` with crm, this addon and its demo data
if it does not exist yet (the demo data hold the stale opportunities and a
first run on the salesperson's), runs the re-engagement once on the demo
salesperson's opportunities (Marc Demo, as he would with ``/followup``) and
prints its JSON result: the team's other stale deals stay for the manager to
see marked in the pipeline and to schedule from *Stale Opportunities*. ``--serve``
then serves the database on http://127.0.0.1:8069 (admin/admin, the manager;
demo/demo, the salesperson) until Ctrl-C.
The cluster is stopped on every exit. Running it twice is safe: the database
is reused, and each run finds the activities of the ones before.

Where ``python3`` cannot import Odoo 19, it is set up in ``.local/`` first
(tools/bootstrap.py); what cannot be set up is said in one line, exit 1.

Usage: python3 tools/demo.py [--update] [--no-run] [--serve] [--http-port N]
       python3 tools/demo.py --clean
"""

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bootstrap
import pgcluster

DATABASE = "followup_demo"
CLUSTER_DIR = os.path.join(pgcluster.REPO, ".local", "pg")
RUNNER = "opportunity.followup.runner"


def fail(message):
    """Say why on stderr now (before the cluster stops), then exit 1."""
    print(message, file=sys.stderr, flush=True)
    raise SystemExit(1)


def ensure_admin_password(env):
    """admin/admin, as base's data sets it: checked, and set only if not."""
    from odoo.tools import SQL  # noqa: PLC0415 - inside Odoo only

    admin = env.ref("base.user_admin")
    env.cr.execute(
        SQL("SELECT COALESCE(password, '') FROM res_users WHERE id = %s", admin.id)
    )
    [hashed] = env.cr.fetchone()
    if not hashed or not admin._crypt_context().verify("admin", hashed):
        admin.password = "admin"
        print("Set the password of admin to 'admin'.")


def keep_offline(env):
    """The demo machine has no internet: partner_autocomplete would otherwise
    call Odoo's IAP service at the first login to enrich the company."""
    companies = env["res.company"].search([])
    if "iap_enrich_auto_done" in companies._fields:
        companies.filtered(lambda c: not c.iap_enrich_auto_done).write(
            {"iap_enrich_auto_done": True}
        )


def followup(odoo_args):
    """In a child process, inside Odoo: admin/admin, one manual run on the
    demo salesperson's opportunities, its result as JSON. Opens the registry
    as ``odoo shell`` does."""
    import odoo  # noqa: PLC0415 - inside Odoo only
    from odoo.modules.registry import Registry  # noqa: PLC0415
    from odoo.tools import config  # noqa: PLC0415

    config.parse_config(odoo_args)
    registry = Registry(config["db_name"][0])
    with registry.cursor() as cr:
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
        env = env(context=env["res.users"].context_get())
        ensure_admin_password(env)
        keep_offline(env)
        cr.commit()
        if RUNNER not in env:
            fail(
                f"The model {RUNNER} is not in the database {DATABASE}: is"
                f" {pgcluster.MODULE} installed and its runner model written?"
                " Update the database with `make demo UPDATE=1`, or rebuild it"
                " with `make demo-clean demo`."
            )
        result = env[RUNNER].run(user_id=env.ref("base.user_demo").id, trigger="manual")
        cr.commit()
    print(json.dumps(result, indent=2, default=str))


def clean():
    pgcluster.Cluster(CLUSTER_DIR).remove()
    print(f"Removed {os.path.relpath(CLUSTER_DIR, pgcluster.REPO)}")


def create_database(cluster, options):
    print(f"Creating {DATABASE!r} with crm, {pgcluster.MODULE} and demo data...")
    started = time.monotonic()
    try:
        returncode = pgcluster.run_foreground(
            pgcluster.odoo_command(
                *options,
                f"--init={pgcluster.MODULE}",
                "--with-demo",
                "--stop-after-init",
            )
        )
    except BaseException:
        cluster.drop_database(DATABASE)
        raise
    if returncode:
        cluster.drop_database(DATABASE)
        fail(f"Creating {DATABASE!r} failed (exit {returncode}): see above.")
    print(f"Created {DATABASE!r} in {time.monotonic() - started:.0f} s")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serve", action="store_true", help="serve it afterwards")
    parser.add_argument("--http-port", type=int, default=8069)
    parser.add_argument(
        "--update", action="store_true", help="update the addon in the database"
    )
    parser.add_argument("--no-run", action="store_true", help="no follow-up run")
    parser.add_argument("--clean", action="store_true", help="remove .local/pg")
    args = parser.parse_args()
    try:
        missing = bootstrap.prepare(harness=False, setup=not args.clean)
    except bootstrap.Missing as exc:
        fail(str(exc))
    if args.clean:
        clean()
        return
    if missing:
        fail(missing)
    if args.serve and not pgcluster.port_is_free(args.http_port):
        fail(
            f"Port {args.http_port} is in use on 127.0.0.1: stop what serves it, or"
            " pick another one (make serve HTTP_PORT=8070)."
        )
    pgcluster.raise_on_signals()
    cluster = pgcluster.Cluster(CLUSTER_DIR)
    started = time.monotonic()
    if not cluster.exists:
        print(f"Creating a PostgreSQL cluster in {CLUSTER_DIR}")
        cluster.init()
    cluster.start()
    print(
        f"PostgreSQL on 127.0.0.1:{cluster.port} ({CLUSTER_DIR}),"
        f" {time.monotonic() - started:.0f} s"
    )
    try:
        with pgcluster.addons_path() as addons:
            options = [
                f"--addons-path={addons}",
                *cluster.odoo_options(),
                f"--database={DATABASE}",
                "--http-interface=127.0.0.1",
                "--log-level=warn",
            ]
            if not cluster.database_exists(DATABASE):
                create_database(cluster, options)
            elif args.update:
                print(f"Updating {pgcluster.MODULE} in {DATABASE!r}...")
                returncode = pgcluster.run_foreground(
                    pgcluster.odoo_command(
                        *options, f"--update={pgcluster.MODULE}", "--stop-after-init"
                    )
                )
                if returncode:
                    fail(f"The update failed (exit {returncode}): see above.")
            if not args.no_run:
                returncode = pgcluster.run_foreground(
                    [sys.executable, os.path.abspath(__file__), "--followup", *options]
                )
                if returncode:
                    fail(f"The follow-up run failed (exit {returncode}): see above.")
            if args.serve:
                print(
                    f"Serving {DATABASE!r} on http://127.0.0.1:{args.http_port}"
                    " (admin/admin, the manager; demo/demo, the salesperson);"
                    " Ctrl-C stops it."
                )
                pgcluster.run_foreground(
                    pgcluster.odoo_command(
                        *options,
                        f"--db-filter=^{DATABASE}$",
                        f"--http-port={args.http_port}",
                    )
                )
    except KeyboardInterrupt:
        print("Interrupted.")
    finally:
        with pgcluster.shielded():
            cluster.stop()
            print("PostgreSQL stopped.")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--followup"]:
        followup(sys.argv[2:])
    else:
        main()
