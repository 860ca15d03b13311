"""Pausing a deal: the runs keep away until the day after the pause, with its
reason on the log; a salesperson pauses their own deals, a manager any."""

from datetime import timedelta

from freezegun import freeze_time

from odoo import fields
from odoo.exceptions import AccessError, ValidationError
from odoo.tests import Form, users

from .common import FollowupCase


class TestPause(FollowupCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.lead = cls._opportunity("Revisit In Spring", days=20)
        cls.other = cls._opportunity("Someone Else's", user_id=cls.salesperson_2.id)

    def _pause(self, leads, until, reason):
        action = leads.action_followup_pause()
        wizard = Form(self.env[action["res_model"]].with_context(**action["context"]))
        wizard.paused_until = until
        wizard.reason = reason
        wizard.save().action_pause()

    @users("fu_sales")
    def test_pause_then_wake_up(self):
        lead = self.lead.with_user(self.env.user)
        until = fields.Date.today() + timedelta(days=10)
        self._pause(lead, until, "Budget frozen until spring")
        self.assertEqual(lead.followup_paused_until, until)
        # Paused a while ago: quiet for 20 days since.
        self._set_write_date(self.lead, fields.Datetime.now() - timedelta(days=20))
        self.assertFalse(lead.followup_is_stale)
        paused = self.env["crm.lead"].search(
            [("followup_paused_until", ">=", fields.Date.today())]
        )
        self.assertIn(lead, paused)
        self.assertNotIn(
            lead, self.env["crm.lead"].search([("followup_is_stale", "=", True)])
        )
        result = self.Runner.with_user(self.manager).run()
        self.assertEqual(result["counts"]["skipped_paused"], 1)
        line = (
            self.env["workflow.log"]
            .sudo()
            .browse(result["log_id"])
            .line_ids.filtered(lambda line: line.lead_id == self.lead)
        )
        self.assertEqual(line.outcome, "skipped_paused")
        self.assertIn("Budget frozen until spring", line.reason)
        self.assertFalse(self._followups(self.lead))
        # The day after the pause: it wakes up by itself.
        with freeze_time(until + timedelta(days=1)):
            self._set_write_date(self.lead, fields.Datetime.now() - timedelta(20))
            self.assertTrue(lead.followup_is_stale)
            self.Runner.with_user(self.manager).run()
        self.assertTrue(self._followups(self.lead))

    @users("fu_sales")
    def test_salesperson_pauses_only_their_own(self):
        other = self.other.with_user(self.env.user)
        with self.assertRaises(AccessError):
            self._pause(other, fields.Date.today() + timedelta(days=5), "No")

    @users("fu_manager")
    def test_manager_pauses_any_and_resumes(self):
        other = self.other.with_user(self.env.user)
        self._pause(other, fields.Date.today() + timedelta(days=5), "Holidays")
        self.assertTrue(other.followup_paused_until)
        other.action_followup_resume()
        self.assertFalse(other.followup_paused_until)

    @users("fu_sales")
    def test_past_date_refused(self):
        """A pause ending before today would pause nothing: the dialog and the
        field both say so, and the deal stays as it was."""
        lead = self.lead.with_user(self.env.user)
        yesterday = fields.Date.today() - timedelta(days=1)
        with self.assertRaises(ValidationError) as refused:
            self._pause(lead, yesterday, "Too late")
        self.assertRegex(
            str(refused.exception), "must last until today or later: .* is in the past"
        )
        with self.assertRaises(ValidationError) as refused:
            lead.followup_paused_until = yesterday
        self.assertIn("is in the past", str(refused.exception))
        self.assertFalse(lead.followup_paused_until)
        # Today is still a pause: the runs keep away until tomorrow.
        self._pause(lead, fields.Date.today(), "Call back tomorrow")
        self.assertTrue(lead.followup_is_paused)

    @users("fu_sales")
    def test_ended_pause_shows_no_banner(self):
        """The banner and *Resume* follow the pause, not its date: the day
        after it ends, the deal shows as not paused any more."""
        lead = self.lead.with_user(self.env.user)
        until = fields.Date.today() + timedelta(days=3)
        self._pause(lead, until, "Back from holidays")
        self.assertTrue(lead.followup_is_paused)
        with freeze_time(until):
            lead.invalidate_recordset(["followup_is_paused"])
            self.assertTrue(lead.followup_is_paused)
        with freeze_time(until + timedelta(days=1)):
            lead.invalidate_recordset(["followup_is_paused"])
            self.assertFalse(lead.followup_is_paused)
            self.assertEqual(lead.followup_paused_until, until)
