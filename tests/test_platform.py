"""The follow-up on Odoo's own machinery: the real scheduler (ir.cron, its
progress API, its failure count), real commits, two connections at once."""

import logging
from datetime import datetime, time, timedelta

import psycopg2.errors
from freezegun import freeze_time

from odoo import SUPERUSER_ID, Command, api, fields
from odoo.exceptions import UserError
from odoo.orm.environments import Transaction
from odoo.tests import Form, TransactionCase, tagged
from odoo.tools import SQL, mute_logger

from odoo.addons.crm_opportunity_followup.models import workflow_log

from .common import FollowupCase, run_twice_at_once

RUNNER_LOGGER = (
    "odoo.addons.crm_opportunity_followup.models.opportunity_followup_runner"
)
BOOKING_LOGGER = "odoo.addons.crm_opportunity_followup.models.mail_activity"
CRON_LOGGER = "odoo.addons.base.models.ir_cron"


def commit_stale_leads(registry, name, count):
    """``count`` opportunities quiet for 30 days, committed (not the test's
    transaction: the real scheduler and a second connection must see them)."""
    with registry.cursor() as cr:
        env = api.Environment(cr, SUPERUSER_ID, {})
        leads = env["crm.lead"].create(
            [
                {
                    "name": f"{name} {i}",
                    "type": "opportunity",
                    "user_id": env.ref("base.user_admin").id,
                }
                for i in range(count)
            ]
        )
        env.flush_all()
        cr.execute(
            SQL(
                "UPDATE crm_lead SET write_date = %s WHERE id IN %s",
                fields.Datetime.now() - timedelta(days=30),
                tuple(leads.ids),
            )
        )
        return leads.ids


