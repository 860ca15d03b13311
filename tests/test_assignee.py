"""Who gets a re-engagement: the salesperson, else the team leader, else the
default user of the settings; only someone who may open the opportunity, and
never OdooBot."""

from datetime import timedelta

from freezegun import freeze_time

from odoo import fields
from odoo.tests import Form, new_test_user

from .common import FollowupCase


class TestAssignee(FollowupCase):
    """Nobody's follow-ups never go to OdooBot."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.leaderless = cls.env["crm.team"].create({"name": "No Leader"})
        cls.orphan = cls._opportunity(
            "Orphan", days=20, user_id=False, team_id=cls.leaderless.id
        )

    def test_cron_skips_nobody_s_opportunity(self):
        log = self._run_cron()
        self.assertFalse(self._followups(self.orphan))
        line = log.line_ids.filtered(lambda line: line.lead_id == self.orphan)
        self.assertEqual(line.outcome, "skipped_unassigned")
        self.assertIn("No one to assign it to", line.reason)
        self.assertEqual(log.skipped_unassigned_count, 1)
        self.assertIn("no one to assign them to", log.message)
        self.assertFalse(
            self.env["mail.mail"].search(
                [("recipient_ids", "in", self.env.ref("base.partner_root").ids)]
            )
        )

    def test_default_user_from_the_settings(self):
        form = Form(self.env["res.config.settings"].with_user(self._admin()))
        form.followup_default_user_id = self.senior
        form.save().execute()
        self._run_cron()
        self.assertEqual(self._followups(self.orphan).user_id, self.senior)

    def test_only_someone_who_may_open_it(self):
        """An archived salesperson's deal never goes to a team leader or a
        default user who sees only their own opportunities: they could read
        its line, note and digest, not the opportunity."""
        gone = new_test_user(
            self.env, "fu_gone", groups="sales_team.group_sale_salesman"
        )
        self.team.user_id = self.salesperson_2
        self._set_param("default_user_id", self.salesperson_2.id)
        left = self._opportunity("Left Company", days=20, user_id=gone.id)
        gone.action_archive()
        self.assertFalse(left.with_user(self.salesperson_2).has_access("read"))
        log = self._run_cron()
        self.assertFalse(self._followups(left))
        line = log.line_ids.filtered(lambda line: line.lead_id == left)
        self.assertEqual(line.outcome, "skipped_unassigned")
        self.assertFalse(
            self.env["workflow.log.line"]
            .with_user(self.salesperson_2)
            .search([("lead_id", "=", left.id)])
        )
        # Someone who sees every opportunity gets it, the next day.
        self._set_param("default_user_id", self.senior.id)
        with freeze_time(fields.Datetime.now() + timedelta(days=1)):
            self._run_cron()
        self.assertEqual(self._followups(left).user_id, self.senior)

    def test_never_an_archived_or_portal_user(self):
        portal = new_test_user(self.env, "fu_portal", groups="base.group_portal")
        self._set_param("default_user_id", portal.id)
        gone = new_test_user(
            self.env, "fu_gone", groups="sales_team.group_sale_salesman"
        )
        left = self._opportunity("Left Company", days=20, user_id=gone.id)
        gone.action_archive()
        log = self._run_cron()
        self.assertFalse(self._followups(self.orphan))
        # An archived salesperson: their team leader gets it.
        self.assertEqual(self._followups(left).user_id, self.manager)
        self.assertEqual(log.skipped_unassigned_count, 1)
