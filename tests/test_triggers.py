from datetime import datetime, time, timedelta

import pytz
from freezegun import freeze_time

from odoo import Command, fields
from odoo.tests import Form, new_test_user

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


class TestOptIn(FollowupCase):
    """Nothing happens before the administrator decides: the daily job ships
    off, each company switches its own on, a direct run works regardless."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env.company.followup_active = False
        # As installed: 6:00 (the base class runs it from midnight).
        cls.env.company.followup_run_hour = 6.0
        cls.env.company.resource_calendar_id.tz = "Europe/Brussels"
        cls.stale = cls._opportunity("Quiet Deal", days=30)
        cls.company_b = cls.env["res.company"].create({"name": "Company B"})
        cls.team_b = cls.env["crm.team"].create(
            {"name": "Team B", "company_id": cls.company_b.id}
        )
        cls.salesperson.company_ids = [Command.link(cls.company_b.id)]
        cls.stale_b = cls._opportunity(
            "B's Quiet Deal",
            days=30,
            company_id=cls.company_b.id,
            team_id=cls.team_b.id,
        )

    def test_installing_books_nothing_until_switched_on(self):
        self.assertFalse(self.cron.active)
        self.assertFalse(self.env.company.followup_active)
        self.assertFalse(self._run_cron())
        self.assertFalse(self._followups(self.stale | self.stale_b))

        # An hour before 6:00 in the company's timezone, today.
        six = self._brussels(fields.Date.today(), time(6))
        with freeze_time(six - timedelta(hours=1)):
            form = Form(self.env["res.config.settings"].with_user(self._admin()))
            self.assertFalse(form.followup_next_run)
            form.followup_active = True
            self.assertEqual(form.followup_run_hour, 6.0)
            self.assertEqual(form.followup_next_run, six)
            form.save().execute()
            self.assertTrue(self.env.company.followup_active)
            self.assertTrue(self.cron.active)
            # The job's calls before that time leave the company alone.
            self.assertFalse(self._run_cron())
        with freeze_time(six):
            log = self._run_cron()
        self.assertEqual(log.scheduled_count, 1)
        self.assertTrue(self._followups(self.stale))
        # Company B did not switch it on: its opportunity is left alone.
        self.assertFalse(self._followups(self.stale_b))

    def _brussels(self, day, at):
        """``at`` on ``day`` in Brussels, as naive UTC."""
        moment = pytz.timezone("Europe/Brussels").localize(datetime.combine(day, at))
        return moment.astimezone(pytz.utc).replace(tzinfo=None)

    def test_run_time_is_changeable(self):
        admin = self._admin()
        today = fields.Date.today()
        with freeze_time(self._brussels(today, time(2))):
            form = Form(self.env["res.config.settings"].with_user(admin))
            form.followup_active = True
            form.followup_run_hour = 4.5
            form.save().execute()
            self.assertEqual(self.env.company.followup_run_hour, 4.5)
            form = Form(self.env["res.config.settings"].with_user(admin))
            self.assertEqual(form.followup_run_hour, 4.5)
            self.assertEqual(form.followup_next_run, self._brussels(today, time(4, 30)))
            # Switched off again: the job stops, no company being on.
            form.followup_active = False
            form.save().execute()
        self.assertFalse(self.cron.active)

    def test_direct_run_works_whatever_the_switch(self):
        result = self.Runner.with_user(self.manager).run()
        self.assertEqual(result["counts"]["scheduled"], 1)
        self.assertTrue(self._followups(self.stale))

    def test_upgrade_keeps_a_running_job_on(self):
        """From 19.0.1.1.0, where the job ran for every company once installed."""
        self.cron.active = True
        self.env["res.company"]._followup_migrate_switch()
        self.assertTrue(self.env.company.followup_active)
        self.assertTrue(self.company_b.followup_active)

    def test_upgrade_leaves_a_stopped_job_off(self):
        self.env["res.company"]._followup_migrate_switch()
        self.assertFalse(self.env.company.followup_active)
        self.assertFalse(self.company_b.followup_active)
