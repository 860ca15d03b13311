"""Cron budget test: the daily job on a multi-worker server with a short cron limit.

Run by ``make cron-test``. In the standard production deployment
(``--workers N``) the master kills a cron worker whose job runs longer than
``limit_time_real_cron``. On a throwaway cluster this script installs the addon
in a fresh database, generates a pipeline (half of it stale: no work for 30
days, spread over a few salespeople), makes the daily job due now with every
other scheduled action deactivated, starts a real server
(``--workers 2 --max-cron-threads 1 --limit-time-real-cron S``) and waits until
the job's log is *done*. It then stops the server and checks that:

- there is one daily log, done, that considered every stale opportunity once
  and scheduled each of them, and no log is left running;
- every stale opportunity has exactly one open re-engagement activity, and the
  recent ones none;
- the job is not counted as failed, and (unless ``--expect-kill``) no worker
  was killed while it ran the job.

It prints how many scheduler calls the job needed (its ``ir_cron_progress``
rows and the server log's ``Job ... (#loop N; ...)`` lines), every worker the
master killed for the limit (while running the job, or while idle), and the
wall time from the server's start to the log's end.

``--kill-variant`` sets a limit (5 s) below the scheduler's own 10 s budget per
call, so that the master kills the worker in the middle of each call: the run
must still end done, with nothing lost and nothing booked twice. The scheduler
puts a job off to its next interval ("timed out") once it was killed three
times in a row and the last call committed nothing: with a limit where a call
may not fit its first chunk (3 s here), that happens, and the script says so.

A cron worker sleeps 60 to 69 s between its rounds (``SLEEP_INTERVAL`` plus
pid % 10) without telling the master it is alive: with a shorter limit, the
master also kills idle workers, and a new one starts by sleeping, so no job
ever runs unless something wakes the workers within the limit. ``--nudge S``
does, every S seconds, what Odoo does when a job is triggered (``NOTIFY
cron_trigger``); by default every limit / 4 seconds (at least 1) when the limit
is below 70 s, never otherwise. ``--notify-changes`` sets
``ODOO_NOTIFY_CRON_CHANGES=1`` on the server: its scheduler then wakes the
workers itself when a job is partially done (not after a kill).

The server runs from ``odoo-bin`` when there is one next to the ``odoo``
package (``--launcher module`` for ``python -m odoo``, see server_command());
``--no-http`` runs cron workers only.

Usage: python3 tools/cron_workers.py [--leads N] [--limit-time-real-cron S]
       [--timeout S] [--nudge S] [--notify-changes] [--kill-variant]
       [--expect-kill] [--launcher odoo-bin|module] [--no-http]
       [--keep-log PATH]
       (a throwaway PostgreSQL cluster is started and removed)
"""

import argparse
import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import psycopg2

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pgcluster

DATABASE = "followup_cron_workers"
CRON_XMLID = ("crm_opportunity_followup", "ir_cron_opportunity_followup")
STALE, RECENT = "Cron stale", "Cron recent"
# odoo.service.server: a cron worker sleeps SLEEP_INTERVAL (60 s) + pid % 10.
IDLE_SLEEP_MAX = 70

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
        "mail_notrack": True,
    })
    users = env["res.users"].create([
        {"name": f"Cron Seller {i}", "login": f"cron.seller{i}@example.com",
         "group_ids": [(6, 0, env.ref("sales_team.group_sale_salesman").ids)]}
        for i in range(5)
    ])
    for start in range(0, leads, 2000):
        env["crm.lead"].create([
            {"name": f"%(stale)s {i}" if i %% 2 == 0 else f"%(recent)s {i}",
             "type": "opportunity", "user_id": users[i %% len(users)].id}
            for i in range(start, min(start + 2000, leads))
        ])
        env.flush_all()
        cr.commit()
    cr.execute(SQL(
        "UPDATE crm_lead SET write_date = now() at time zone 'UTC' - interval '30 days'"
        " WHERE name LIKE %%s", "%(stale)s %%"))
