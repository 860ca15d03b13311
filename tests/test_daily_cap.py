"""The daily cap: the daily job books the most valuable deals first and the
deferred ones the next day; what a manager ticks is booked as shown."""

from odoo.tests import Form

from .common import FollowupCase


class TestDailyCap(FollowupCase):
    def test_cap_defers_then_priority_next_run(self):
        form = Form(self.env["res.config.settings"].with_user(self._admin()))
        form.followup_daily_cap = 2
        form.save().execute()
        deals = {
            name: self._opportunity(
                name, days=20, expected_revenue=revenue, probability=probability
            )
            for name, revenue, probability in (
                ("Medium", 1000, 50),
                ("Big", 4000, 50),
                ("Small", 3000, 10),
                ("Tiny", 100, 100),
            )
        }
        first = self.Runner.with_user(self.manager).run()
        self.assertEqual(first["counts"]["scheduled"], 2)
        self.assertEqual(first["counts"]["deferred"], 2)
        self.assertTrue(self._followups(deals["Big"] | deals["Medium"]))
        self.assertFalse(self._followups(deals["Small"] | deals["Tiny"]))
        lines = self.env["workflow.log"].browse(first["log_id"]).line_ids
        deferred = lines.filtered(lambda line: line.outcome == "deferred")
        self.assertEqual(deferred.lead_id, deals["Small"] | deals["Tiny"])
        self.assertIn("daily cap", deferred[0].reason)
        self.assertIn("2 deferred by the daily cap", first["message"])
        # Next run: the deferred ones come first, before a bigger new one.
        self._followups(deals["Big"] | deals["Medium"]).action_feedback("Called")
        huge = self._opportunity(
            "Huge", days=20, expected_revenue=90000, probability=50
        )
        second = self.Runner.with_user(self.manager).run()
        self.assertTrue(self._followups(deals["Small"] | deals["Tiny"]))
        self.assertFalse(self._followups(huge))
        self.assertEqual(second["counts"]["deferred"], 1)

    def test_what_the_manager_ticked_is_booked_as_shown(self):
        """The Schedule dialog books exactly what it shows: the daily cap is
        for what nobody chose."""
        self._set_param("daily_cap", "1")
        deals = self.env["crm.lead"]
        for name in ("Ticked One", "Ticked Two", "Ticked Three"):
            deals |= self._opportunity(name, days=20)
        action = deals.with_user(self.manager).action_followup_schedule()
        wizard = self.env[action["res_model"]].browse(action["res_id"])
        self.assertEqual(len(wizard.line_ids.filtered("selected")), 3)
        wizard.with_user(self.manager).action_confirm()
        self.assertEqual(len(self._followups(deals)), 3)
        log = self.env["workflow.log"].search([], limit=1)
        self.assertEqual(log.scheduled_count, 3)
        self.assertEqual(log.deferred_count, 0)
        # The daily job still keeps to the cap.
        others = self._opportunity("Quiet One", days=20) | self._opportunity(
            "Quiet Two", days=20
        )
        log = self._run_cron()
        self.assertEqual(len(self._followups(others)), 1)
        self.assertEqual(log.deferred_count, 1)
