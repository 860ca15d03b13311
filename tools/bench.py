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
peak memory of the process, activities created, and the opportunities left
with two open re-engagements by a second run right after (duplicates). The
addon runs in seconds, as noisy as the machine: it runs before the peers,
after each one and again up to three runs, each on a fresh copy, and its
median run is reported with every run's time.
``--profile`` runs the addon again, on its own copy, under cProfile in its
Odoo process, and prints its top functions by cumulative and by own time,
those of the addon and of the ORM, SQL and Odoo model code it calls, with
their share of the run (``--profile-top``: how many).
``--explain`` prints the detect query's plan at 100,000 opportunities of a
mature database (5 % stale, 45 % recent, 50 % lost and archived) with and
without the addon's index.

The log's own costs, each on its own databases (``--sizes ""`` runs only them):

- ``--deletion``: 10,000 opportunities, each with one open activity, whose
  activities are deleted with the ORM, 1,000 per transaction, on ``crm``
  alone and on ``crm`` + this addon with 1,000,000 log lines present (20,000
  of them referring to activities, those deleted included). Seconds, ms per
  activity, and the ratio to ``crm`` alone (the target: at most 1.5). The
  lines keep the id of a deleted activity (no foreign key to rewrite them).
- ``--purge``: 100,000 logs of 400 days ago (``--purge-logs``) holding
  1,000,000 lines, and 1,000 recent ones; the purge's scheduled action run as
  the scheduler runs it (``method_direct_trigger``, 10 s per call) until no
  old log is left: seconds, calls, the longest transaction of the job,
  lines per second. Then, on a copy, the purge before its batches of lines:
  one unlink of 1,000 old logs, their lines deleted by the cascade.

- ``--escalation``: the addon's run on the N pipeline where the 20 % of
  opportunities with an open activity hold a re-engagement a month overdue
  instead: it schedules the stale ones and escalates those (the activities
  created count both).
- ``--revival``: the daily refresh of the re-engagements' results over
  100,000 scheduled log lines (``--revival-lines``) of the last four weeks on
  a 10,000-opportunity pipeline, a quarter of them with a message after their
  re-engagement: wall seconds, queries, peak memory; and the same at a fifth
  of the lines, for the memory to compare.

- ``--quotes``: Sales (``sale_crm``) installed, and a third of the
  opportunities with a quotation 45 days old (older than their other work:
  the same opportunities are stale), half of those sent, a quarter answered
  by the customer: what reading the work on linked documents costs (compare
  with the same run without ``--quotes``; the target: at most 25 % slower).

Usage: python3 tools/bench.py [--sizes 1000,10000,50000] [--slow-peers-max 10000]
       [--quotes] [--profile [--profile-top 25]] [--explain] [--deletion]
       [--purge [--purge-logs 100000]] [--escalation]
       [--revival [--revival-lines 100000]]
"""

import argparse
import json
import os
import pstats
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pgcluster

TEMPLATE = "bench_template"
ADDONS = "crm,base_automation,crm_opportunity_followup"
# The addon's runs at each size: its median is reported (see
# measure_contenders).
ADDON_RUNS = 3
# --deletion: the opportunities, each with one open activity, whose activities
# are deleted.
DELETION_COUNT = 10000
DELETION_ROUNDS = 3
# Log lines present in --deletion and purged by --purge.
LOG_LINE_COUNT = 1000000
# --purge: no new call of the cron after so many seconds.
PURGE_DEADLINE = 360

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
    # Team leaders see their team's opportunities ("All Documents").
    users[:3].group_ids = [(4, env.ref("sales_team.group_sale_salesman_all_leads").id)]
    teams = env["crm.team"].create([
        {"name": f"Bench Team {i}", "user_id": users[i].id} for i in range(3)
    ])
    won = env["crm.stage"].search([("is_won", "=", True)], limit=1)
    open_stages = env["crm.stage"].search([("is_won", "=", False)])
    if profile == "bench":
        kinds = ["stale"] * 50 + ["pending"] * 20 + ["won"] * 10 + ["recent"] * 20
    elif profile == "deletion":  # each with one open activity, to delete
        kinds = ["pending"] * 100
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

# --features: every people's-time feature on (working-day deadlines are on
# by default): a daily cap a little under what each salesperson would get, one
# stage with its own threshold, and 2 % of the stale opportunities paused.
FEATURES = """
import sys
import odoo
from odoo.modules.registry import Registry
from odoo.tools import SQL, config

