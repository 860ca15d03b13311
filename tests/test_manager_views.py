"""The manager's screens: the dialogs with room to read and a plain word
when there is nothing to do, the deals whose re-engagement is late in the
Stale Opportunities list, the summary email in the order it shows, and the
Stale pill honest while the daily job is off."""

from datetime import timedelta

from lxml import etree

from odoo import fields
from odoo.exceptions import UserError
from odoo.tests import users
from odoo.tools.safe_eval import safe_eval

from odoo.addons.mail.tests.common import MailCase

from .common import FollowupCase


class TestRoomyDialogs(FollowupCase):
    @users("fu_manager")
    def test_nothing_to_schedule_says_so(self):
        won = self._opportunity("Won Deal", days=20, stage_id=self.stage_won.id)
        fresh = self._opportunity("Fresh Deal", days=0)
        action = (won | fresh).with_user(self.env.user).action_followup_schedule()
        self.assertEqual(action["context"]["dialog_size"], "extra-large")
        wizard = self.env["crm.lead.followup.schedule"].browse(action["res_id"])
        self.assertFalse(wizard.line_ids)
        self.assertEqual(wizard.left_out, "Nothing to schedule: 1 not stale, 1 won.")
        with self.assertRaisesRegex(UserError, "Nothing to schedule: 1 not stale"):
            wizard.action_confirm()
        self.assertFalse(self._followups(won | fresh))

    def test_the_preview_is_wide(self):
        self._opportunity("Quiet Deal", days=20)
        action = (
            self.env["res.config.settings"]
            .with_user(self._admin())
            .create({})
            .action_preview_followup()
        )
        self.assertEqual(action["res_model"], "workflow.log")
        self.assertEqual(action["context"]["dialog_size"], "extra-large")


class TestOverdueFilter(FollowupCase):
    """The Stale Opportunities list shows the deals whose re-engagement is
    overdue or escalated, besides the stale ones nobody booked."""

    def _filter_domain(self, name):
        view = self.env.ref("crm.view_crm_case_opportunities_filter")
        arch = self.env["crm.lead"].get_view(view.id, "search")["arch"]
        [node] = etree.fromstring(arch).xpath(f"//filter[@name='{name}']")
        return safe_eval(
            node.get("domain"),
            {"context_today": fields.Date.today, "uid": self.env.uid},
        )

    @users("fu_manager")
    def test_overdue_and_escalated_re_engagements(self):
        leads = {
            name: self._opportunity(f"{name} Deal", days=20)
            for name in ("Overdue", "Due", "Escalated")
        }
        self.Runner.run()
        followups = {name: self._followups(lead) for name, lead in leads.items()}
        followups["Overdue"].date_deadline = fields.Date.today() - timedelta(days=1)
        leads["Escalated"].activity_schedule(
            "mail.mail_activity_data_todo",
            user_id=self.manager.id,
            is_followup_escalation=True,
        )
        domain = self._filter_domain("filter_followup_overdue")
        found = self.env["crm.lead"].search(
            [*domain, ("id", "in", [lead.id for lead in leads.values()])]
        )
        self.assertEqual(found, leads["Overdue"] | leads["Escalated"])
        # The menu's action, as the web client loads it for the manager.
        action = self.env["ir.actions.actions"]._for_xml_id(
            "crm_opportunity_followup.crm_lead_action_stale"
        )
        context = safe_eval(action["context"])
        self.assertEqual(context.get("search_default_filter_followup_overdue"), 1)
        self.assertEqual(context.get("search_default_filter_followup_stale"), 1)


class TestSummaryOrder(FollowupCase, MailCase):
    def test_sorted_by_the_revenue_it_shows(self):
        """$12,000 at 50 % is listed above $8,400 at 100 %: the email shows
        the expected revenue, and is sorted by it."""
        self.salesperson.notification_type = "email"
        self._opportunity(
            "Likely Deal", days=20, expected_revenue=8400, probability=100
        )
        self._opportunity(
            "Bigger Deal", days=20, expected_revenue=12000, probability=50
        )
        with self.mock_mail_gateway():
            self._run_cron()
        mail = self._new_mails.filtered(
            lambda mail: self.salesperson.partner_id in mail.recipient_ids
        )
        body = mail.body_html
        self.assertIn("Expected Revenue", body)
        self.assertLess(body.index("Bigger Deal"), body.index("Likely Deal"))


class TestStaleHintWhileOff(FollowupCase):
    def test_no_promise_while_the_job_is_off(self):
        lead = self._opportunity("Quiet Deal", days=20)
        self.assertIn("a re-engagement is due after", lead.followup_stale_hint)
        self.env.company.followup_active = False
        lead.invalidate_recordset(["followup_stale_hint"])
        self.assertEqual(
            lead.with_user(self.salesperson).followup_stale_hint,
            "Nobody worked on it for 20 days; the daily re-engagement job is off "
            "in the CRM Settings, so none is booked by itself.",
        )
