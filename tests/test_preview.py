from odoo.exceptions import AccessError, UserError

from .common import FollowupCase


class TestPreview(FollowupCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.stale = cls._opportunity("Preview Deal", days=20)
        cls.won = cls._opportunity("Preview Won", days=20, stage_id=cls.stage_won.id)

    def test_dry_run_creates_nothing(self):
        result = self.Runner.run(dry_run=True)
        real = dict(result)
        self.assertEqual(
            result["steps_executed"],
            ["detect_stale", "filter_eligible", "draft_message", "log_execution"],
        )
        self.assertEqual(result["counts"]["scheduled"], 1)
        self.assertIn("would be scheduled", result["message"])
        self.assertFalse(self._followups(self.stale))
        log = self.env["workflow.log"].browse(result["log_id"])
        self.assertTrue(log.dry_run)
        lines = {line.lead_id: line for line in log.line_ids}
        self.assertEqual(lines[self.stale].outcome, "preview")
        self.assertIn("Preview Deal", lines[self.stale].note)
        self.assertEqual(lines[self.stale].assignee_id, self.salesperson)
        self.assertEqual(lines[self.won].outcome, "skipped_won")
        # The real run gives the same counts.
        self.assertEqual(self.Runner.run()["counts"], real["counts"])

    def test_confirm_schedules_exactly_the_list(self):
        action = self.Runner.with_user(self.manager).action_preview_from_menu()
        self.assertEqual(action["res_model"], "workflow.log")
        preview = self.env["workflow.log"].browse(action["res_id"])
        late = self._opportunity("Became stale after the preview", days=20)
        preview.with_user(self.manager).action_confirm_preview()
        self.assertTrue(self._followups(self.stale))
        self.assertFalse(self._followups(late))
        self.assertEqual(preview.confirmed_log_id.scheduled_count, 1)
        with self.assertRaises(UserError):
            preview.with_user(self.manager).action_confirm_preview()

    def test_preview_from_the_list(self):
        action = (
            self.env.ref("crm_opportunity_followup.crm_lead_action_preview_followup")
            .with_user(self.salesperson)
            .with_context(active_model="crm.lead", active_ids=self.stale.ids)
            .run()
        )
        preview = self.env["workflow.log"].browse(action["res_id"])
        self.assertEqual(preview.line_ids.outcome, "preview")
        self.assertFalse(self._followups(self.stale))

    def test_preview_from_the_menu(self):
        """Sales managers who may not open the Settings start from the CRM menu."""
        action = self.env.ref(
            "crm_opportunity_followup.opportunity_followup_runner_action_preview"
        )
        result = action.with_user(self.manager).run()
        preview = self.env["workflow.log"].browse(result["res_id"])
        self.assertEqual((preview.trigger, preview.dry_run), ("menu", True))
        self.assertEqual(preview.scheduled_count, 1)
        self.assertFalse(self._followups(self.stale))
        with self.assertRaises(AccessError):
            action.with_user(self.salesperson).run()