config.parse_config(sys.argv[1:])
registry = Registry(config["db_name"][0])
with registry.cursor() as cr:
    env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
    icp = env["ir.config_parameter"]
    icp.set_param("crm_opportunity_followup.daily_cap", "450")
    stage = env["crm.stage"].search([("is_won", "=", False)], limit=1)
    stage.followup_stale_days = 10
    env.flush_all()
    cr.execute(SQL(
        "UPDATE crm_lead SET followup_paused_until = now() + interval '30 days'"
        " WHERE name LIKE %s AND id %% 50 = 0", "%(stale)",
    ))
"""

# --quotes: a third of the opportunities get a quotation of 45 days ago, half
# of them sent (the salesperson's email), a quarter answered by the customer.
QUOTES = """
import sys
import odoo
from odoo.modules.registry import Registry
from odoo.tools import SQL, config

config.parse_config(sys.argv[1:])
registry = Registry(config["db_name"][0])
with registry.cursor() as cr:
    env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {
        "tracking_disable": True,
        "mail_create_nolog": True,
        "mail_create_nosubscribe": True,
        "mail_notrack": True,
    })
    customer = env["res.partner"].create({"name": "Bench Customer",
                                          "email": "customer@example.com"})
    product = env["product.product"].create({"name": "Bench Chair", "list_price": 450})
    comment = env.ref("mail.mt_comment")
    leads = env["crm.lead"].search([("type", "=", "opportunity")], order="id")
    leads = leads.filtered(lambda lead: lead.id % 3 == 0)
    for start in range(0, len(leads), 1000):
        batch = leads[start:start + 1000]
        orders = env["sale.order"].create([
            {"partner_id": customer.id, "opportunity_id": lead.id,
             "user_id": lead.user_id.id,
             "order_line": [(0, 0, {"product_id": product.id, "product_uom_qty": 10})]}
            for lead in batch
        ])
        sent = orders.filtered(lambda order: order.id % 2 == 0)
        sent.write({"state": "sent"})
        env["mail.message"].create([
            {"model": "sale.order", "res_id": order.id, "message_type": "comment",
             "subtype_id": comment.id, "body": "Bench quotation sent.",
             "author_id": order.user_id.partner_id.id}
            for order in sent
        ] + [
            {"model": "sale.order", "res_id": order.id, "message_type": "email",
             "subtype_id": comment.id, "body": "Bench answer: looks good.",
             "author_id": customer.id}
            for order in sent.filtered(lambda order: order.id % 4 == 0)
        ])
        env.flush_all()
        cr.commit()
    cr.execute(
        "UPDATE sale_order SET write_date = now() at time zone 'UTC'"
        " - interval '45 days'"
    )
    cr.execute(
        "UPDATE mail_message SET date = now() at time zone 'UTC' - interval '45 days'"
        " WHERE model = 'sale.order'"
    )
    cr.execute("ANALYZE")
"""

# --escalation: the planned activities become re-engagements a month overdue,
# on opportunities still stale: each is escalated to its team leader (where
# the leader is not its salesperson).
ESCALATION = """
import sys
import odoo
from odoo.modules.registry import Registry
from odoo.tools import config

config.parse_config(sys.argv[1:])
registry = Registry(config["db_name"][0])
with registry.cursor() as cr:
    cr.execute(
        "UPDATE mail_activity SET is_followup = true,"
        " date_deadline = (now() - interval '30 days')::date"
        " WHERE summary = 'Planned call'"
    )
    cr.execute("ANALYZE mail_activity")
"""

RUN = """
import cProfile, json, resource, sys, time
import odoo
import odoo.sql_db
from odoo.modules.registry import Registry
from odoo.tools import config

# The file the run's profile is written to; empty: not profiled.
contender, profile_path = sys.argv[1], sys.argv[2]
config.parse_config(sys.argv[3:])
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
               " AND (summary LIKE 'Re-engage:%%' OR summary LIKE 'Escalation:%%')")
    return cr.fetchone()[0]

