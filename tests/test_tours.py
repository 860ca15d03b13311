from datetime import timedelta

from odoo import fields
from odoo.tests import HttpCase, tagged

from .common import FollowupCase


@tagged("post_install", "-at_install")
class TestTours(HttpCase, FollowupCase):
    """The buttons, clicked in a real browser (headless Chromium)."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        admin = cls.env.ref("base.user_admin")
        cls.deal_a = cls._opportunity("Tour Deal A", days=20, user_id=admin.id)
        cls.deal_b = cls._opportunity("Tour Deal B", days=20, user_id=admin.id)

    def test_settings_button(self):
        self.start_tour(
            "/odoo/settings#crm",
            "crm_opportunity_followup_settings_tour",
            login="admin",
        )
        self.assertEqual(len(self._followups(self.deal_a | self.deal_b)), 2)
        self.assertEqual(
            self.env["workflow.log"].search([], limit=1).trigger, "settings_button"
        )

    def test_list_action(self):
        self.start_tour(
            "/odoo/action-crm.crm_lead_action_pipeline?view_type=list",
            "crm_opportunity_followup_list_tour",
            login="admin",
        )
        self.assertEqual(len(self._followups(self.deal_a | self.deal_b)), 2)
        self.assertEqual(
            self.env["workflow.log"].search([], limit=1).trigger, "server_action"
        )

    def test_manager_flow(self):
        """Filter, tick, review in the wizard, untick one, confirm, reload."""
        stale_a = self._opportunity("Tour Stale A", days=20)
        stale_b = self._opportunity("Tour Stale B", days=20)
        self.start_tour(
            "/odoo/stale-opportunities",
            "crm_opportunity_followup_manager_tour",
            login="fu_manager",
        )
        self.assertEqual(self._followups(stale_a).user_id, self.salesperson)
        self.assertFalse(self._followups(stale_b))
        log = self.env["workflow.log"].search([], limit=1)
        self.assertEqual((log.trigger, log.user_id), ("menu", self.manager))

    def test_salesperson_sends_the_customer_email(self):
        """The salesperson opens a stale deal and sends the email offered on
        its re-engagement."""
        customer = self.env["res.partner"].create(
            {"name": "Ada Lovelace", "email": "ada@globex.example"}
        )
        deal = self._opportunity("Tour Send Deal", days=20, partner_id=customer.id)
        self._run_cron()
        self.start_tour(
            f"/odoo/crm.lead/{deal.id}",
            "crm_opportunity_followup_send_tour",
            login="fu_sales",
        )
        message = deal.message_ids.filtered(lambda m: m.message_type == "comment")[:1]
        self.assertEqual(message.author_id, self.salesperson.partner_id)
        self.assertEqual(message.partner_ids, customer)
        self.assertIn("Hello Ada,", message.body)
        # Sent means done: the re-engagement is completed, saying so.
        self.assertFalse(self._followups(deal))
        done = self.Activity.with_context(active_test=False).search(
            [("res_model", "=", "crm.lead"), ("res_id", "=", deal.id)]
        )
        self.assertEqual(done.mapped("feedback"), ["Email sent"])

    def test_salesperson_pause_refuses_a_past_date(self):
        deal = self._opportunity("Tour Pause Deal", days=20)
        self.start_tour(
            f"/odoo/crm.lead/{deal.id}",
            "crm_opportunity_followup_pause_tour",
            login="fu_sales",
        )
        self.assertFalse(deal.followup_paused_until)

    def test_salesperson_my_reengagements(self):
        mine = self._opportunity("Tour Mine", days=20)
        theirs = self._opportunity(
            "Tour Theirs", days=20, user_id=self.salesperson_2.id
        )
        self._run_cron()
        self.assertTrue(self._followups(mine) and self._followups(theirs))
        self.start_tour(
            "/odoo/crm",
            "crm_opportunity_followup_my_reengagements_tour",
            login="fu_sales",
        )

    def test_manager_sees_pending_apart(self):
        """The manager's report: a re-engagement booked this morning and not
        yet due is pending, in its own column, not ignored."""
        self._run_cron()
        self.start_tour(
            "/odoo/action-crm_opportunity_followup.crm_followup_effectiveness_report_action",
            "crm_opportunity_followup_manager_figures_tour",
            login="fu_manager",
        )

    def test_manager_finds_the_overdue_re_engagement(self):
        """Listed as overdue; the Schedule dialog says there is nothing to
        schedule for it, and books nothing."""
        overdue = self._opportunity("Tour Overdue", days=20)
        self._run_cron()
        followup = self._followups(overdue)
        followup.date_deadline = fields.Date.today() - timedelta(days=1)
        logs = self.env["workflow.log"].search_count([])
        self.start_tour(
            "/odoo/stale-opportunities",
            "crm_opportunity_followup_manager_overdue_tour",
            login="fu_manager",
        )
        self.assertEqual(self._followups(overdue), followup)
        self.assertEqual(self.env["workflow.log"].search_count([]), logs)

    def test_admin_typo_in_the_settings(self):
        """A typo gets the message naming the range; nothing is saved."""
        self.start_tour(
            "/odoo/settings#crm",
            "crm_opportunity_followup_admin_bounds_tour",
            login="admin",
        )
        settings = self.env["res.config.settings"]._followup_settings()
        self.assertEqual(settings["deadline_days"], 2)