@tagged("post_install", "-at_install")
class TestRealCron(TransactionCase):
    """The daily job as the scheduler runs it: ``method_direct_trigger`` runs
    ``ir.cron._process_job`` on its own cursor, with the progress API and the
    time budget, on data committed for the purpose (removed afterwards)."""

    def setUp(self):
        super().setUp()
        self.Runner = type(self.env["opportunity.followup.runner"])
        self.cron_id = self.env.ref(
            "crm_opportunity_followup.ir_cron_opportunity_followup"
        ).id
        self.lead_ids = commit_stale_leads(self.registry, "Cron", 6)
        # Switched on, as an administrator does in the settings.
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            company = env.ref("base.main_company")
            cron = env["ir.cron"].browse(self.cron_id)
            self.switched = (
                company.followup_active,
                cron.active,
                company.followup_run_hour,
            )
            company.followup_active = cron.active = True
            # Due from midnight: whatever the time of day the tests run.
            company.followup_run_hour = 0
        self.addCleanup(self._cleanup)

    def _cleanup(self):
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            env["workflow.log"].search([("trigger", "=", "cron")]).unlink()
            env["crm.lead"].browse(self.lead_ids).unlink()
            env["ir.cron.progress"].search([("cron_id", "=", self.cron_id)]).unlink()
            env.ref("base.main_company").write(
                {
                    "followup_active": self.switched[0],
                    "followup_run_hour": self.switched[2],
                }
            )
            env["ir.cron"].browse(self.cron_id).write(
                {
                    "failure_count": 0,
                    "first_failure_date": False,
                    "active": self.switched[1],
                }
            )

    def _trigger(self):
        """What a cron worker does with the job, on its own connections."""
        with self.registry.cursor() as cr:
            cr.transaction = Transaction(self.registry)
            env = api.Environment(cr, SUPERUSER_ID, {})
            env["ir.cron"].browse(self.cron_id).method_direct_trigger()

    def _read(self, query):
        with self.registry.cursor() as cr:
            cr.execute(query)
            return cr.fetchall()

    def _open_followups(self):
        return dict(
            self._read(
                SQL(
                    "SELECT res_id, count(*) FROM mail_activity WHERE res_model = "
                    "'crm.lead' AND res_id IN %s AND active AND is_followup "
                    "GROUP BY res_id",
                    tuple(self.lead_ids),
                )
            )
        )

    def _cron_logs(self):
        return self._read(
            SQL(
                "SELECT state, stale_count, scheduled_count, "
                "COALESCE(skipped_pending_count, 0) "
                "FROM workflow_log WHERE trigger = 'cron' ORDER BY id"
            )
        )

    def test_failure_is_counted_by_the_scheduler(self):
        def broken(runner, leads, params, assignees):
            raise RuntimeError("drafting exploded")

        self.patch(self.Runner, "_draft_message", broken)
        with mute_logger(RUNNER_LOGGER, CRON_LOGGER):
            self._trigger()
        [(failure_count,)] = self._read(
            SQL("SELECT failure_count FROM ir_cron WHERE id = %s", self.cron_id)
        )
        self.assertEqual(failure_count, 1)
        [(state, error)] = self._read(
            SQL("SELECT state, error FROM workflow_log WHERE trigger = 'cron'")
        )
        self.assertEqual((state, error), ("failed", "drafting exploded"))

    def test_time_budget_then_resume(self):
        """A call stops once the budget is spent; a call that starts with it
        spent ends the scheduler's round; the next round resumes the same run
        until it is done."""
        self.patch(self.Runner, "_chunk_size", 2)
        IrCron = type(self.env["ir.cron"])
        commit_progress = IrCron._commit_progress
        seen = []

        spent_rounds = set()

        def spent(cron, processed=0, **kwargs):
            commit_progress(cron, processed, **kwargs)
            # A round's time is spent by its first chunk, for the rest of it.
            this_round = cron.env.context["cron_end_time"]
            if processed:
                seen.append(self._cron_logs()[-1][0])
                spent_rounds.add(this_round)
            return 0.0 if this_round in spent_rounds else 10.0

        self.patch(IrCron, "_commit_progress", spent)
        rounds = 0
        while not self._cron_logs() or self._cron_logs()[-1][0] == "running":
            self.assertLess(rounds, 10, "the run never ends")
            self._trigger()
            rounds += 1
        self.assertEqual(self._cron_logs(), [("done", 6, 6, 0)])
        self.assertEqual(self._open_followups(), dict.fromkeys(self.lead_ids, 1))
        # Between the calls the run was left running, never interrupted.
        self.assertIn("running", seen)
        # One chunk of 2 per round: each round ended at the call after it.
        self.assertEqual(rounds, 3)

    def test_eligibility_decided_per_chunk(self):
        """A salesperson plans a call on an opportunity while earlier chunks
        run: it gets no re-engagement."""
        self.patch(self.Runner, "_chunk_size", 2)
        process_chunk = self.Runner._process_chunk
        last = self.lead_ids[-1]

        def with_user_work(runner, log, params, lead_ids, state):
            if last not in lead_ids and not self._read(
                SQL(
                    "SELECT 1 FROM mail_activity WHERE res_model = 'crm.lead' "
                    "AND res_id = %s",
                    last,
                )
            ):
                with self.registry.cursor() as cr:
                    env = api.Environment(cr, SUPERUSER_ID, {})
                    env["crm.lead"].browse(last).activity_schedule(
                        "mail.mail_activity_data_call", summary="Planned by Sam"
                    )
            return process_chunk(runner, log, params, lead_ids, state)

        self.patch(self.Runner, "_process_chunk", with_user_work)
        self._trigger()
        self.assertEqual(self._cron_logs(), [("done", 6, 5, 1)])
        self.assertNotIn(last, self._open_followups())

    def test_a_failing_digest_hides_nothing(self):
        """A database error after the chunks were committed: the run still
        ends (its log done, with the error), and so does the job."""

        def broken_digest(log):
            log.env.cr.execute("SELECT 1 / 0")

        self.patch(type(self.env["workflow.log"]), "_send_digests", broken_digest)
        with mute_logger(RUNNER_LOGGER, "odoo.sql_db"):
            self._trigger()
        [(state, message)] = self._read(
            SQL("SELECT state, message FROM workflow_log WHERE trigger = 'cron'")
        )
        self.assertEqual(state, "done")
        self.assertIn("digest e-mails could not be sent", message)
        self.assertIn("division by zero", message)
        self.assertEqual(len(self._open_followups()), 6)


