"""Benchmark (``make bench N=10000``): this addon against the other ways.

On a throwaway PostgreSQL cluster it generates a pipeline of N opportunities
(50 % stale, 20 % stale with an open activity, 10 % won, 20 % recent; 10
salespeople, 3 teams; each with a note and a completed activity two months
old, for the stale clock to look through) in a template database, then runs
each contender on its own identical copy, in its own Odoo process:

- ``addon``: ``env["opportunity.followup.runner"].run()``;
- ``automation``: Odoo's own Automation Rule (base_automation), time trigger on
  the last update + 14 days, filtered on open, not-won opportunities without an
  activity, with a Create Activity action; run as its cron runs it;
- ``loop``: a plain per-record ORM loop with ``activity_schedule``;
- ``oca``: OCA's crm_lead_escalation, only where it is installed.

For each: wall seconds of the run, ms and SQL queries per created activity,
peak memory of the process, activities created, and the activities a second
run right after creates (duplicates). ``--explain`` prints the detect query's
plan at 100,000 opportunities of a mature database (5 % stale, 45 % recent,
50 % lost and archived) with and without the addon's index.

Usage: python3 tools/bench.py [--sizes 1000,10000,50000] [--slow-peers-max 10000]
       [--explain]
"""

import argparse
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pgcluster

TEMPLATE = "bench_template"
ADDONS = "crm,base_automation,crm_opportunity_followup"

GENERATE = """
import random, sys
import odoo
from odoo.modules.registry import Registry
from odoo.tools import SQL, config

size, profile = int(sys.argv[1]), sys.argv[2]
config.parse_config(sys.argv[3:])
registry = Registry(config["db_name"][0])
random.seed(42)
with registry.cursor() as cr:
    env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {
        "tracking_disable": True,
        "mail_create_nolog": True,
        "mail_create_nosubscribe": True,
        "mail_notrack": True,
        "mail_activity_quick_update": True,
    })
    salesman = env.ref("sales_team.group_sale_salesman")
    users = env["res.users"].create([
        {"name": f"Bench Seller {i}", "login": f"bench{i}@example.com",
         "email": f"bench{i}@example.com", "group_ids": [(6, 0, salesman.ids)]}
        for i in range(10)
    ])
    teams = env["crm.team"].create([
        {"name": f"Bench Team {i}", "user_id": users[i].id} for i in range(3)
    ])
    won = env["crm.stage"].search([("is_won", "=", True)], limit=1)
    open_stages = env["crm.stage"].search([("is_won", "=", False)])
    if profile == "bench":
        kinds = ["stale"] * 50 + ["pending"] * 20 + ["won"] * 10 + ["recent"] * 20
    else:  # a mature database: mostly lost (archived) and recent records
        kinds = ["stale"] * 5 + ["recent"] * 45 + ["lost"] * 50
    todo = env.ref("mail.mail_activity_data_todo")
    note = env.ref("mail.mt_note")
    model_id = env["ir.model"]._get_id("crm.lead")
    for start in range(0, size, 2000):
        batch = range(start, min(start + 2000, size))
        leads = env["crm.lead"].create([
            {"name": f"Bench {i} ({kinds[i % 100]})", "type": "opportunity",
             "user_id": users[i % 10].id, "team_id": teams[i % 3].id,
             "stage_id": (won if kinds[i % 100] == "won"
                          else open_stages[i % len(open_stages)]).id}
            for i in batch
        ])
        pending = leads.filtered(lambda lead: "(pending)" in lead.name)
        env["mail.activity"].create([
            {"res_model_id": model_id, "res_id": lead.id, "activity_type_id": todo.id,
             "summary": "Planned call", "user_id": lead.user_id.id}
            for lead in pending
        ])
        # A history for the stale clock to look through: every opportunity
        # has a note and a completed activity, two months old (see below).
        env["mail.activity"].create([
            {"res_model_id": model_id, "res_id": lead.id, "activity_type_id": todo.id,
             "summary": "Bench history", "user_id": lead.user_id.id}
            for lead in leads
        ])
        env["mail.message"].create([
            {"model": "crm.lead", "res_id": lead.id, "message_type": "comment",
             "subtype_id": note.id, "body": "Bench history: called, sent the brochure.",
             "author_id": lead.user_id.partner_id.id}
            for lead in leads
        ])
        env.flush_all()
        cr.commit()
    cr.execute(SQL(
        "UPDATE crm_lead SET write_date = now() at time zone 'UTC'"
        " - make_interval(days => 20 + (id %% 40)) WHERE name NOT LIKE %s",
        "%(recent)",
    ))
    cr.execute(SQL(
        "UPDATE crm_lead SET write_date = now() at time zone 'UTC' - interval '2 days'"
        " WHERE name LIKE %s", "%(recent)",
    ))
    cr.execute(SQL(
        "UPDATE crm_lead SET active = false WHERE name LIKE %s", "%(lost)",
    ))
    cr.execute(
        "UPDATE mail_activity SET active = false,"
        " date_done = (now() - interval '60 days')::date"
        " WHERE summary = 'Bench history'"
    )
    cr.execute(
        "UPDATE mail_message SET date = now() at time zone 'UTC' - interval '60 days'"
        " WHERE model = 'crm.lead' AND body::text LIKE '%Bench history%'"
    )
    cr.execute("ANALYZE")
"""