""" % {"stale": STALE, "recent": RECENT}

# The server log: "<date> <time> <pid> <LEVEL> <db> <logger>: <message>".
LOG_LINE = re.compile(r"^\S+ \S+ (?P<pid>\d+) (?P<level>[A-Z]+) \S+ (?P<logger>\S+): ")
JOB_START = re.compile(r"Job '(?P<name>[^']*)' \((?P<id>\d+)\) starting")
JOB_END = re.compile(
    r"Job '(?P<name>[^']*)' \((?P<id>\d+)\) (?P<status>fully done|partially done"
    r"|failed) \(#loop (?P<loops>\d+); done (?P<done>\d+); remaining"
    r" (?P<remaining>\d+); duration (?P<duration>[\d.]+)s\)"
)
KILLED = re.compile(r"(?P<kind>WorkerCron|WorkerHTTP) \((?P<pid>\d+)\) timeout after")
SPAWNED = re.compile(r"Worker WorkerCron \((?P<pid>\d+)\) alive")
POOL_CLOSED = re.compile(r"ConnectionPool\(.*\): Closed \d+ connections")


def odoo_options(cluster, addons):
    return [
        *cluster.odoo_options(),
        f"--addons-path={addons}",
        f"--database={DATABASE}",
        f"--data-dir={os.path.join(cluster.root, 'odoo-data')}",
        "--http-interface=127.0.0.1",
    ]


def connect(cluster, dbname=DATABASE):
    conn = psycopg2.connect(
        host="127.0.0.1", port=cluster.port, user=pgcluster.DB_USER, dbname=dbname
    )
    conn.autocommit = True
    return conn


def query(cluster, sql, *params):
    with contextlib.closing(connect(cluster)) as conn, conn.cursor() as cr:
        cr.execute(sql, params)
        return cr.fetchall() if cr.description else None


def nudge(cluster):
    """What Odoo's ``ir.cron._notifydb`` sends: the cron workers listen on the
    ``postgres`` database, the payload names the database to process."""
    with contextlib.closing(connect(cluster, "postgres")) as conn, conn.cursor() as cr:
        cr.execute("SELECT pg_notify('cron_trigger', %s)", [DATABASE])


def cron_id(cluster):
    [(res_id,)] = query(
        cluster,
        "SELECT res_id FROM ir_model_data WHERE module = %s AND name = %s",
        *CRON_XMLID,
    )
    return res_id


def make_due(cluster, job_id):
    """The daily job due a minute ago; every other job off, so that nothing
    shares the worker's round (or its time limit) with it."""
    others = query(
        cluster,
        "UPDATE ir_cron SET active = false WHERE id != %s AND active"
        " RETURNING cron_name",
        job_id,
    )
    # Switched on, as an administrator does in the settings, due from
    # midnight: the job opens the run whatever the time of day.
    query(
        cluster, "UPDATE res_company SET followup_active = true, followup_run_hour = 0"
    )
    query(
        cluster,
        "UPDATE ir_cron SET active = true, failure_count = 0,"
        " nextcall = now() at time zone 'UTC' - interval '1 minute' WHERE id = %s",
        job_id,
    )
    return sorted(name for (name,) in others)


def state(cluster, job_id):
    """The cron logs, the open re-engagements and the job's scheduler calls."""
    logs = query(
        cluster,
        "SELECT id, state, stale_count, scheduled_count, date_start, date_end"
        " FROM workflow_log WHERE trigger = 'cron' ORDER BY id",
    )
    [(activities,)] = query(
        cluster,
        "SELECT count(*) FROM mail_activity"
        " WHERE res_model = 'crm.lead' AND is_followup AND active",
    )
    [(calls,)] = query(
        cluster, "SELECT count(*) FROM ir_cron_progress WHERE cron_id = %s", job_id
    )
    return logs, activities, calls


def odoo_bin():
    """The ``odoo-bin`` next to the ``odoo`` package, if there is one."""
    found = subprocess.run(
        [sys.executable, "-c", "import odoo; print(odoo.__path__[0])"],
        capture_output=True,
        text=True,
        check=False,
        cwd=tempfile.gettempdir(),
    ).stdout.strip()
    path = os.path.join(os.path.dirname(found), "odoo-bin") if found else ""
    return path if os.path.isfile(path) else None


def server_command(args, *options):
    """The server's command line. In workers mode the master starts the
    long-polling process as ``python sys.argv[0] gevent``: with ``-m odoo``
    that is odoo/__main__.py run as a script, which dies at once on its
    relative import, and the master starts it again at every beat (several
    times a second, CPU taken from the workers). ``odoo-bin`` starts it
    right; it still dies where gevent itself cannot start (the reason is
    the last line of the server's stderr, printed with the count)."""
    if args.launcher == "odoo-bin" and (path := odoo_bin()):
        return [sys.executable, path, *options]
    return pgcluster.odoo_command(*options)