@tagged("post_install", "-at_install")
class TestConcurrentRuns(TransactionCase):
    """Two runs on two real database connections at the same moment."""

    def test_two_runs_book_each_opportunity_once(self):
        lead_ids = commit_stale_leads(self.registry, "Race", 40)
        self.addCleanup(self._cleanup, lead_ids)

        # The benign race leaves no ERROR line (a line at INFO, by the booking).
        runner_logs = []
        handler = logging.Handler(logging.INFO)
        handler.emit = lambda record: runner_logs.append(record.getMessage())
        logging.getLogger(BOOKING_LOGGER).addHandler(handler)
        self.addCleanup(logging.getLogger(BOOKING_LOGGER).removeHandler, handler)
        results = run_twice_at_once(self, lead_ids)
        self.assertEqual(
            sum("booked meanwhile by a concurrent run" in line for line in runner_logs),
            40,
        )

        self.assertEqual(results["first"]["counts"]["scheduled"], 40)
        self.assertEqual(results["second"]["counts"]["scheduled"], 0)
        self.assertEqual(results["second"]["counts"]["skipped_pending"], 40)
        self.assertEqual(results["second"]["counts"]["errors"], 0)
        with self.registry.cursor() as cr:
            cr.execute(
                SQL(
                    "SELECT res_id, count(*) FROM mail_activity "
                    "WHERE res_model = 'crm.lead' AND res_id IN %s AND active "
                    "GROUP BY res_id",
                    tuple(lead_ids),
                )
            )
            per_lead = dict(cr.fetchall())
        self.assertEqual(per_lead, dict.fromkeys(lead_ids, 1))

    def _cleanup(self, lead_ids):
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            logs = env["workflow.log.line"].search([("lead_id", "in", lead_ids)]).log_id
            logs.unlink()
            env["crm.lead"].browse(lead_ids).unlink()


def _spend_the_budget_after_each_chunk(case):
    """The cron's time budget is spent after every chunk (not when a call
    starts): each call of the job processes one chunk and stops."""
    case.patch(
        type(case.Runner),
        "_commit_progress",
        lambda runner, processed, remaining=None: 0.0 if processed else 10.0,
    )