RUN = """
import json, resource, sys, time
import odoo
import odoo.sql_db
from odoo.modules.registry import Registry
from odoo.tools import config

contender = sys.argv[1]
config.parse_config(sys.argv[2:])
registry = Registry(config["db_name"][0])
queries = [0]
execute = odoo.sql_db.Cursor.execute

def counting_execute(self, *args, **kwargs):
    queries[0] += 1
    return execute(self, *args, **kwargs)

def count_followups(cr):
    cr.execute("SELECT count(*) FROM mail_activity"
               " WHERE res_model = 'crm.lead' AND active"
               " AND create_date > now() at time zone 'UTC' - interval '1 day'"
               " AND summary LIKE 'Re-engage:%%'")
    return cr.fetchone()[0]

def run_once(env):
    if contender == "addon":
        env["opportunity.followup.runner"].run(stale_days=14)
    elif contender == "automation":
        env["base.automation"]._cron_process_time_based_actions()
    elif contender == "loop":
        from datetime import timedelta
        from odoo import fields
        cutoff = fields.Datetime.now() - timedelta(days=14)
        for lead in env["crm.lead"].search([
            ("type", "=", "opportunity"), ("write_date", "<", cutoff),
        ]):
            if lead.stage_id.is_won or lead.activity_ids:
                continue
            days = (fields.Datetime.now() - lead.write_date).days
            lead.activity_schedule(
                "mail.mail_activity_data_call",
                date_deadline=fields.Date.today() + timedelta(days=2),
                summary=f"Re-engage: {lead.name} (stale {days} days)",
                note=f"{lead.name} has had no update for {days} days.",
                user_id=lead.user_id.id,
            )

with registry.cursor() as cr:
    env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
    if contender == "automation":
        env["base.automation"].create({
            "name": "Re-engage stale opportunities",
            "model_id": env["ir.model"]._get_id("crm.lead"),
            "trigger": "on_time",
            "trg_date_id": env["ir.model.fields"]._get("crm.lead", "write_date").id,
            "trg_date_range": 14,
            "trg_date_range_type": "day",
            "trg_date_range_mode": "after",
            # No open activity. The obvious ('activity_ids', '=', False) counts
            # completed (archived) activities too: such a rule never fires on
            # an opportunity that ever had one.
            "filter_domain": "[('type', '=', 'opportunity'),"
                             " ('won_status', '!=', 'won'),"
                             " ('activity_ids', 'not any', [('active', '=', True)])]",
            "action_server_ids": [(0, 0, {
                "name": "Create a re-engagement activity",
                "model_id": env["ir.model"]._get_id("crm.lead"),
                "state": "next_activity",
                "activity_type_id": env.ref("mail.mail_activity_data_call").id,
                "activity_summary": "Re-engage: stale opportunity",
                "activity_date_deadline_range": 2,
                "activity_date_deadline_range_type": "days",
                "activity_user_type": "generic",
                "activity_user_field_name": "user_id",
            })],
        })
        # The summary of a Create Activity action is fixed text: count its own.
        cr.commit()
    before = count_followups(cr)
    cr.execute("SELECT now() at time zone 'UTC'")
    start_stamp = cr.fetchone()[0]
    cr.commit()
    odoo.sql_db.Cursor.execute = counting_execute
    started = time.monotonic()
    run_once(env)
    cr.commit()
    wall = time.monotonic() - started
    odoo.sql_db.Cursor.execute = execute
    created = count_followups(cr) - before
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    cr.execute("SELECT count(*) FROM crm_lead WHERE write_date >= %s", [start_stamp])
    restamped = cr.fetchone()[0]
    run_once(env)
    cr.commit()
    duplicates = count_followups(cr) - before - created
    cr.execute("SELECT count(*) FROM mail_mail")
    mails = cr.fetchone()[0]
    print(json.dumps({"wall": wall, "queries": queries[0], "created": created,
                      "peak_mb": peak_mb, "duplicates": duplicates, "mails": mails,
                      "restamped": restamped}))
"""

EXPLAIN = """
import sys
import odoo
from datetime import timedelta
from odoo import fields
from odoo.modules.registry import Registry
from odoo.tools import SQL, config

config.parse_config(sys.argv[1:])
registry = Registry(config["db_name"][0])
with registry.cursor() as cr:
    env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
    cutoff = fields.Datetime.now() - timedelta(days=14)
    query = env["crm.lead"]._search([
        ("type", "=", "opportunity"),
        ("active", "=", True),
        ("write_date", "<", cutoff),
    ], order="id")
    for label in ("with the addon's index", "without it"):
        cr.execute(SQL("EXPLAIN (ANALYZE, BUFFERS) %s", query.select()))
        print(f"--- {label}")
        print("\\n".join(row[0] for row in cr.fetchall()))
        cr.execute("DROP INDEX IF EXISTS crm_lead_followup_stale_index")
    cr.rollback()
"""