def start_server(cluster, addons, args, port, logfile, stderr):
    env = dict(os.environ)
    if args.notify_changes:
        env["ODOO_NOTIFY_CRON_CHANGES"] = "1"
    cmd = server_command(
        args,
        *odoo_options(cluster, addons),
        "--workers=2",
        "--max-cron-threads=1",
        f"--limit-time-real-cron={args.limit_time_real_cron}",
        f"--http-port={port}",
        # Not the default 8072, which another server here may hold.
        f"--gevent-port={pgcluster.free_port()}",
        f"--logfile={logfile}",
        "--log-level=info",
        *(["--no-http"] if args.no_http else []),
    )
    print("   " + " ".join(cmd[1:]))
    # Its own process group: the workers are stopped with it, whatever happens.
    return subprocess.Popen(
        cmd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=stderr,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def stop_server(server):
    """SIGTERM (Odoo's graceful stop: workers finish their request), a second
    one after 20 s (Odoo's forced stop), then SIGKILL to the whole group."""
    if server.poll() is None:
        for sig, grace in ((signal.SIGTERM, 20), (signal.SIGTERM, 10)):
            with contextlib.suppress(ProcessLookupError):
                os.kill(server.pid, sig)
            try:
                server.wait(timeout=grace)
                break
            except subprocess.TimeoutExpired:
                continue
    with contextlib.suppress(ProcessLookupError):
        os.killpg(server.pid, signal.SIGKILL)
    server.wait()


def given_up(cluster, job_id):
    """Whether the scheduler put the job off to its next interval (as after a
    failure, or "timed out": killed 3 times in a row with nothing done)."""
    [(later,)] = query(
        cluster,
        """SELECT nextcall > now() at time zone 'UTC' + interval '30 min'
                  AND NOT EXISTS (
                      SELECT 1 FROM ir_cron_trigger t WHERE t.cron_id = c.id
                        AND t.call_at < now() at time zone 'UTC' + interval '30 min')
           FROM ir_cron c WHERE id = %s""",
        job_id,
    )
    return later


def wait_done(cluster, job_id, server, args, started, timeline):
    """Poll until a cron log is done and none runs; the seconds it took, or
    None. ``timeline`` gets ``(seconds, open re-engagements)`` at each change
    seen (a commit of the job)."""
    deadline = started + args.timeout
    last_report = last_nudge = 0.0
    while time.monotonic() < deadline:
        now = time.monotonic()
        if args.nudge and now - last_nudge >= args.nudge:
            nudge(cluster)
            last_nudge = now
        # Read before the logs: the scheduler moves nextcall after the job's
        # last commit, so a log still running after that was given up.
        later = given_up(cluster, job_id)
        logs, activities, calls = state(cluster, job_id)
        if activities != (timeline[-1][1] if timeline else 0):
            timeline.append((now - started, activities))
        states = [log[1] for log in logs]
        if "done" in states and "running" not in states:
            return now - started
        if "running" in states and later:
            print(
                f"   {now - started:5.0f} s: the scheduler gave the job up until"
                " its next day, its run unfinished: stop waiting"
            )
            return None
        if now - last_report >= 15:
            print(
                f"   {now - started:5.0f} s: logs {states}, {activities} open"
                f" re-engagements, {calls} scheduler calls"
            )
            last_report = now
        if server.poll() is not None:
            print(f"   the server exited with {server.returncode}")
            return None
        time.sleep(0.5)
    return None


def read_log(logfile):
    """What the server log says about the job and the workers."""
    jobs, kills, errors, running = [], [], [], {}
    spawned = respawns = 0
    master = None
    with open(logfile, errors="replace") as file:
        for line in file:
            head = LOG_LINE.match(line)
            if not head:
                continue
            pid = head["pid"]
            if master is None and "odoo: Odoo version" in line:
                master = pid
            if pid == master and POOL_CLOSED.search(line):
                # The master closes its connections each time it checks the
                # registries before spawning a process: in practice, the
                # long-polling process, whenever it has died.
                respawns += 1
            elif found := JOB_START.search(line):
                running[pid] = found["name"]
            elif found := JOB_END.search(line):
                running.pop(pid, None)
                jobs.append(found.groupdict())
            elif found := KILLED.search(line):
                # The master logs the kill; the worker's pid is in the message.
                busy = running.pop(found["pid"], None)
                kills.append((found["kind"], found["pid"], busy, line.strip()))
                continue
            elif SPAWNED.search(line):
                spawned += 1
            if head["level"] in ("ERROR", "CRITICAL"):
                errors.append(line.strip())
    return {
        "jobs": jobs,
        "kills": kills,
        "errors": errors,
        "spawned": spawned,
        "respawns": respawns,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=20000)
    parser.add_argument("--limit-time-real-cron", type=int)
    parser.add_argument("--timeout", type=int, default=600, help="seconds")
    parser.add_argument(
        "--nudge", type=float, help="seconds between wake-ups, 0: never"
    )
    parser.add_argument("--notify-changes", action="store_true")
    parser.add_argument("--kill-variant", action="store_true")
    parser.add_argument("--expect-kill", action="store_true")
    parser.add_argument(
        "--launcher",
        choices=["odoo-bin", "module"],
        default="odoo-bin",
        help="odoo-bin (if found next to the odoo package) or python -m odoo",
    )
    parser.add_argument(
        "--no-http",
        action="store_true",
        help="cron workers only: no HTTP workers, no long-polling process",
    )
    parser.add_argument("--keep-log", help="copy the server log there")
    args = parser.parse_args()
    if args.kill_variant:
        args.expect_kill = True
        args.limit_time_real_cron = args.limit_time_real_cron or 5
    args.limit_time_real_cron = args.limit_time_real_cron or 20
    if args.nudge is None:
        limit = args.limit_time_real_cron
        args.nudge = max(1, limit // 4) if 0 < limit < IDLE_SLEEP_MAX else 0
    with pgcluster.throwaway_cluster() as cluster, pgcluster.addons_path() as addons:
        return run(cluster, addons, args)


def run(cluster, addons, args):
    checks = []

    def check(label, ok):
        checks.append(bool(ok))
        print(f"  [{'PASS' if ok else 'FAIL'}] {label}")

    stale = (args.leads + 1) // 2
    print(f"1. Install the addon in a fresh database {DATABASE!r}")
    subprocess.run(
        pgcluster.odoo_command(
            *odoo_options(cluster, addons),
            "-i",
            pgcluster.MODULE,
            "--stop-after-init",
            "--log-level=warn",
        ),
        check=True,
    )
    print(f"2. Generate {args.leads} opportunities, {stale} of them stale")
    started = time.monotonic()
    subprocess.run(
        [
            sys.executable,
            "-c",
            GENERATE_CODE,
            str(args.leads),
            *odoo_options(cluster, addons),
            "--log-level=warn",
        ],
        check=True,
    )
    query(cluster, "VACUUM ANALYZE")
    print(f"   generated in {time.monotonic() - started:.0f} s")

    job_id = cron_id(cluster)
    others = make_due(cluster, job_id)
    print(
        f"3. The daily job (ir.cron {job_id}) due now; {len(others)} other"
        f" scheduled actions deactivated: {', '.join(others)}"
    )

    logfile = os.path.join(cluster.root, "odoo-server.log")
    port = pgcluster.free_port()
    print(
        f"4. Start the server (limit_time_real_cron {args.limit_time_real_cron} s,"
        f" nudge {f'every {args.nudge:g} s' if args.nudge else 'never'},"
        f" ODOO_NOTIFY_CRON_CHANGES {'1' if args.notify_changes else 'unset'}),"
        " wait for the log to be done"
    )
    if 0 < args.limit_time_real_cron < IDLE_SLEEP_MAX:
        print(
            f"   below {IDLE_SLEEP_MAX} s the master kills idle cron workers too"
            " (they sleep 60 to 69 s without a ping)"
            + ("" if args.nudge else ": without --nudge no job may ever run")
        )
    started = time.monotonic()
    errfile = os.path.join(cluster.root, "odoo-server.stderr")
    with open(errfile, "w") as stderr:
        server = start_server(cluster, addons, args, port, logfile, stderr)
    timeline = []
    try:
        wall = wait_done(cluster, job_id, server, args, started, timeline)
    finally:
        stop_server(server)
    if args.keep_log:
        shutil.copyfile(logfile, args.keep_log)

    print("5. Check")
    logs, activities, calls = state(cluster, job_id)
    seen = read_log(logfile)
    jobs, kills, errors = seen["jobs"], seen["kills"], seen["errors"]
    check(
        f"the run ended done within {args.timeout} s"
        + (f": {wall:.0f} s from the server's start" if wall is not None else ""),
        wall is not None,
    )
    print(f"   cron logs (id, state, stale, scheduled, start, end): {logs}")
    check("one daily log", len(logs) == 1)
    [(log_id, log_state, stale_count, scheduled, date_start, date_end)] = logs[:1] or [
        (None,) * 6
    ]
    check("it is done", log_state == "done")
    if date_start and date_end:
        print(
            f"   the log ran {(date_end - date_start).total_seconds():.0f} s,"
            f" {date_start:%Y-%m-%d %H:%M:%S} to {date_end:%Y-%m-%d %H:%M:%S} UTC"
        )
        check("started and ended the same day", date_start.date() == date_end.date())
    [(running_logs,)] = query(
        cluster, "SELECT count(*) FROM workflow_log WHERE state = 'running'"
    )
    check(f"no log left running (found {running_logs})", running_logs == 0)
    check(
        f"it counted every stale opportunity once ({stale_count} of {stale})",
        stale_count == stale,
    )
    check(f"it scheduled each of them ({scheduled})", scheduled == stale)
    [(lines, distinct_leads)] = query(
        cluster,
        "SELECT count(*), count(DISTINCT lead_id) FROM workflow_log_line"
        " WHERE log_id = %s",
        log_id,
    )
    check(
        f"one log line per stale opportunity ({lines} lines, {distinct_leads}"
        " opportunities)",
        lines == distinct_leads == stale,
    )
    [(stale_leads, with_one, with_more, recent_with)] = query(
        cluster,
        """SELECT count(*) FILTER (WHERE l.name LIKE %s),
                  count(*) FILTER (WHERE l.name LIKE %s AND a.open = 1),
                  count(*) FILTER (WHERE a.open > 1),
                  count(*) FILTER (WHERE l.name LIKE %s AND a.open > 0)
           FROM crm_lead l
           LEFT JOIN LATERAL (
               SELECT count(*) AS open FROM mail_activity m
               WHERE m.res_model = 'crm.lead' AND m.res_id = l.id
                 AND m.is_followup AND m.active
           ) a ON true""",
        STALE + " %",
        STALE + " %",
        RECENT + " %",
    )
    check(
        f"every stale opportunity has exactly one open re-engagement"
        f" ({with_one} of {stale_leads}; {with_more} with more than one)",
        with_one == stale_leads == stale and with_more == 0,
    )
    check(f"no recent opportunity has one ({recent_with})", recent_with == 0)
    check(f"open re-engagements in all: {activities}", activities == stale)
    [(active, failures, nextcall)] = query(
        cluster,
        "SELECT active, failure_count, nextcall > now() at time zone 'UTC'"
        " FROM ir_cron WHERE id = %s",
        job_id,
    )
    check(
        f"the job is active, not counted as failed ({failures}), due again later",
        active and failures == 0 and nextcall,
    )

    progress = query(
        cluster,
        "SELECT done, remaining, timed_out_counter FROM ir_cron_progress"
        " WHERE cron_id = %s ORDER BY id",
        job_id,
    )
    print(
        "   ir_cron_progress rows (done, remaining, timed_out_counter):"
        f" {[tuple(row) for row in progress]}"
    )
    ours = [job for job in jobs if int(job["id"]) == job_id]
    loops = sum(int(job["loops"]) for job in ours)
    print(
        f"   scheduler calls of the job: {calls} ir_cron_progress rows;"
        f" {len(ours)} rounds in the server log, {loops} loops in all:"
    )
    for job in ours:
        print(
            f"     {job['status']}: #loop {job['loops']}, done {job['done']},"
            f" remaining {job['remaining']}, {float(job['duration']):.1f} s"
        )
    busy_kills = [kill for kill in kills if kill[2]]
    print(
        f"   cron workers started: {seen['spawned']}; killed by the master for"
        f" the limit: {len(kills)}, {len(busy_kills)} of them while running a job"
    )
    for _kind, _pid, busy, line in kills:
        print(f"     {'running ' + repr(busy) if busy else 'idle'}: {line}")
    print(
        "   commits seen (s from the server's start: open re-engagements): "
        + ", ".join(f"{at:.0f}: {count}" for at, count in timeline)
    )
    with open(errfile, errors="replace") as file:
        last = ([line.strip() for line in file if line.strip()] or ["-"])[-1]
    print(
        f"   the master checked its registries to spawn a process {seen['respawns']}"
        " times (with HTTP, mostly the long-polling process, started again"
        f" whenever it dies); the server's last line on stderr: {last[:200]}"
    )
    if args.expect_kill:
        check("a worker was killed in the middle of the job", busy_kills)
    else:
        check("no worker was killed while running the job", not busy_kills)
    # The kills are ERROR lines too: read_log() keeps them apart.
    check(f"no other ERROR in the server log ({len(errors)})", not errors)
    for line in errors[:10]:
        print(f"     {line[:300]}")
    print(
        f"   server log: {args.keep_log}"
        if args.keep_log
        else f"   server log: {logfile} (removed with the cluster; --keep-log PATH)"
    )
    print(f"{sum(checks)} passed, {len(checks) - sum(checks)} failed")
    return 0 if all(checks) else 1


if __name__ == "__main__":
    sys.exit(main())