def run_once(env):
    if contender == "addon":
        # As the daily job runs it: the settings' 14 days, and with
        # --features each stage's own threshold.
        env["opportunity.followup.runner"].run()
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
    profiler = cProfile.Profile() if profile_path else None
    started, cpu_started = time.monotonic(), time.process_time()
    if profiler:
        profiler.enable()
    run_once(env)
    cr.commit()
    if profiler:
        profiler.disable()
    wall = time.monotonic() - started
    # The Odoo process's own CPU time (PostgreSQL's is not in it): on a
    # loaded machine, steadier than the wall time from one run to the next.
    cpu = time.process_time() - cpu_started
    if profiler:
        profiler.dump_stats(profile_path)
    odoo.sql_db.Cursor.execute = execute
    created = count_followups(cr) - before
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    cr.execute("SELECT count(*) FROM crm_lead WHERE write_date >= %s", [start_stamp])
    restamped = cr.fetchone()[0]
    run_once(env)
    cr.commit()
    # Opportunities holding two open re-engagements after the second run (a
    # daily cap's deferred ones are booked by it, once: no duplicates).
    cr.execute("SELECT count(*) FROM (SELECT res_id FROM mail_activity"
               " WHERE res_model = 'crm.lead' AND active"
               " AND summary LIKE 'Re-engage:%%'"
               " GROUP BY res_id HAVING count(*) > 1) twice")
    duplicates = cr.fetchone()[0]
    cr.execute("SELECT count(*) FROM mail_mail")
    mails = cr.fetchone()[0]
    print(json.dumps({"wall": wall, "cpu": cpu, "queries": queries[0],
                      "created": created, "peak_mb": peak_mb,
                      "duplicates": duplicates, "mails": mails,
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


# ``logs`` runs of the daily job, started ``days`` days ago (a minute apart),
# holding ``lines`` log lines in all, each run's lines together as a run
# writes them. As in real life most lines have no activity (skipped ones):
# every 50th is a scheduled one, with a drafted note, linked to the next
# activity on an opportunity while there are some (open or completed).
LOG_LINES = """
WITH runs AS (
    INSERT INTO workflow_log (workflow_name, trigger, state, company_id, user_id,
        date_start, date_end, duration, stale_days, dry_run, parameters, message,
        stale_count, scheduled_count, skipped_pending_count,
        create_uid, write_uid, create_date, write_date)
    SELECT 'opportunity_follow_up', 'cron', 'done', 1, 1, stamp, stamp, 1.0, 14,
        false, json_build_object('stale_days', 14),
        'Found some stale opportunities older than 14 days.', 0, 0, 0,
        1, 1, stamp, stamp
    FROM (
        SELECT now() at time zone 'UTC' - make_interval(days => {days}, mins => g)
            AS stamp
        FROM generate_series(1, {logs}) AS g
    ) AS stamps
    RETURNING id
), logs AS (
    SELECT array_agg(id ORDER BY id) AS ids FROM runs
), refs AS (
    SELECT array_agg(id ORDER BY id) AS ids, array_agg(res_id ORDER BY id) AS leads,
        array_agg(user_id ORDER BY id) AS users
    FROM mail_activity WHERE res_model = 'crm.lead'
)
INSERT INTO workflow_log_line (log_id, company_id, lead_id, outcome, activity_ref,
    assignee_id, days_stale, note, reason, create_uid, write_uid, create_date,
    write_date)
SELECT logs.ids[1 + ((g - 1)::bigint * {logs} / {lines})::int], 1,
    CASE WHEN g % 50 = 0 THEN refs.leads[g / 50] END,
    CASE WHEN g % 50 = 0 THEN 'scheduled' ELSE 'skipped_pending' END,
    CASE WHEN g % 50 = 0 THEN refs.ids[g / 50] END,
    CASE WHEN g % 50 = 0 THEN refs.users[g / 50] END,
    20,
    CASE WHEN g % 50 = 0 THEN '<p>Hello, it has been a while since we last'
        ' talked about your project. Do you have a few minutes this week for a'
        ' call? I would be glad to hear where things stand.</p>' END,
    CASE WHEN g % 50 <> 0 THEN 'It already has an open activity.' END,
    1, 1, now() at time zone 'UTC', now() at time zone 'UTC'
FROM generate_series(1, {lines}) AS g, logs, refs
"""

# The activities to delete, no longer on any log line: as for most
# activities deleted in a database.
UNLINK_PLANNED = """
UPDATE workflow_log_line SET activity_ref = NULL WHERE activity_ref IN (
    SELECT id FROM mail_activity WHERE summary = 'Planned call'
)
"""

DELETE_ACTIVITIES = """
import json, sys, time
import odoo
from odoo.modules.registry import Registry
from odoo.tools import config, split_every

count = int(sys.argv[1])
config.parse_config(sys.argv[2:])
registry = Registry(config["db_name"][0])
with registry.cursor() as cr:
    env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
    Activity = env["mail.activity"]
    ids = Activity.search(
        [("res_model", "=", "crm.lead"), ("summary", "=", "Planned call")],
        order="id", limit=count,
    ).ids
    cr.commit()
    started = time.monotonic()
    # As Odoo's own code deletes activities (a cleanup job, a deleted record).
    for batch in split_every(1000, ids):
        Activity.browse(batch).unlink()
        cr.commit()
    wall = time.monotonic() - started
    cr.execute("SELECT count(*) FROM mail_activity WHERE id = ANY(%s)", [ids])
    left = cr.fetchone()[0]
    cr.execute("SELECT to_regclass('workflow_log_line') IS NOT NULL")
    linked = 0
    if cr.fetchone()[0]:
        cr.execute(
            "SELECT count(*) FROM workflow_log_line WHERE activity_ref = ANY(%s)",
            [ids],
        )
        linked = cr.fetchone()[0]
    print(json.dumps({"wall": wall, "deleted": len(ids) - left, "linked": linked}))
"""

# The purge as the scheduler runs it, call after call until no old log is
# left (or ``deadline`` seconds have passed). Every transaction of the job's
# cursors is timed, from its first query to its commit or rollback; the
# calling cursor, which holds the job's ir_cron row during a call as Odoo's
# scheduler does, is not the purge's and is left out.
PURGE = """
import json, re, sys, threading, time
import odoo
import odoo.sql_db
from odoo.modules.registry import Registry
from odoo.tools import config

deadline = float(sys.argv[1])
config.parse_config(sys.argv[2:])
registry = Registry(config["db_name"][0])
Cursor = odoo.sql_db.Cursor
DELETE = re.compile(r'DELETE FROM "?([a-z0-9_]+)')
# cursor id -> (start, tables deleted from) of its open transaction;
# spans: (seconds, tables deleted from) of each ended one.
cr, opened, spans = None, {}, []

def on_query(cursor, query, params, start, delay):
    _start, tables = opened.setdefault(id(cursor), (start, set()))
    if match := DELETE.match(query if isinstance(query, str) else ""):
        tables.add(match[1])

def ending(method):
    def ended(self):
        try:
            return method(self)
        finally:
            start, tables = opened.pop(id(self), (None, None))
            if start is not None and self is not cr:
                spans.append((time.time() - start, sorted(tables)))
    return ended

Cursor.commit = ending(Cursor.commit)
Cursor.rollback = ending(Cursor.rollback)
threading.current_thread().query_hooks = [on_query]
# The old logs are 400 days old, the recent ones 10: the retention is 180.
OLD = "date_start < now() at time zone 'UTC' - interval '200 days'"

def count(query):
    cr.execute(query)
    number = cr.fetchone()[0]
    cr.commit()
    return number

def lines_of(where):
    return count("SELECT count(*) FROM workflow_log_line JOIN workflow_log"
                 f" ON workflow_log.id = log_id WHERE {where}")

with registry.cursor() as cr:
    env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
    cron = env.ref("crm_opportunity_followup.ir_cron_workflow_log_purge")
    progress = f"SELECT count(*) FROM ir_cron_progress WHERE cron_id = {cron.id}"
    old_lines, callbacks = lines_of(OLD), count(progress)
    calls, longest_call = 0, 0.0
    started = time.monotonic()
    while (count(f"SELECT count(*) FROM workflow_log WHERE {OLD}")
           and time.monotonic() - started < deadline):
        call_started = time.monotonic()
        cron.method_direct_trigger()
        cr.commit()
        calls += 1
        longest_call = max(longest_call, time.monotonic() - call_started)
    wall = time.monotonic() - started
    print(json.dumps({
        "wall": wall, "calls": calls, "callbacks": count(progress) - callbacks,
        "transactions": len(spans),
        "longest": max(spans, default=(0.0, []))[0],
        "longest_deletes": max(spans, default=(0.0, []))[1],
        "longest_call": longest_call, "lines": old_lines - lines_of(OLD),
        "logs_left": count(f"SELECT count(*) FROM workflow_log WHERE {OLD}"),
        "kept_logs": count(f"SELECT count(*) FROM workflow_log WHERE NOT ({OLD})"),
        "kept_lines": lines_of(f"NOT ({OLD})"),
    }))
"""

# The purge before the batches of lines: one unlink of a batch of old logs,
# their lines deleted by the cascade, all in one transaction.
OLD_PURGE = """
import json, sys, time
from datetime import timedelta
import odoo
from odoo import fields
from odoo.modules.registry import Registry
from odoo.tools import config

config.parse_config(sys.argv[1:])
registry = Registry(config["db_name"][0])
with registry.cursor() as cr:
    env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
    cutoff = fields.Datetime.now() - timedelta(days=200)
    logs = env["workflow.log"].search([("date_start", "<", cutoff)], limit=1000)
    cr.execute("SELECT count(*) FROM workflow_log_line WHERE log_id = ANY(%s)",
               [logs.ids])
    lines = cr.fetchone()[0]
    cr.commit()
    started = time.monotonic()
    logs.unlink()
    cr.commit()
    print(json.dumps({"wall": time.monotonic() - started, "logs": len(logs),
                      "lines": lines}))
"""


# --revival: scheduled lines of runs of the last four weeks, on the bench
# pipeline's opportunities (their stage then: the current one); a quarter of
# the opportunities get a note a day ago, after every re-engagement.
REVIVAL_LINES = """
WITH runs AS (
    INSERT INTO workflow_log (workflow_name, trigger, state, company_id, user_id,
        date_start, date_end, duration, stale_days, dry_run, parameters,
        create_uid, write_uid, create_date, write_date)
    SELECT 'opportunity_follow_up', 'cron', 'done', 1, 1, stamp, stamp, 1.0, 14,
        false, json_build_object('stale_days', 14), 1, 1, stamp, stamp
    FROM (
        SELECT now() at time zone 'UTC' - make_interval(days => 2 + g) AS stamp
        FROM generate_series(1, 28) AS g
    ) AS stamps
    RETURNING id
), logs AS (
    SELECT array_agg(id ORDER BY id) AS ids FROM runs
), leads AS (
    SELECT array_agg(id ORDER BY id) AS ids, array_agg(user_id ORDER BY id) AS users,
        array_agg(stage_id ORDER BY id) AS stages,
        array_agg(team_id ORDER BY id) AS teams, count(*) AS n
    FROM crm_lead WHERE active
)
INSERT INTO workflow_log_line (log_id, company_id, lead_id, outcome, assignee_id,
    stage_id, team_id, days_stale, revival_result, create_uid, write_uid,
    create_date, write_date)
SELECT logs.ids[1 + g % 28], 1, leads.ids[1 + g % leads.n], 'scheduled',
    leads.users[1 + g % leads.n], leads.stages[1 + g % leads.n],
    leads.teams[1 + g % leads.n], 20, 'pending',
    1, 1, now() at time zone 'UTC', now() at time zone 'UTC'
FROM generate_series(1, {lines}) AS g, logs, leads;
INSERT INTO mail_message (model, res_id, message_type, body, author_id, date,
    create_uid, write_uid, create_date, write_date)
SELECT 'crm.lead', id, 'comment', '<p>Sent the new offer.</p>', 3,
    now() at time zone 'UTC' - interval '1 day', 1, 1,
    now() at time zone 'UTC', now() at time zone 'UTC'
FROM crm_lead WHERE id % 4 = 0;
"""

REFRESH = """
import json, resource, sys, time
import odoo
import odoo.sql_db
from odoo.modules.registry import Registry
from odoo.tools import config

config.parse_config(sys.argv[1:])
registry = Registry(config["db_name"][0])
queries = [0]
execute = odoo.sql_db.Cursor.execute

def counting_execute(self, *args, **kwargs):
    queries[0] += 1
    return execute(self, *args, **kwargs)

with registry.cursor() as cr:
    env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
    cr.execute("SELECT count(*) FROM workflow_log_line WHERE outcome = 'scheduled'")
    lines = cr.fetchone()[0]
    odoo.sql_db.Cursor.execute = counting_execute
    started = time.monotonic()
    env["workflow.log.line"]._cron_followup_refresh_revival()
    cr.commit()
    wall = time.monotonic() - started
    odoo.sql_db.Cursor.execute = execute
    cr.execute(
        "SELECT revival_result, count(*) FROM workflow_log_line"
        " WHERE outcome = 'scheduled' GROUP BY 1 ORDER BY 1"
    )
    results = dict(cr.fetchall())
    print(json.dumps({
        "wall": wall, "queries": queries[0], "lines": lines, "results": results,
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }))
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


def install(cluster, addons, database, modules):
    """Install ``modules`` in ``database``, created if it does not exist."""
    subprocess.run(
        pgcluster.odoo_command(
            *odoo_options(cluster, addons, database),
            f"--init={modules}",
            "--stop-after-init",
        ),
        check=True,
    )


def copy_database(cluster, source, database):
    psql(cluster, f"DROP DATABASE IF EXISTS {database}")
    psql(cluster, f"CREATE DATABASE {database} TEMPLATE {source}")


def vacuum_analyze(cluster, *databases):
    for database in databases:
        psql(cluster, "VACUUM ANALYZE", database=database)


def prepare(cluster, addons, size, profile="bench", database=TEMPLATE, modules=ADDONS):
    psql(cluster, f"DROP DATABASE IF EXISTS {database}")
    install(cluster, addons, database, modules)
    started = time.monotonic()
    python(GENERATE, str(size), profile, *odoo_options(cluster, addons, database))
    # As autovacuum would, before the plans and the runs are measured.
    vacuum_analyze(cluster, database)
    print(f"  generated {size} opportunities in {time.monotonic() - started:.0f} s")


def measure(cluster, addons, contender, profile_path=""):
    database = f"bench_{contender}"
    copy_database(cluster, TEMPLATE, database)
    options = odoo_options(cluster, addons, database)
    return json.loads(python(RUN, contender, profile_path, *options))


def measure_contenders(cluster, addons, size, args):
    """Every contender on the pipeline of ``size`` opportunities, each run on
    its own copy: ``{contender: its run}``."""
    peers = []
    for contender in ("automation", "loop", "oca"):
        if contender == "oca" and not oca_installed():
            print("  oca: skipped (crm_lead_escalation is not installed)")
            continue
        if args.escalation:
            continue  # they do not escalate
        if size > args.slow_peers_max:
            print(f"  {contender}: skipped (slow peer, N > {args.slow_peers_max})")
            continue
        peers.append(contender)
    # The addon's run takes seconds, as noisy as the machine it runs on; a
    # peer's, minutes. The addon runs before the peers, after each one and
    # again up to ADDON_RUNS: its median run is reported, with every run's
    # time, sampled over the whole time the peers took.
    schedule = ["addon"]
    for peer in peers:
        schedule += [peer, "addon"]
    schedule += ["addon"] * (ADDON_RUNS - schedule.count("addon"))
    rows, addon_runs = {}, []
    for contender in schedule:
        row = measure(cluster, addons, contender)
        print(f"  {contender}: {row}")
        if contender == "addon":
            addon_runs.append(row)
        else:
            rows[contender] = row
    return {"addon": median_run(addon_runs), **rows}


def profile_addon(cluster, addons, size, top):
    """The addon's run again, on its own fresh copy, under cProfile (its
    overhead would distort the measured run): the top functions by
    cumulative and by own time, of the addon's code and of the ORM, SQL and
    Odoo model code it calls. The profile is kept next to the results (for
    ``python3 -m pstats`` or snakeviz)."""
    folder = os.path.join(pgcluster.REPO, "bench-results")
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, f"profile-addon-{size}-{int(time.time())}.prof")
    row = measure(cluster, addons, "addon", profile_path=path)
    print(f"  addon, profiled: {row}")
    print_profile(path, row, top)
    return dict(row, profile=path)


# Where a function of the profile comes from, by its file: what is worth
# reading in a profile of the run (the rest is Python, the standard library,
# Werkzeug and the like, reached through these).
PROFILE_ORIGINS = (
    ("addon", f"/{pgcluster.MODULE}/"),
    ("orm", "/odoo/orm/"),
    ("sql", "/odoo/sql_db.py"),
    ("sql", "/odoo/tools/sql.py"),
    ("odoo", "/odoo/addons/"),
    ("odoo", "/addons/"),
)


def profile_origin(filename, function):
    if filename == "~":  # a C function: psycopg2's are the SQL round trips
        return "sql" if "psycopg2" in function else None
    for origin, marker in PROFILE_ORIGINS:
        if marker in filename and f"/{pgcluster.MODULE}/tools/" not in filename:
            return origin
    return None


def print_profile(path, row, top):
    """The useful functions of a profile, by cumulative and by own time,
    with their share of the profiled run."""
    stats = pstats.Stats(path).stats
    wall = row["wall"]
    useful = []
    for (filename, line, function), (
        _cc,
        calls,
        own,
        cumulative,
        _callers,
    ) in stats.items():
        origin = profile_origin(filename, function)
        if origin is None:
            continue
        if filename != "~":
            parts = filename.split("/")
            function = f"{'/'.join(parts[-3:])}:{line}({function})"
        useful.append((origin, function, calls, own, cumulative))
    for title, index in (("cumulative", 4), ("own", 3)):
        print(
            f"\n| top {top} by {title} time (profiled run {wall:.1f} s) | origin "
            "| calls | own s | cumulative s | share of the run |"
        )
        print("|---|---|---|---|---|---|")
        for origin, function, calls, own, cumulative in sorted(
            useful, key=lambda entry: entry[index], reverse=True
        )[:top]:
            print(
                f"| {function} | {origin} | {calls} | {own:.2f} | {cumulative:.2f} "
                f"| {100 * (own if index == 3 else cumulative) / wall:.1f} % |"
            )
    print(f"\nprofile: {path}\n")


def bench_deletion(cluster, addons, count):
    """Delete ``count`` activities with and without the addon and its log."""
    crm, addon, unlinked = (
        f"bench_deletion_{name}" for name in ("crm", "addon", "unlinked")
    )
    print(f"== activity deletion: {count} activities, {LOG_LINE_COUNT} log lines")
    prepare(cluster, addons, count, profile="deletion", database=crm, modules="crm")
    copy_database(cluster, crm, addon)
    install(cluster, addons, addon, pgcluster.MODULE)
    started = time.monotonic()
    lines = LOG_LINES.format(logs=20, lines=LOG_LINE_COUNT, days=1)
    psql(cluster, lines, database=addon)
    vacuum_analyze(cluster, crm, addon)
    print(f"  inserted the log lines in {time.monotonic() - started:.0f} s")
    copy_database(cluster, addon, unlinked)
    psql(cluster, UNLINK_PLANNED, database=unlinked)
    vacuum_analyze(cluster, unlinked)
    cases = {
        "crm only": (crm, count, DELETION_ROUNDS),
        f"crm + addon, {LOG_LINE_COUNT:,} log lines": (addon, count, DELETION_ROUNDS),
        "same, no log line on those activities": (unlinked, count, DELETION_ROUNDS),
    }
    runs = {name: [] for name in cases}
    # Round after round, each run on a fresh copy: a second of work is as
    # noisy as what it measures, the median of the rounds is reported.
    for round_ in range(DELETION_ROUNDS):
        for name, (database, number, rounds) in cases.items():
            if round_ >= rounds:
                continue
            copy_database(cluster, database, "bench_deletion_run")
            options = odoo_options(cluster, addons, "bench_deletion_run")
            run = json.loads(python(DELETE_ACTIVITIES, str(number), *options))
            runs[name].append(run)
            print(f"  {name}: {run}")
    rows = {name: median_run(name_runs) for name, name_runs in runs.items()}
    print_deletion_table(rows)
    return rows


def bench_purge(cluster, addons, logs):
    """The purge of ``logs`` old logs holding LOG_LINE_COUNT lines, by the
    scheduler; and one batch of the purge before it, on a copy."""
    database, copy = "bench_purge", "bench_purge_old"
    print(f"== purge: {logs} old logs, {LOG_LINE_COUNT} lines")
    psql(cluster, f"DROP DATABASE IF EXISTS {database}")
    install(cluster, addons, database, pgcluster.MODULE)
    started = time.monotonic()
    old = LOG_LINES.format(logs=logs, lines=LOG_LINE_COUNT, days=400)
    psql(cluster, old, database=database)
    # Recent logs, which the purge keeps.
    recent = LOG_LINES.format(logs=1000, lines=10000, days=10)
    psql(cluster, recent, database=database)
    vacuum_analyze(cluster, database)
    print(f"  inserted the logs in {time.monotonic() - started:.0f} s")
    copy_database(cluster, database, copy)
    options = odoo_options(cluster, addons, database)
    rows = {"cron": json.loads(python(PURGE, str(PURGE_DEADLINE), *options))}
    print(f"  cron: {rows['cron']}")
    rows["old"] = json.loads(python(OLD_PURGE, *odoo_options(cluster, addons, copy)))
    print(f"  old: {rows['old']}")
    print_purge_table(logs, rows)
    return rows


def bench_revival(cluster, addons, lines):
    """The daily refresh of results over ``lines`` scheduled log lines, and
    over a fifth of them (flat memory: the same peak)."""
    print(f"== revival refresh: {lines} log lines")
    prepare(cluster, addons, 10000)
    rows = {}
    for count in (lines // 5, lines):
        database = f"bench_revival_{count}"
        copy_database(cluster, TEMPLATE, database)
        psql(cluster, REVIVAL_LINES.format(lines=count), database=database)
        vacuum_analyze(cluster, database)
        rows[count] = json.loads(
            python(REFRESH, *odoo_options(cluster, addons, database))
        )
        print(f"  {count} lines: {rows[count]}")
    print("\n| revival refresh | wall s | ms/1k lines | queries | peak MB | results |")
    print("|---|---|---|---|---|---|")
    for count, row in rows.items():
        print(
            f"| {count:,} lines | {row['wall']:.1f} "
            f"| {row['wall'] * 1e6 / max(count, 1):.0f} | {row['queries']} "
            f"| {row['peak_mb']:.0f} | {row['results']} |"
        )
    print()
    return rows


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
    parser.add_argument(
        "--profile",
        action="store_true",
        help="profile the addon's run (cProfile, on its own copy after the "
        "measured run): its top functions by cumulative and own time",
    )
    parser.add_argument(
        "--profile-top",
        type=int,
        default=25,
        help="functions listed per table of --profile",
    )
    parser.add_argument(
        "--features",
        action="store_true",
        help="daily cap, a stage's own threshold and paused deals on (working days "
        "are on by default)",
    )
    parser.add_argument(
        "--quotes",
        action="store_true",
        help="Sales installed, a third of the opportunities with a quotation "
        "(some sent, some answered by the customer)",
    )
    parser.add_argument(
        "--deletion",
        action="store_true",
        help="time deleting activities with and without the addon's log",
    )
    parser.add_argument(
        "--purge", action="store_true", help="time the log purge as the cron runs it"
    )
    parser.add_argument(
        "--escalation",
        action="store_true",
        help="the addon alone, the open activities being re-engagements a month "
        "overdue: it schedules and escalates",
    )
    parser.add_argument(
        "--revival",
        action="store_true",
        help="time the daily refresh of the re-engagements' results",
    )
    parser.add_argument(
        "--revival-lines",
        type=int,
        default=100000,
        help="scheduled log lines the refresh reads",
    )
    parser.add_argument(
        "--purge-logs",
        type=int,
        default=100000,
        help=f"old logs holding the purge's {LOG_LINE_COUNT} lines",
    )
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",") if size]
    results = {}
    with pgcluster.throwaway_cluster() as cluster, pgcluster.addons_path() as addons:
        for size in sizes:
            print(
                f"== N = {size}"
                + (" (all features on)" if args.features else "")
                + (" (overdue re-engagements to escalate)" if args.escalation else "")
                + (" (a third with quotations)" if args.quotes else "")
            )
            prepare(
                cluster,
                addons,
                size,
                modules=f"{ADDONS},sale_crm" if args.quotes else ADDONS,
            )
            if args.quotes:
                python(QUOTES, *odoo_options(cluster, addons, TEMPLATE))
            if args.features:
                python(FEATURES, *odoo_options(cluster, addons, TEMPLATE))
            if args.escalation:
                python(ESCALATION, *odoo_options(cluster, addons, TEMPLATE))
            rows = measure_contenders(cluster, addons, size, args)
            results[size] = rows
            print_table(size, rows)
            if args.profile:
                results[f"profile {size}"] = profile_addon(
                    cluster, addons, size, args.profile_top
                )
        if args.explain:
            print("== EXPLAIN ANALYZE of the detect query at N = 100000")
            prepare(cluster, addons, 100000, profile="explain")
            print(python(EXPLAIN, *odoo_options(cluster, addons, TEMPLATE)))
        if args.deletion:
            results["deletion"] = bench_deletion(cluster, addons, DELETION_COUNT)
        if args.purge:
            results["purge"] = bench_purge(cluster, addons, args.purge_logs)
        if args.revival:
            results["revival"] = bench_revival(cluster, addons, args.revival_lines)
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


def median_run(runs):
    """The run of median wall time among ``runs``, with every run's time
    (``walls``)."""
    walls = sorted(run["wall"] for run in runs)
    median = walls[len(walls) // 2]
    return dict(next(run for run in runs if run["wall"] == median), walls=walls)


def per_activity(row):
    return row["wall"] * 1000 / max(row["created"], 1)


def print_table(size, rows):
    addon = rows.get("addon")
    print(
        f"\n| N = {size} | wall s | ms/activity | queries/activity | peak MB "
        "| activities | duplicates after a 2nd run | e-mails queued | leads re-stamped "
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
    if addon and "walls" in addon:
        walls = ", ".join(f"{wall:.2f}" for wall in addon["walls"])
        print(f"\naddon: the median of its runs ({walls} s)")
    print()


def print_deletion_table(rows):
    base = rows["crm only"]
    print(
        "\n| activity deletion | activities | wall s (median) | runs s | ms/activity "
        "| vs crm only | lines referring to them |"
    )
    print("|---|---|---|---|---|---|---|")
    for name, row in rows.items():
        ratio = per_deleted(row) / per_deleted(base)
        walls = ", ".join(f"{wall:.2f}" for wall in row["walls"])
        print(
            f"| {name} | {row['deleted']} | {row['wall']:.2f} | {walls} "
            f"| {per_deleted(row):.3f} | {ratio:.2f}x | {row['linked']} |"
        )
    print()


def per_deleted(row):
    return row["wall"] * 1000 / max(row["deleted"], 1)


def print_purge_table(logs, rows):
    cron, old = rows["cron"], rows["old"]
    print(
        f"\n| purge of {logs:,} old logs, {LOG_LINE_COUNT:,} lines | wall s | calls "
        "| callbacks | transactions | longest transaction s (deletes from) "
        "| longest call s "
        "| lines deleted | lines/s | old logs left | recent logs, lines kept |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    print(
        f"| the cron, lines in batches | {cron['wall']:.1f} | {cron['calls']} "
        f"| {cron['callbacks']} | {cron['transactions']} | {cron['longest']:.2f} "
        f"({', '.join(cron['longest_deletes']) or 'nothing'}) "
        f"| {cron['longest_call']:.1f} | {cron['lines']} "
        f"| {cron['lines'] / max(cron['wall'], 1e-9):.0f} | {cron['logs_left']} "
        f"| {cron['kept_logs']}, {cron['kept_lines']} |"
    )
    print(
        f"| before: one unlink of {old['logs']} logs | {old['wall']:.1f} | - | - | 1 "
        f"| {old['wall']:.2f} (workflow_log, its lines by cascade) | - "
        f"| {old['lines']} "
        f"| {old['lines'] / max(old['wall'], 1e-9):.0f} | - | - |"
    )
    print()


if __name__ == "__main__":
    main()
