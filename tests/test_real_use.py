"""The follow-up as the people who use it meet it, in Odoo's own flows:
the salesperson doing the work, the manager merging duplicates, the
administrator saving settings, OdooBot running the daily job."""

from freezegun import freeze_time

from odoo.exceptions import UserError
from odoo.tests import users

from .common import FollowupCase


class TestSmallerDefects(FollowupCase):
    """7. The smaller defects found in review."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.stale = cls._opportunity("Stale Deal", days=20)

    @users("fu_manager")
    def test_log_name_search(self):
        result = self.Runner.run()
        found = self.env["workflow.log"].name_search("opportunity_follow_up")
        self.assertIn(result["log_id"], [log_id for log_id, _name in found])
        self.assertFalse(self.env["workflow.log"].name_search("no-such-text-xyz"))

    def test_log_reads_for_managers(self):
        """Titled with what started it and when; parameters as labelled
        values, records by name."""
        with freeze_time("2026-11-24 09:30:00"):
            result = self.Runner.with_user(self.manager).run(
                user_id=self.salesperson.id, dry_run=True
            )
        log = self.env["workflow.log"].with_user(self.manager).browse(result["log_id"])
        self.assertTrue(
            log.display_name.startswith("Preview: Manual / Code, 11/24/26, 9:30"),
            log.display_name,
        )
        self.assertEqual(
            log.parameters_display.splitlines(),
            [
                "Stale after: 14 days",
                "Counts as an update: "
                "Any work on it: an edit, a message, a completed activity",
                "Activity: Call",
                "Due in: 2 days",
                "Salesperson: Sam Seller",
                "Sales team: —",
                "Opportunities: —",
                "Default re-engagement user: —",
            ],
        )

    def test_duration_is_seconds(self):
        arch = self.env["workflow.log"].get_views([(False, "list"), (False, "form")])
        for view in arch["views"].values():
            self.assertNotIn("float_time", view["arch"])

    @users("fu_manager")
    def test_confirming_a_run_that_is_no_preview(self):
        log = self.env["workflow.log"].browse(self.Runner.run()["log_id"])
        with self.assertRaisesRegex(UserError, "not a preview"):
            log.action_confirm_preview()

    def test_unknown_trigger_is_refused(self):
        with self.assertRaisesRegex(UserError, "trigger"):
            self.Runner.run(trigger="bogus")
        self.assertFalse(self._followups(self.stale))

    @users("fu_sales")
    def test_list_actions_are_record_methods(self):
        lead = self.stale.with_user(self.env.user)
        action = lead.action_followup_schedule()
        self.assertEqual(action["res_model"], "crm.lead.followup.schedule")
        action = lead.action_followup_run()
        self.assertEqual(action["params"]["type"], "success")
        self.assertTrue(self._followups(self.stale))