def odoo_options(cluster, addons, database):
    return [
        f"--addons-path={addons}",
        *cluster.odoo_options(),
        f"--database={database}",
        "--log-level=warn",
        "--max-cron-threads=0",
    ]


def psql(cluster, sql, database="postgres"):
    host = ["-h", "127.0.0.1", "-p", str(cluster.port), "-U", pgcluster.DB_USER]
    subprocess.run(["psql", "-q", *host, "-d", database, "-c", sql], check=True)


def python(code, *argv):
    result = subprocess.run(
        [sys.executable, "-c", code, *argv], capture_output=True, text=True, check=False
    )
    if result.returncode:
        sys.exit(f"child failed:\n{result.stderr[-4000:]}")
    return result.stdout


def prepare(cluster, addons, size, profile="bench"):
    psql(cluster, f"DROP DATABASE IF EXISTS {TEMPLATE}")
    subprocess.run(
        pgcluster.odoo_command(
            *odoo_options(cluster, addons, TEMPLATE),
            f"--init={ADDONS}",
            "--stop-after-init",
        ),
        check=True,
    )
    started = time.monotonic()
    python(GENERATE, str(size), profile, *odoo_options(cluster, addons, TEMPLATE))
    # As autovacuum would, before the plans and the runs are measured.
    psql(cluster, "VACUUM ANALYZE", database=TEMPLATE)
    print(f"  generated {size} opportunities in {time.monotonic() - started:.0f} s")


def measure(cluster, addons, contender):
    database = f"bench_{contender}"
    psql(cluster, f"DROP DATABASE IF EXISTS {database}")
    psql(cluster, f"CREATE DATABASE {database} TEMPLATE {TEMPLATE}")
    return json.loads(python(RUN, contender, *odoo_options(cluster, addons, database)))


def oca_installed():
    probe = "import odoo.addons.crm_lead_escalation"
    return (
        subprocess.run([sys.executable, "-c", probe], capture_output=True).returncode
        == 0
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument(
        "--slow-peers-max",
        type=int,
        default=10000,
        help="skip the automation rule and the loop above this size",
    )
    parser.add_argument("--explain", action="store_true")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",") if size]
    results = {}
    with pgcluster.throwaway_cluster() as cluster, pgcluster.addons_path() as addons:
        for size in sizes:
            print(f"== N = {size}")
            prepare(cluster, addons, size)
            rows = {}
            for contender in ("addon", "automation", "loop", "oca"):
                if contender == "oca" and not oca_installed():
                    print("  oca: skipped (crm_lead_escalation is not installed)")
                    continue
                if contender != "addon" and size > args.slow_peers_max:
                    print(
                        f"  {contender}: skipped (slow peer, N > {args.slow_peers_max})"
                    )
                    continue
                rows[contender] = measure(cluster, addons, contender)
                print(f"  {contender}: {rows[contender]}")
            results[size] = rows
            print_table(size, rows)
        if args.explain:
            print("== EXPLAIN ANALYZE of the detect query at N = 100000")
            prepare(cluster, addons, 100000, profile="explain")
            print(python(EXPLAIN, *odoo_options(cluster, addons, TEMPLATE)))
    if {10000, 50000} <= set(results):
        per_10k = per_activity(results[10000]["addon"])
        per_50k = per_activity(results[50000]["addon"])
        print(f"addon ms/activity at 50k / at 10k: {per_50k / per_10k:.2f}")
    os.makedirs(os.path.join(pgcluster.REPO, "bench-results"), exist_ok=True)
    path = os.path.join(
        pgcluster.REPO, "bench-results", f"bench-{int(time.time())}.json"
    )
    with open(path, "w") as file:
        json.dump(results, file, indent=2)
    print(f"results: {path}")


def per_activity(row):
    return row["wall"] * 1000 / max(row["created"], 1)


def print_table(size, rows):
    addon = rows.get("addon")
    print(
        f"\n| N = {size} | wall s | ms/activity | queries/activity | peak MB "
        "| activities | duplicates on 2nd run | e-mails queued | leads re-stamped "
        "| wall vs addon |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, row in rows.items():
        ratio = row["wall"] / addon["wall"] if addon else float("nan")
        print(
            f"| {name} | {row['wall']:.2f} | {per_activity(row):.2f} "
            f"| {row['queries'] / max(row['created'], 1):.2f} | {row['peak_mb']:.0f} "
            f"| {row['created']} | {row['duplicates']} | {row['mails']} "
            f"| {row['restamped']} | {ratio:.1f}x |"
        )
    print()


if __name__ == "__main__":
    main()
