"""Crash test: kill a follow-up run in the middle, run again, check the counts.

Run by ``make kill-test``. On a database of the given server it installs the
addon, generates a pipeline of stale opportunities, starts the daily scheduled
action in a real Odoo process, kills that process (SIGKILL) once at least one
chunk is committed, then runs the scheduled action again and checks that:

- what the killed run committed is consistent: whole chunks, each activity
  with its log line, and its log left "running";
- the next run of the job resumes that same run and schedules exactly the
  rest: one log, done, and no opportunity ends up with two open re-engagement
  activities.

Usage: python3 tools/kill_rerun.py [--leads N]
       (a throwaway PostgreSQL cluster is started and removed)
"""

import argparse
import os
import signal
import subprocess
import sys
import time

import psycopg2

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pgcluster

CRON_XMLID = "crm_opportunity_followup.ir_cron_opportunity_followup"
CHILD_CODE = (
    """
import sys
import odoo
from odoo.modules.registry import Registry
from odoo.tools import config

config.parse_config(sys.argv[1:])
registry = Registry(config["db_name"][0])
with registry.cursor() as cr:
    env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
    env.ref("%s").method_direct_trigger()
"""
    % CRON_XMLID
)

GENERATE_CODE = """
import sys
import odoo
from odoo.modules.registry import Registry
from odoo.tools import SQL, config

leads = int(sys.argv[1])
config.parse_config(sys.argv[2:])
registry = Registry(config["db_name"][0])
with registry.cursor() as cr:
    env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {
        "tracking_disable": True,
        "mail_create_nolog": True,
        "mail_create_nosubscribe": True,
    })
    users = env["res.users"].create([
        {"name": f"Seller {i}", "login": f"kill.seller{i}@example.com",
         "group_ids": [(6, 0, env.ref("sales_team.group_sale_salesman").ids)]}
        for i in range(5)
    ])
    for start in range(0, leads, 1000):
        env["crm.lead"].create([
            {"name": f"Killed run {i}", "type": "opportunity",
             "user_id": users[i % len(users)].id}
            for i in range(start, min(start + 1000, leads))
        ])
        env.flush_all()
    cr.execute(SQL(
        "UPDATE crm_lead SET write_date = now() at time zone 'UTC' - interval '30 days'"
        " WHERE name LIKE %s", "Killed run %"))
    # Switched on, as an administrator does in the settings, due from
    # midnight: the job opens the run whatever the time of day.
    env.company.write({"followup_active": True, "followup_run_hour": 0})
"""


def odoo_args(args):
    return [
        f"--database={args.database}",
        f"--db_host={args.db_host}",
        f"--db_port={args.db_port}",
        f"--db_user={args.db_user}",
        f"--addons-path={args.addons_path}",
        "--log-level=warn",
    ]


def python(code, *argv, wait=True):
    process = subprocess.Popen([sys.executable, "-c", code, *argv])
    if wait and process.wait() != 0:
        sys.exit(f"FAILED: child process exited with {process.returncode}")
    return process


def query(args, sql, *params):
    with (
        psycopg2.connect(
            host=args.db_host,
            port=args.db_port,
            user=args.db_user,
            dbname=args.database,
        ) as conn,
        conn.cursor() as cr,
    ):
        cr.execute(sql, params)
        return cr.fetchall()


def snapshot(args):
    """Counts that must stay consistent whatever the moment of the kill."""
    [(activities, leads_with_two)] = query(
        args,
        """SELECT count(*), count(*) - count(DISTINCT res_id) FROM mail_activity
           WHERE res_model = 'crm.lead' AND is_followup AND active""",
    )
    logs = query(
        args,
        """SELECT id, state, scheduled_count, skipped_pending_count,
                  (SELECT count(*) FROM workflow_log_line l
                   WHERE l.log_id = w.id AND l.outcome = 'scheduled')
           FROM workflow_log w ORDER BY id""",
    )
    return activities, leads_with_two, logs


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=4000)
    args = parser.parse_args()
    args.database = "followup_kill_test"
    with pgcluster.throwaway_cluster() as cluster, pgcluster.addons_path() as addons:
        args.db_host, args.db_port = "127.0.0.1", cluster.port
        args.db_user, args.addons_path = pgcluster.DB_USER, addons
        return crash_and_rerun(args)


def crash_and_rerun(args):
    checks = []

    def check(label, ok):
        checks.append(ok)
        print(f"  [{'PASS' if ok else 'FAIL'}] {label}")

    print(f"1. Install the addon in a fresh database {args.database!r}")
    subprocess.run(
        [
            "dropdb",
            "--if-exists",
            "-h",
            args.db_host,
            "-p",
            str(args.db_port),
            "-U",
            args.db_user,
            args.database,
        ],
        check=True,
    )
    subprocess.run(
        [
            sys.executable,
            "-m",
            "odoo",
            *odoo_args(args),
            "-i",
            "crm_opportunity_followup",
            "--stop-after-init",
        ],
        check=True,
    )
    print(f"2. Generate {args.leads} stale opportunities")
    python(GENERATE_CODE, str(args.leads), *odoo_args(args))

    print("3. Start the scheduled action in an Odoo process, kill it mid-run")
    child = python(CHILD_CODE, *odoo_args(args), wait=False)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and child.poll() is None:
        if snapshot(args)[0] > 0:
            break
        time.sleep(0.05)
    if child.poll() is not None:
        sys.exit("FAILED: the run ended before it could be killed; use more --leads")
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    activities, doubles, logs = snapshot(args)
    print(
        f"   killed (pid {child.pid}): {activities} activities committed, logs {logs}"
    )
    [(killed_id, state, scheduled, _pending, lines)] = logs
    check("some but not all activities were committed", 0 < activities < args.leads)
    check("the killed run committed whole chunks", activities % 1000 == 0)
    check("each committed activity has its log line", lines == activities == scheduled)
    check("its log is left 'running'", state == "running")

    print("4. Run the scheduled action again, to the end")
    python(CHILD_CODE, *odoo_args(args))
    total, doubles, logs = snapshot(args)
    print(f"   rerun done: {total} activities in all, logs {logs}")
    check("the job resumed the killed run: still one log", len(logs) == 1)
    [(log_id, state, scheduled, pending, lines)] = logs[:1]
    check("that run is now done", log_id == killed_id and state == "done")
    check(
        "it scheduled each opportunity once, each with its line",
        scheduled == lines == args.leads and not pending,
    )
    check("every opportunity has its activity", total == args.leads)
    check("no opportunity has two", doubles == 0)
    print(f"{sum(checks)} passed, {len(checks) - sum(checks)} failed")
    return 0 if all(checks) else 1


if __name__ == "__main__":
    sys.exit(main())