class TestTransactions(FollowupCase):
    """Retryable errors, one moment per run, a paused daily run, the purge."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.stale = cls._opportunity("Stale Deal", days=20)

    def test_retryable_error_is_raised_for_odoo_to_retry(self):
        Activity = type(self.env["mail.activity"])

        def serialization_failure(activity, vals_list):
            raise psycopg2.errors.SerializationFailure("concurrent update")

        self.patch(Activity, "create", serialization_failure)
        with self.assertRaises(psycopg2.errors.SerializationFailure):
            self.Runner.with_user(self.manager).run()

    def test_one_moment_per_run(self):
        """A run crossing midnight counts its days and deadlines from the
        moment it started."""
        Runner = type(self.Runner)
        draft = Runner._draft_message
        self.env.company.resource_calendar_id.tz = "UTC"
        with freeze_time("2026-11-24 23:59:59") as frozen:
            self._set_write_date(self.stale, fields.Datetime.now() - timedelta(20))

            def after_midnight(runner, leads, params, assignees):
                frozen.tick(timedelta(seconds=5))  # now 25 Nov
                return draft(runner, leads, params, assignees)

            self.patch(Runner, "_draft_message", after_midnight)
            self.Runner.with_user(self.manager).run()
        activity = self._followups(self.stale)
        self.assertEqual(activity.summary, "Re-engage: Stale Deal (stale 20 days)")
        self.assertEqual(activity.date_deadline, fields.Date.to_date("2026-11-26"))

    def test_paused_daily_run_is_resumed_not_interrupted(self):
        """Between two calls of the job, the daily run's log is running and
        nobody holds a lock: a manual run leaves it alone, and the next call
        of the job resumes it."""
        other = self._opportunity("Other Stale Deal", days=20)
        Runner = type(self.Runner)
        self.patch(Runner, "_chunk_size", 1)
        _spend_the_budget_after_each_chunk(self)
        self._run_cron()
        log = self.env["workflow.log"].search([("trigger", "=", "cron")])
        self.assertRecordValues(
            log, [{"state": "running", "stale_count": 2, "scheduled_count": 1}]
        )
        manual = self.Runner.with_user(self.manager).run(lead_ids=self.stale.ids)
        self.assertEqual(manual["counts"]["skipped_pending"], 1)
        self.assertEqual(log.state, "running")
        self._run_cron()
        self.assertRecordValues(
            log, [{"state": "done", "stale_count": 2, "scheduled_count": 2}]
        )
        self.assertEqual(log.line_ids.lead_id, self.stale | other)
        self.assertEqual(len(self._followups(self.stale | other)), 2)
        self.assertEqual(
            self.env["workflow.log"].search_count([("trigger", "=", "cron")]), 1
        )

    def test_purge_ends_when_others_delete_logs(self):
        Log = self.env["workflow.log"]
        old = Log.create(
            [
                {"date_start": fields.Datetime.now() - timedelta(days=400)}
                for _i in range(3)
            ]
        )
        self.patch(workflow_log, "PURGE_BATCH", 1)
        unlink = type(Log).unlink
        calls = []

        def unlink_and_another_process_too(logs):
            calls.append(logs.ids)
            if len(calls) > 10:
                raise AssertionError("the purge does not end")
            if len(calls) == 1:
                unlink(old[-1])  # deleted meanwhile by someone else
            return unlink(logs)

        self.patch(type(Log), "unlink", unlink_and_another_process_too)
        Log.with_user(self.odoobot)._cron_purge_old_logs()
        self.assertFalse(old.exists())

    def test_log_line_indexes(self):
        self.env.cr.execute(
            "SELECT indexdef FROM pg_indexes WHERE tablename = 'workflow_log_line'"
        )
        indexes = " ".join(row[0] for row in self.env.cr.fetchall())
        self.assertIn("(log_id)", indexes)
        # No foreign key to mail_activity: deleting activities anywhere never
        # rewrites log lines.
        self.env.cr.execute(
            """SELECT count(*) FROM pg_constraint
                WHERE conrelid = 'workflow_log_line'::regclass
                  AND confrelid = 'mail_activity'::regclass"""
        )
        self.assertEqual(self.env.cr.fetchone()[0], 0)
        result = self.Runner.with_user(self.manager).run()
        line = self.env["workflow.log"].browse(result["log_id"]).line_ids
        activity = line.activity_id
        self.assertTrue(activity)
        activity.action_feedback(feedback="Called")  # done: archived, still shown
        line.invalidate_recordset()
        self.assertEqual(line.activity_id, activity)
        activity.unlink()
        line.invalidate_recordset()
        self.assertFalse(line.activity_id)
        self.assertEqual(line.activity_ref, activity.id)
        self.env.cr.execute(
            "SELECT indexdef FROM pg_indexes WHERE tablename = 'workflow_log'"
        )
        indexes = " ".join(row[0] for row in self.env.cr.fetchall())
        self.assertIn("(date_start)", indexes)


class TestCronCycles(FollowupCase):
    """Several companies, day after day, as the scheduler calls the job: each
    cycle runs every company switched on once, and a failure reaches
    ``ir.cron`` whichever call it happened in."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company_a = cls.env.company
        cls.company_b = cls.env["res.company"].create(
            {"name": "Company B", "followup_active": True, "followup_run_hour": 0}
        )
        cls.manager.company_ids = [Command.link(cls.company_b.id)]
        cls.team_b = cls.env["crm.team"].create(
            {"name": "Team B", "company_id": cls.company_b.id}
        )

    def _deal_b(self, name):
        return self._opportunity(
            name,
            days=20,
            company_id=self.company_b.id,
            team_id=self.team_b.id,
            user_id=self.manager.id,
        )

    def _call(self, at=None):
        """One call of the scheduler (it calls the job every hour), at ``at``
        (naive UTC) or now."""
        with freeze_time(at or fields.Datetime.now()):
            self.cron.ir_actions_server_id.with_user(self.odoobot).run()

    def _cron_logs(self, company=None):
        logs = self.env["workflow.log"].search([("trigger", "=", "cron")])
        return logs.filtered(lambda log: not company or log.company_id == company)

    def test_every_company_every_day(self):
        self._opportunity("A's deal", days=20)
        self._deal_b("B's deal")
        self._call()
        # Called again the same day: each company has had its run.
        self._call()
        self.assertEqual(len(self._cron_logs()), 2)
        # The next day: a new run for each.
        deal_b_2 = self._deal_b("B's new stale deal")
        self._call(fields.Datetime.now() + timedelta(days=1))
        logs = self._cron_logs()
        self.assertEqual(
            len(logs.filtered(lambda log: log.company_id == self.company_b)), 2
        )
        self.assertTrue(self._followups(deal_b_2))
        self.assertEqual(set(logs.mapped("state")), {"done"})

    def test_a_late_evening_time_is_never_lost(self):
        """A company whose time comes after the job's last call of its day
        (23:30 in Brussels, the job at :17 of every hour) runs at the first
        call after it, once a day."""
        self.company_a.resource_calendar_id.tz = "Europe/Brussels"
        self.company_a.followup_run_hour = 23.5
        Log = self.env["workflow.log"].sudo()

        def ran_at(moment):
            Log.create(
                {
                    "trigger": "cron",
                    "company_id": self.company_a.id,
                    "state": "done",
                    "date_start": moment,
                }
            )

        def due_hours(day):
            return [
                hour
                for hour in range(24)
                if self.company_a._followup_due(datetime(2027, 1, day, hour, 17))
            ]

        ran_at(datetime(2027, 1, 9, 22, 35))  # 9 Jan, 23:35 in Brussels
        # The 22:17 UTC call is 23:17 there: not yet; the 23:17 call, 00:17 on
        # the 11th there, catches the 10th's run up.
        self.assertEqual(due_hours(10), [23])
        ran_at(datetime(2027, 1, 10, 23, 17))
        self.assertEqual(due_hours(11), [23])

    def test_each_company_at_its_own_time(self):
        """Each company's administrator sets its time in the settings; the
        hourly job opens each company's run at its time where it is, once a
        day, whoever saved last."""
        self.company_a.resource_calendar_id.tz = "UTC"
        self.company_b.resource_calendar_id = self.env["resource.calendar"].create(
            {"name": "Tokyo Hours", "tz": "Asia/Tokyo", "company_id": self.company_b.id}
        )
        admin = self._admin()
        admin.company_ids = [Command.link(self.company_b.id)]
        for company, hour in ((self.company_a, 6.0), (self.company_b, 7.5)):
            settings = self.env["res.config.settings"].with_user(admin)
            form = Form(settings.with_company(company))
            form.followup_run_hour = hour
            form.save().execute()
        self.assertEqual(self.company_a.followup_run_hour, 6.0)
        self.assertEqual(self.company_b.followup_run_hour, 7.5)
        self.assertEqual(
            (self.cron.interval_number, self.cron.interval_type), (1, "hours")
        )
        deal_a = self._opportunity("A's deal", days=20)
        deal_b = self._deal_b("B's deal")
        today = datetime.combine(fields.Date.today(), time())
        # 05:00 UTC, 14:00 in Tokyo: B's run; A's 6:00 has not come.
        self._call(today + timedelta(hours=5))
        self.assertEqual(self._cron_logs().company_id, self.company_b)
        self.assertTrue(self._followups(deal_b))
        self.assertFalse(self._followups(deal_a))
        # 05:59 and 06:00 UTC: A's run, at 6:00; B has had its day.
        self._call(today + timedelta(hours=5, minutes=59))
        self.assertEqual(len(self._cron_logs()), 1)
        self._call(today + timedelta(hours=6))
        self.assertEqual(len(self._cron_logs(self.company_a)), 1)
        self.assertEqual(len(self._cron_logs(self.company_b)), 1)
        self.assertTrue(self._followups(deal_a))
        # 22:00 UTC, 07:00 tomorrow in Tokyo: not yet; 22:30, B's next day.
        self._call(today + timedelta(hours=22))
        self.assertEqual(len(self._cron_logs()), 2)
        self._call(today + timedelta(hours=22, minutes=30))
        self.assertEqual(len(self._cron_logs(self.company_b)), 2)
        self.assertEqual(len(self._cron_logs(self.company_a)), 1)

    def test_a_run_older_than_a_day_starts_afresh(self):
        """A daily run left running (the job was off, the server down) is not
        resumed days later with its old moment: it is closed as interrupted,
        with the reason, and today's run starts."""
        self._opportunity("A's deal", days=20)
        self._opportunity("A's other deal", days=20)
        Runner = type(self.Runner)
        self.patch(Runner, "_chunk_size", 1)
        _spend_the_budget_after_each_chunk(self)
        self._call(fields.Datetime.now() - timedelta(days=3))
        old = self._cron_logs(self.company_a)
        self.assertRecordValues(old, [{"state": "running", "scheduled_count": 1}])
        self.patch(
            Runner, "_commit_progress", lambda runner, processed, remaining=None: 10.0
        )
        self._call()
        self.assertEqual(old.state, "interrupted")
        self.assertIn("started more than a day ago", old.message)
        new = self._cron_logs(self.company_a) - old
        self.assertRecordValues(
            new, [{"state": "done", "stale_count": 2, "scheduled_count": 1}]
        )
        self.assertEqual(new.date_start.date(), fields.Date.today())
        # Its days counted from today, not from three days ago.
        booked = new.line_ids.filtered(lambda line: line.outcome == "scheduled")
        self.assertIn("(stale 20 days)", booked.activity_id.summary)

    def test_failure_reaches_the_scheduler_from_an_earlier_call(self):
        """Company A fails in the first call; B needs more calls: the last
        one still fails the job."""
        self._opportunity("A's deal", days=20)
        for index in range(3):
            self._deal_b(f"B's deal {index}")
        Runner = type(self.Runner)
        draft = Runner._draft_message

        def broken_for_a(runner, leads, params, assignees):
            if leads.company_id == self.company_a:
                raise RuntimeError("A exploded")
            return draft(runner, leads, params, assignees)

        self.patch(Runner, "_draft_message", broken_for_a)
        self.patch(Runner, "_chunk_size", 1)
        cycle_done = []

        def commit_progress(runner, processed, remaining=None):
            """The time budget is spent after every chunk; the scheduler calls
            again until the job reports no work left."""
            if remaining == 0:
                cycle_done.append(True)
            return 0.0 if processed else 10.0

        self.patch(Runner, "_commit_progress", commit_progress)
        errors, calls = [], 0
        with mute_logger(RUNNER_LOGGER):
            while not cycle_done and calls < 10:
                calls += 1
                try:
                    self._call()
                except UserError as exc:
                    errors.append(str(exc))
        self.assertGreater(calls, 2)
        # Only the last call, where the cycle ends, fails the job.
        self.assertEqual(len(errors), 1)
        self.assertIn("My Company", errors[0])
        logs = self.env["workflow.log"].search([("trigger", "=", "cron")])
        self.assertEqual(
            sorted((log.company_id.name, log.state) for log in logs),
            [("Company B", "done"), ("My Company", "failed")],
        )
        self.assertEqual(len(self._followups(logs.line_ids.lead_id)), 3)
