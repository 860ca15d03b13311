"""Odoo's merge of duplicates, and the other flows that move activities
from one opportunity to another: one open re-engagement, one escalation and
the longest pause stay on the opportunity kept."""

from datetime import timedelta

from freezegun import freeze_time

from odoo import Command, fields
from odoo.exceptions import AccessError
from odoo.tests import Form, users

from .common import EscalationCase, FollowupCase, day


class TestMerge(FollowupCase):
    """Odoo's merge and other flows that move activities."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.first = cls._opportunity(
            "Globex Licences", days=20, partner_name="Globex", expected_revenue=900
        )
        cls.second = cls._opportunity(
            "Globex Licences (web form)", days=25, partner_name="Globex"
        )
        cls.both = cls.first | cls.second
        cls.Runner.run()

    def _open_followups(self, lead):
        return self._followups(lead).filtered("active")

    @users("fu_manager")
    def test_merge_action(self):
        kept = self.both.with_user(self.env.user).merge_opportunity()
        self.assertEqual(len(self._open_followups(kept)), 1)
        self.assertFalse(self._followups(self.both - kept).exists())

    @users("fu_manager")
    def test_merge_wizard(self):
        wizard = (
            self.env["crm.merge.opportunity"]
            .with_context(active_model="crm.lead", active_ids=self.both.ids)
            .create({"opportunity_ids": [Command.set(self.both.ids)]})
        )
        wizard.action_merge()
        kept = self.both.exists()
        self.assertEqual(len(kept), 1)
        self.assertEqual(len(self._open_followups(kept)), 1)

    @users("fu_manager")
    def test_lead_conversion_merges_into_booked_opportunity(self):
        lead = self.env["crm.lead"].create(
            {"name": "Globex Licences", "type": "lead", "partner_name": "Globex"}
        )
        lead.activity_schedule("mail.mail_activity_data_todo", summary="Qualify")
        wizard = Form(
            self.env["crm.lead2opportunity.partner"].with_context(
                active_model="crm.lead", active_id=lead.id, active_ids=lead.ids
            )
        )
        wizard.name = "merge"
        wizard.duplicated_lead_ids.clear()
        for duplicate in self.both | lead:
            wizard.duplicated_lead_ids.add(duplicate)
        kept = wizard.save().action_apply()
        kept = self.env["crm.lead"].browse(kept["res_id"])
        self.assertEqual(len(self._open_followups(kept)), 1)
        self.assertIn("Qualify", kept.activity_ids.mapped("summary"))

    @users("fu_manager")
    def test_activity_ids_link(self):
        """Moving one re-engagement onto an opportunity that has one."""
        moved = self._followups(self.second)
        self.first.with_user(self.env.user).write(
            {"activity_ids": [Command.link(moved.id)]}
        )
        self.assertEqual(len(self._open_followups(self.first)), 1)
        self.assertFalse(self._followups(self.second))

    def test_moving_onto_a_free_opportunity_keeps_it(self):
        free = self._opportunity("Free", days=0)
        moved = self._followups(self.second)
        moved.with_user(self.manager).write({"res_id": free.id})
        self.assertEqual(self._open_followups(free), moved)

    def test_moving_without_the_right_deletes_nothing(self):
        """A salesperson moving a colleague's re-engagement onto a booked
        opportunity is refused before anything is deleted."""
        moved, booked = self._followups(self.second), self._followups(self.first)
        with self.assertRaises(AccessError):
            # Read by the system earlier in the transaction (as sudo'd code
            # does): in the cache, no read check stops the move.
            self.assertTrue(moved.sudo().is_followup)
            moved.with_user(self.salesperson_2).write({"res_id": self.first.id})
        self.assertEqual(self._open_followups(self.second), moved)
        self.assertEqual(self._open_followups(self.first), booked)

    def test_merge_keeps_the_latest_pause(self):
        """A salesperson merges, with Odoo's wizard, a duplicate the customer
        asked to leave alone into the deal they work on: the pause that lasts
        longest stays, with its reason, and the runs keep away."""
        today = fields.Date.today()
        kept = self._opportunity(
            "Initech Renewal",
            stage_id=self.stage_qualified.id,
            partner_name="Initech",
            followup_paused_until=today + timedelta(days=5),
            followup_pause_reason="Back from holiday next week",
        )
        duplicate = self._opportunity(
            "Initech Renewal (web form)",
            partner_name="Initech",
            followup_paused_until=today + timedelta(days=60),
            followup_pause_reason="Budget frozen until next quarter",
        )
        both = (kept | duplicate).with_user(self.salesperson)
        wizard = (
            self.env["crm.merge.opportunity"]
            .with_user(self.salesperson)
            .with_context(active_model="crm.lead", active_ids=both.ids)
            .create({"opportunity_ids": [Command.set(both.ids)]})
        )
        wizard.action_merge()
        self.assertFalse(duplicate.exists())
        self.assertRecordValues(
            kept,
            [
                {
                    "followup_paused_until": today + timedelta(days=60),
                    "followup_pause_reason": "Budget frozen until next quarter",
                }
            ],
        )
        self._set_last_work(kept, fields.Datetime.now() - timedelta(days=20))
        result = self.Runner.with_user(self.manager).run(lead_ids=kept.ids)
        line = self.env["workflow.log"].browse(result["log_id"]).line_ids
        self.assertEqual(line.outcome, "skipped_paused")
        self.assertFalse(self._followups(kept))


class TestMergeEscalation(EscalationCase):
    """Merging two escalated duplicates keeps one escalation."""

    def test_merge_keeps_one_escalation(self):
        twin = self._opportunity("Initech Upgrade (copy)", days=20)
        self._book()
        with freeze_time(day(8)):
            self._run_cron()
        escalations = self._escalations(self.lead | twin)
        self.assertEqual(len(escalations), 2)
        merged = (self.lead | twin)._merge_opportunity(auto_unlink=True)
        self.assertEqual(len(self._escalations(merged)), 1)
        self.assertEqual(len(self._followups(merged).filtered("active")), 1)
