from datetime import timedelta

from odoo import fields
from odoo.exceptions import AccessError, UserError
from odoo.tests import new_test_user

from .common import FollowupCase


class TestReliability(FollowupCase):
    def test_purge_old_logs(self):
        Log = self.env["workflow.log"].sudo()
        old = Log.create({"date_start": fields.Datetime.now() - timedelta(days=200)})
        # Not a re-engagement, whose result outlives the retention (see
        # TestResultRetention).
        old.line_ids = [(0, 0, {"outcome": "skipped_won"})]
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
        # The cron runs every company switched on, one log each.
        company_b.followup_active = True
        self.env.ref(
            "crm_opportunity_followup.ir_cron_opportunity_followup"
        ).ir_actions_server_id.run()
        self.assertTrue(self._followups(lead_b))
        log_b = self.env["workflow.log"].search([("company_id", "=", company_b.id)])
        self.assertEqual(log_b.trigger, "cron")
        self.assertEqual(log_b.line_ids.lead_id, lead_b)
