from odoo.exceptions import AccessError, UserError
from odoo.tests import Form, new_test_user, users

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
        """The settings' Preview: a stored list, scheduled as listed."""
        admin = self._admin()
        action = (
            self.env["res.config.settings"]
            .with_user(admin)
            .create({})
            .action_preview_followup()
        )
        self.assertEqual(action["res_model"], "workflow.log")
        preview = self.env["workflow.log"].browse(action["res_id"])
        late = self._opportunity("Became stale after the preview", days=20)
        preview.with_user(admin).action_confirm_preview()
        self.assertTrue(self._followups(self.stale))
        self.assertFalse(self._followups(late))
        self.assertEqual(preview.confirmed_log_id.scheduled_count, 1)
        with self.assertRaises(UserError):
            preview.with_user(admin).action_confirm_preview()

    def test_confirm_keeps_each_stage_threshold(self):
        """A deal in a stage with a shorter threshold than the settings' is
        listed by the preview, then scheduled by its confirmation."""
        self.stage_qualified.followup_stale_days = 7
        fast = self._opportunity(
            "Fast Stage", days=10, stage_id=self.stage_qualified.id
        )
        preview = self.env["workflow.log"].browse(
            self.Runner.with_user(self.manager).run(dry_run=True)["log_id"]
        )
        listed = preview.line_ids.filtered(lambda line: line.outcome == "preview")
        self.assertIn(fast, listed.lead_id)
        preview.with_user(self.manager).action_confirm_preview()
        self.assertTrue(self._followups(fast))
        # An explicit number stays the preview's number.
        explicit = self._opportunity("Explicit", days=10, stage_id=self.stage_new.id)
        preview = self.env["workflow.log"].browse(
            self.Runner.with_user(self.manager).run(stale_days=9, dry_run=True)[
                "log_id"
            ]
        )
        self.stage_new.followup_stale_days = 30
        preview.with_user(self.manager).action_confirm_preview()
        self.assertTrue(self._followups(explicit))

    def test_schedule_wizard_from_the_list(self):
        """The manager's flow: tick, review, untick one, reassign one, confirm;
        nothing is stored before the confirmation."""
        other = self._opportunity("Preview Other", days=25, user_id=False)
        third = self._opportunity("Preview Third", days=30)
        ticked = self.stale | self.won | other | third
        logs_before = self.env["workflow.log"].search_count([])
        action = (
            self.env.ref("crm_opportunity_followup.crm_lead_action_preview_followup")
            .with_user(self.manager)
            .with_context(active_model="crm.lead", active_ids=ticked.ids)
            .run()
        )
        wizard = self.env["crm.lead.followup.schedule"].browse(action["res_id"])
        self.assertEqual(self.env["workflow.log"].search_count([]), logs_before)
        self.assertFalse(self._followups(ticked))
        self.assertEqual(wizard.left_out, "Left out: 1 won.")
        lines = {line.lead_id: line for line in wizard.line_ids}
        self.assertEqual(set(lines), {self.stale, other, third})
        # No salesperson: the team leader, as the run would.
        self.assertEqual(lines[other].assignee_id, self.manager)
        self.assertEqual(lines[third].days_stale, 30)
        self.assertIn("Preview Third", lines[third].note)
        # As in the dialog: untick one, give another to someone else.
        with Form(wizard.with_user(self.manager)) as form:
            for index, line in enumerate(wizard.line_ids):
                with form.line_ids.edit(index) as row:
                    if line.lead_id == self.stale:
                        row.selected = False
                    elif line.lead_id == other:
                        row.assignee_id = self.senior
        result = wizard.with_user(self.manager).action_confirm()
        self.assertEqual(
            result["params"]["next"]["type"], "ir.actions.act_window_close"
        )
        self.assertFalse(self._followups(self.stale))
        self.assertEqual(self._followups(other).user_id, self.senior)
        self.assertEqual(self._followups(third).user_id, self.salesperson)
        log = self.env["workflow.log"].search([], limit=1)
        self.assertEqual((log.trigger, log.user_id), ("menu", self.manager))

    def test_schedule_wizard_refusals(self):
        wizard = self.env["crm.lead.followup.schedule"].browse(
            self.stale.with_user(self.manager).action_followup_schedule()["res_id"]
        )
        wizard.line_ids.selected = False
        with self.assertRaisesRegex(UserError, "Tick at least one"):
            wizard.with_user(self.manager).action_confirm()
        portal = new_test_user(self.env, "fu_portal", groups="base.group_portal")
        # A portal user, or a salesperson who could not open the deal.
        for user in (portal, self.salesperson_2):
            wizard.line_ids.write({"selected": True, "assignee_id": user.id})
            with self.assertRaisesRegex(UserError, "cannot be given a re-engagement"):
                wizard.with_user(self.manager).action_confirm()
        self.assertFalse(self._followups(self.stale))
        # A salesperson reviews only opportunities they may change.
        with self.assertRaises(AccessError):
            (
                self.stale | self._opportunity("Sue's", user_id=self.salesperson_2.id)
            ).with_user(self.salesperson).action_followup_schedule()

    def test_stale_opportunities_menu(self):
        action = self.env.ref("crm_opportunity_followup.crm_lead_action_stale")
        self.assertIn("search_default_filter_followup_stale", action.context)
        menu = self.env.ref("crm_opportunity_followup.crm_lead_menu_stale")
        self.assertEqual(menu.action, action)

    @users("fu_manager")
    def test_confirming_a_run_that_is_no_preview(self):
        log = self.env["workflow.log"].browse(self.Runner.run()["log_id"])
        with self.assertRaisesRegex(UserError, "not a preview"):
            log.action_confirm_preview()
