"""People's time: working-day deadlines, leaves, pausing, a daily cap, and
each stage's own threshold."""

from datetime import date, datetime, timedelta

from freezegun import freeze_time

from odoo import fields
from odoo.exceptions import AccessError
from odoo.tests import Form, users

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


class TestStageThreshold(FollowupCase):
    def test_stage_days_against_explicit_stale_days(self):
        self.stage_qualified.with_user(self.manager).followup_stale_days = 30
        slow_stage = self._opportunity(
            "Long Cycle", days=20, stage_id=self.stage_qualified.id
        )
        default_stage = self._opportunity("Short Cycle", days=20)
        self.assertFalse(slow_stage.followup_is_stale)
        self.assertTrue(default_stage.followup_is_stale)
        preview = self.Runner.with_user(self.manager).run(dry_run=True)
        self.assertEqual(preview["counts"]["stale"], 1)
        # An explicit number of days applies to every stage.
        explicit = self.Runner.with_user(self.manager).run(stale_days=14)
        self.assertEqual(explicit["counts"]["stale"], 2)
        self.assertTrue(self._followups(slow_stage | default_stage))


class TestTeamSettings(FollowupCase):
    """A team's own days and activity over the company's; the stage's days
    over the team's; an explicit number over everything."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.fast_team = cls.env["crm.team"].create({"name": "Fast Movers"})
        cls.quiet_team = cls.env["crm.team"].create({"name": "Key Accounts"})

    def _team_opportunity(self, name, days, team, **vals):
        return self._opportunity(name, days=days, team_id=team.id, **vals)

    def test_precedence(self):
        # A sales manager tunes the team on its form, no Settings rights needed.
        with Form(self.fast_team.with_user(self.manager)) as team:
            team.followup_stale_days = 7
            team.followup_activity_type_id = self.email_type
        self.stage_qualified.followup_stale_days = 30
        fast = self._team_opportunity("Fast, 10 days", 10, self.fast_team)
        fast_in_slow_stage = self._team_opportunity(
            "Fast, 20 days, slow stage",
            20,
            self.fast_team,
            stage_id=self.stage_qualified.id,
        )
        company = self._opportunity("Company rule, 10 days", days=10)
        no_team = self._opportunity("No team, 20 days", days=20, team_id=False)
        self.assertTrue(fast.followup_is_stale)
        self.assertIn("due after 7", fast.followup_stale_hint)
        self.assertFalse(fast_in_slow_stage.followup_is_stale)  # the stage's 30
        self.assertFalse(company.followup_is_stale)  # the company's 14
        self.assertTrue(no_team.followup_is_stale)

        result = self.Runner.with_user(self.manager).run()
        self.assertEqual(result["counts"]["scheduled"], 2)
        self.assertEqual(self._followups(fast).activity_type_id, self.email_type)
        self.assertEqual(self._followups(no_team).activity_type_id, self.call_type)
        self.assertFalse(self._followups(fast_in_slow_stage | company))
        # An explicit number of days applies to every stage and team.
        explicit = self.Runner.with_user(self.manager).run(stale_days=5)
        self.assertEqual(explicit["counts"]["scheduled"], 2)
        self.assertTrue(self._followups(fast_in_slow_stage | company))

    def test_team_switched_off(self):
        self.quiet_team.with_user(self.manager).followup_active = False
        quiet = self._team_opportunity("Quiet team's deal", 20, self.quiet_team)
        other = self._opportunity("Other team's deal", days=20)
        no_team = self._opportunity("No team's deal", days=20, team_id=False)
        self.assertFalse(quiet.followup_is_stale)
        self.assertTrue(other.followup_is_stale)
        # Another team's switch leaves deals without a team alone.
        self.assertTrue(no_team.followup_is_stale)
        log = self._run_cron()
        self.assertEqual(log.scheduled_count, 2)
        self.assertTrue(self._followups(no_team))
        self.assertFalse(self._followups(quiet))
        # A run started by hand still considers it.
        self.Runner.with_user(self.manager).run(lead_ids=quiet.ids)
        self.assertTrue(self._followups(quiet))

    def test_salesperson_cannot_tune_the_team(self):
        with self.assertRaises(AccessError):
            self.fast_team.with_user(self.salesperson).followup_stale_days = 1
