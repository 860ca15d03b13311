"""The administrator's settings: each company switches the daily job on,
at its own hour; what is saved is kept, 0 included, and a broken value or a
missing job breaks nothing."""

from datetime import datetime, time, timedelta

import pytz
from freezegun import freeze_time

from odoo import Command, fields
from odoo.exceptions import ValidationError
from odoo.tests import Form
from odoo.tools import mute_logger

from .common import FollowupCase


class TestSettings(FollowupCase):
    """Every setting keeps what the administrator saved, 0 included."""

    def test_zero_is_kept(self):
        admin = self._admin()
        # Housekeeping settings show in developer mode only.
        with self.debug_mode():
            form = Form(self.env["res.config.settings"].with_user(admin))
            form.followup_log_retention_days = 0
            form.followup_deadline_days = 0
            form.followup_overdue_threshold = 0
            form.save().execute()
            form = Form(self.env["res.config.settings"].with_user(admin))
            self.assertEqual(form.followup_log_retention_days, 0)
            self.assertEqual(form.followup_deadline_days, 0)
            self.assertEqual(form.followup_overdue_threshold, 0)

        # Due in 0: today; overdue above 0: one overdue activity warns.
        lead = self._opportunity("Due Today", days=20)
        self._opportunity("Busy", days=0).activity_schedule(
            "mail.mail_activity_data_todo",
            user_id=self.salesperson.id,
            date_deadline=fields.Date.today() - timedelta(days=1),
        )
        result = self.Runner.with_user(self.manager).run()
        self.assertEqual(self._followups(lead).date_deadline, fields.Date.today())
        self.assertEqual(result["counts"]["warnings"], 1)

        # Keep logs 0: a year-old log stays.
        old = self.env["workflow.log"].browse(result["log_id"])
        old.date_start = fields.Datetime.now() - timedelta(days=365)
        self.env["workflow.log"].with_user(self.odoobot)._cron_purge_old_logs()
        self.assertTrue(old.exists())

    def test_malformed_retention_does_not_crash_the_purge(self):
        log = self.env["workflow.log"].create({"trigger": "manual"})
        log.date_start = fields.Datetime.now() - timedelta(days=400)
        self._set_param("log_retention_days", "half a year")
        with mute_logger(
            "odoo.addons.crm_opportunity_followup.models.opportunity_followup_runner"
        ):
            self.env["workflow.log"].with_user(self.odoobot)._cron_purge_old_logs()
        self.assertFalse(log.exists())  # the 180-day default applied

    def test_missing_cron_does_not_break_the_settings(self):
        self.env.ref("crm_opportunity_followup.ir_cron_opportunity_followup").unlink()
        form = Form(self.env["res.config.settings"].with_user(self._admin()))
        form.followup_active = True
        form.save().execute()
        self.assertTrue(self.env.company.followup_active)

    def test_run_button_keeps_the_reload_of_saving(self):
        """Saved, run, and the settings view reloaded after the notification."""
        form = Form(self.env["res.config.settings"].with_user(self._admin()))
        form.followup_stale_days = 30
        action = form.save().action_run_followup()
        self.assertEqual(action["tag"], "display_notification")
        self.assertEqual(action["params"]["next"]["tag"], "soft_reload")
        self.assertIn("older than 30 days", action["params"]["message"])


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


class TestSettingsBounds(FollowupCase):
    """A typo in the settings gets a message naming the range, and leaves the
    server log clean: no ERROR with the refused query."""

    def setUp(self):
        super().setUp()
        self.admin = self._admin()

    def _save(self, **values):
        """Save ``values`` in the settings as the administrator; the error."""
        with self.debug_mode():
            form = Form(self.env["res.config.settings"].with_user(self.admin))
            for name, value in values.items():
                setattr(form, name, value)
            with (
                self.assertNoLogs("odoo", level="ERROR"),
                self.assertRaises(ValidationError) as caught,
            ):
                form.save().execute()
        return str(caught.exception)

    def test_out_of_range_values_are_refused_with_their_range(self):
        self.assertEqual(
            self._save(followup_deadline_days=5000),
            "Due In (Days) must be between 0 and 90.",
        )
        self.assertEqual(
            self._save(followup_escalate_after_days=100000),
            "Escalate After (Working Days) must be between 0 and 365.",
        )
        self.assertEqual(
            self._save(followup_revival_window_days=999999),
            "Result Window (Days) must be between 1 and 365.",
        )
        self.assertEqual(
            self._save(followup_stale_days=0),
            "Stale After (Days) must be between 1 and 3650.",
        )
        self.assertEqual(
            self._save(followup_daily_cap=-1),
            "Daily Cap must be between 0 and 1000.",
        )
        self.assertEqual(
            self._save(followup_log_retention_days=-5),
            "Keep Logs (Days) must be between 0 and 3650.",
        )
        # Nothing was saved: the defaults stand.
        settings = self.env["res.config.settings"]._followup_settings()
        self.assertEqual(settings["deadline_days"], 2)
        self.assertEqual(settings["revival_window_days"], 30)
        # The bounds themselves are allowed.
        with self.debug_mode():
            form = Form(self.env["res.config.settings"].with_user(self.admin))
            form.followup_deadline_days = 90
            form.followup_revival_window_days = 365
            form.save().execute()
        settings = self.env["res.config.settings"]._followup_settings()
        self.assertEqual(settings["deadline_days"], 90)
        self.assertEqual(settings["revival_window_days"], 365)

    def test_the_run_hour_is_checked_before_the_database(self):
        self.assertIn(
            "from 00:00 to 23:59",
            self._save(followup_active=True, followup_run_hour=25),
        )
        self.assertEqual(self.env.company.followup_run_hour, 0)
