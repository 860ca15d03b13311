from odoo.tests import Form, new_test_user, users

from .common import FollowupCase


class TestTriggers(FollowupCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.stale = cls._opportunity("Stale Deal", days=20)
        cls.stale_2 = cls._opportunity("Another Stale Deal", days=20)
        cls.cron = cls.env.ref("crm_opportunity_followup.ir_cron_opportunity_followup")
        # CRM settings are reserved to administrators by Odoo itself.
        cls.admin = new_test_user(
            cls.env,
            "fu_admin",
            groups="sales_team.group_sale_manager,base.group_system",
            tz="UTC",
        )

    def _last_log(self):
        return self.env["workflow.log"].search([], limit=1)

    def test_cron(self):
        # Every hour: each company's run comes at its own time (TestCronCycles).
        self.assertEqual(self.cron.interval_type, "hours")
        self.assertEqual(self.cron.interval_number, 1)
        # What the scheduler executes; method_direct_trigger would run it on
        # a separate connection that cannot see this test's records.
        self.cron.ir_actions_server_id.run()
        log = self._last_log()
        self.assertRecordValues(
            log, [{"trigger": "cron", "state": "done", "scheduled_count": 2}]
        )
        self.assertEqual(len(self._followups(self.stale | self.stale_2)), 2)

    def test_settings_button(self):
        settings = self.env["res.config.settings"].with_user(self.admin).create({})
        action = settings.action_run_followup()
        self.assertEqual(action["tag"], "display_notification")
        log = self._last_log()
        self.assertEqual(log.trigger, "settings_button")
        self.assertEqual(log.user_id, self.admin)
        self.assertIn(log.message.replace("%", "%%"), action["params"]["message"])
        self.assertIn(str(log.id), action["params"]["links"][0]["url"])
        self.assertEqual(len(self._followups(self.stale | self.stale_2)), 2)

    def test_settings_are_stored(self):
        # Developer mode: the housekeeping settings show only there.
        with self.debug_mode():
            self._test_settings_are_stored()

    def _test_settings_are_stored(self):
        form = Form(self.env["res.config.settings"].with_user(self.admin))
        self.assertEqual(form.followup_stale_days, 14)
        self.assertEqual(form.followup_deadline_days, 2)
        self.assertEqual(form.followup_overdue_threshold, 20)
        self.assertEqual(form.followup_activity_type_id, self.call_type)
        self.assertTrue(form.followup_active)
        form.followup_stale_days = 21
        form.followup_deadline_days = 4
        form.followup_overdue_threshold = 7
        form.followup_activity_type_id = self.email_type
        form.followup_active = False
        self.assertTrue(form.followup_send_digest)
        form.followup_send_digest = False
        # 0: no limit, kept as such (Odoo would delete an integer 0).
        self.assertEqual(form.followup_decide_after, 2)
        form.followup_decide_after = 0
        form.save().execute()
        settings = self.env["res.config.settings"]._followup_settings()
        self.assertEqual(
            settings,
            {
                "stale_days": 21,
                "deadline_days": 4,
                "overdue_threshold": 7,
                "activity_type_id": self.email_type.id,
                "send_digest": False,
                "log_retention_days": 180,
                "default_user_id": 0,
                "clock": "work",
                "daily_cap": 0,
                "escalate_after_days": 3,
                "revival_window_days": 30,
                "decide_after": 0,
                "working_days": True,
            },
        )
        self.assertFalse(self.env.company.followup_active)
        self.assertFalse(self.cron.active)

    def test_housekeeping_only_in_developer_mode(self):
        admin = new_test_user(
            self.env,
            "fu_plain_admin",
            groups="sales_team.group_sale_manager,base.group_system",
        )
        form = Form(self.env["res.config.settings"].with_user(admin))
        with self.assertRaisesRegex(AssertionError, "invisible field"):
            form.followup_log_retention_days = 0
        with self.assertRaisesRegex(AssertionError, "invisible field"):
            form.followup_overdue_threshold = 0
        form.followup_deadline_days = 0  # everyday settings stay at hand

    def test_list_server_action(self):
        action = self.env.ref("crm_opportunity_followup.crm_lead_action_run_followup")
        self.assertEqual(action.binding_model_id.model, "crm.lead")
        result = (
            action.with_user(self.salesperson)
            .with_context(active_model="crm.lead", active_ids=self.stale.ids)
            .run()
        )
        self.assertEqual(result["tag"], "display_notification")
        self.assertEqual(self._last_log().trigger, "server_action")
        self.assertTrue(self._followups(self.stale))
        self.assertFalse(self._followups(self.stale_2))

    @users("fu_sales")
    def test_list_actions_are_record_methods(self):
        lead = self.stale.with_user(self.env.user)
        action = lead.action_followup_schedule()
        self.assertEqual(action["res_model"], "crm.lead.followup.schedule")
        action = lead.action_followup_run()
        self.assertEqual(action["params"]["type"], "success")
        self.assertTrue(self._followups(self.stale))
