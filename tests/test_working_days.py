"""Deadlines in working days: weekends, public holidays and the assignee's
leaves, from the company's calendar; calendar days if the settings say so."""

from datetime import date, datetime, timedelta

from freezegun import freeze_time

from odoo import fields
from odoo.tests import Form

from .common import FollowupCase


class TestWorkingDays(FollowupCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.calendar = cls.env.company.resource_calendar_id
        cls.calendar.tz = "UTC"
        cls.lead = cls._opportunity("Working Days Deal", days=0)

    def _run_on(self, moment):
        with freeze_time(moment):
            self._set_write_date(self.lead, fields.Datetime.now() - timedelta(20))
            result = self.Runner.with_user(self.manager).run()
        return result, self._followups(self.lead)

    def _time_off(self, start, stop, resource=False):
        return self.env["resource.calendar.leaves"].create(
            {
                "name": "Time off",
                "calendar_id": self.calendar.id,
                "resource_id": resource and resource.id,
                "date_from": datetime.combine(start, datetime.min.time()),
                "date_to": datetime.combine(stop, datetime.max.time()),
            }
        )

    def test_friday_run_is_due_on_tuesday(self):
        _result, activity = self._run_on("2026-11-27 09:00:00")  # a Friday
        self.assertEqual(activity.date_deadline, date(2026, 12, 1))

    def test_public_holiday_is_skipped(self):
        self._time_off(date(2026, 12, 25), date(2026, 12, 25))  # Christmas, a Friday
        _result, activity = self._run_on("2026-12-24 09:00:00")  # Thursday
        self.assertEqual(activity.date_deadline, date(2026, 12, 29))  # Mon 28, Tue 29

    def test_assignee_on_leave(self):
        """Away for the whole horizon: due on the first day back, with a
        warning on the line."""
        resource = self.env["resource.resource"].create(
            {
                "name": self.salesperson.name,
                "user_id": self.salesperson.id,
                "calendar_id": self.calendar.id,
                "company_id": self.env.company.id,
            }
        )
        self._time_off(date(2026, 11, 30), date(2026, 12, 4), resource)
        result, activity = self._run_on("2026-11-27 09:00:00")
        self.assertEqual(activity.date_deadline, date(2026, 12, 7))
        line = self.env["workflow.log"].browse(result["log_id"]).line_ids
        self.assertIn("is away: due on their first working day back", line.warning)

    def test_calendar_days_setting(self):
        form = Form(self.env["res.config.settings"].with_user(self._admin()))
        self.assertTrue(form.followup_deadline_working_days)
        form.followup_deadline_working_days = False
        form.save().execute()
        _result, activity = self._run_on("2026-11-27 09:00:00")
        self.assertEqual(activity.date_deadline, date(2026, 11, 29))  # a Sunday
