import threading
import time
from datetime import timedelta

from odoo import SUPERUSER_ID, api, fields
from odoo.exceptions import AccessError, UserError
from odoo.orm.environments import Transaction
from odoo.tests import TransactionCase, new_test_user, tagged
from odoo.tools import SQL

from .common import FollowupCase


class TestReliability(FollowupCase):
    def test_interrupted_run_is_marked(self):
        dead = (
            self.env["workflow.log"]
            .sudo()
            .create({"trigger": "cron", "state": "running"})
        )
        self._opportunity("Stale Deal", days=20)
        result = self.Runner.run()
        self.assertTrue(result["success"])
        self.assertEqual(dead.state, "interrupted")
        self.assertIn("Interrupted", dead.message)

    def test_purge_old_logs(self):
        Log = self.env["workflow.log"].sudo()
        old = Log.create({"date_start": fields.Datetime.now() - timedelta(days=200)})
        old.line_ids = [(0, 0, {"outcome": "scheduled"})]
        recent = Log.create({"date_start": fields.Datetime.now() - timedelta(days=10)})
        self._set_param("log_retention_days", 0)
        Log._cron_purge_old_logs()
        self.assertTrue(old.exists())
        self._set_param("log_retention_days", 180)
        Log._cron_purge_old_logs()
        self.assertFalse(old.exists())
        self.assertFalse(
            self.env["workflow.log.line"].search([("log_id", "=", old.id)])
        )
        self.assertTrue(recent.exists())

    def test_bad_filters(self):
        stale = self._opportunity("Stale Deal", days=20)
        archived_user = new_test_user(
            self.env, "fu_archived", groups="sales_team.group_sale_salesman"
        )
        archived_deal = self._opportunity(
            "Archived user's deal", days=20, user_id=archived_user.id
        )
        archived_user.action_archive()
        # An archived salesperson still owns opportunities: the filter holds.
        result = self.Runner.run(user_id=archived_user.id)
        self.assertEqual(result["counts"]["stale"], 1)
        self.assertTrue(self._followups(archived_deal))
        self.assertFalse(self._followups(stale))
        for key, value in (("user_id", "7"), ("team_id", 1.5), ("user_id", [1])):
            with (
                self.subTest(key=key, value=value),
                self.assertRaises(UserError) as caught,
            ):
                self.Runner.run(**{key: value})
            self.assertIn(key, str(caught.exception))
        with self.assertRaises(UserError) as caught:
            self.Runner.run(lead_ids="abc")
        self.assertIn("lead_ids", str(caught.exception))
        self.assertFalse(self._followups(stale))

    def test_other_company(self):
        company_b = self.env["res.company"].create({"name": "Company B"})
        user_b = new_test_user(
            self.env,
            "fu_user_b",
            groups="sales_team.group_sale_salesman",
            company_id=company_b.id,
            company_ids=[(6, 0, company_b.ids)],
        )
        lead_b = self._opportunity(
            "B's deal",
            days=20,
            company_id=company_b.id,
            team_id=False,
            user_id=user_b.id,
        )
        lead_a = self._opportunity("A's deal", days=20)
        # A run from company A never touches company B, even filtered on B's
        # salesperson.
        result = self.Runner.with_user(self.manager).run(user_id=user_b.id)
        self.assertFalse(self._followups(lead_b))
        result = self.Runner.with_user(self.manager).run()
        self.assertEqual(result["counts"]["stale"], 1)
        self.assertTrue(self._followups(lead_a))
        self.assertFalse(self._followups(lead_b))
        with self.assertRaises(AccessError):
            self.Runner.with_user(self.manager).run(lead_ids=lead_b.ids)
        # The cron runs every company, one log each.
        self.env.ref(
            "crm_opportunity_followup.ir_cron_opportunity_followup"
        ).ir_actions_server_id.run()
        self.assertTrue(self._followups(lead_b))
        log_b = self.env["workflow.log"].search([("company_id", "=", company_b.id)])
        self.assertEqual(log_b.trigger, "cron")
        self.assertEqual(log_b.line_ids.lead_id, lead_b)


@tagged("post_install", "-at_install")
class TestConcurrentRuns(TransactionCase):
    """Two runs on two real database connections at the same moment."""

    def test_two_runs_book_each_opportunity_once(self):
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            leads = env["crm.lead"].create(
                [{"name": f"Race {i}", "type": "opportunity"} for i in range(40)]
            )
            env.flush_all()
            cr.execute(
                SQL(
                    "UPDATE crm_lead SET write_date = %s WHERE id IN %s",
                    fields.Datetime.now() - timedelta(days=30),
                    tuple(leads.ids),
                )
            )
            lead_ids = leads.ids
        self.addCleanup(self._cleanup, lead_ids)

        Runner = type(self.env["opportunity.followup.runner"])
        original = Runner._log_execution
        first_done, release = threading.Event(), threading.Event()

        def held_open(runner, *args):
            # The first run waits with its activities inserted but not committed.
            if threading.current_thread().name == "first":
                first_done.set()
                release.wait(30)
            return original(runner, *args)

        self.patch(Runner, "_log_execution", held_open)
        results = {}

        def worker():
            name = threading.current_thread().name
            try:
                with self.registry.cursor() as cr:
                    # Bind the registry directly: looking it up by name waits on
                    # the registry lock that the test runner's thread holds.
                    cr.transaction = Transaction(self.registry)
                    env = api.Environment(cr, SUPERUSER_ID, {})
                    results[name] = env["opportunity.followup.runner"].run(
                        lead_ids=lead_ids
                    )
            except Exception as exc:
                results[name] = exc
                first_done.set()

        first = threading.Thread(target=worker, name="first")
        second = threading.Thread(target=worker, name="second")
        first.start()
        self.assertTrue(first_done.wait(30))
        self.assertNotIsInstance(results.get("first"), Exception)
        second.start()
        time.sleep(1)  # the second run now waits on the first one's rows
        release.set()
        first.join(60)
        second.join(60)

        self.assertEqual(results["first"]["counts"]["scheduled"], 40)
        self.assertEqual(results["second"]["counts"]["scheduled"], 0)
        self.assertEqual(results["second"]["counts"]["skipped_pending"], 40)
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
