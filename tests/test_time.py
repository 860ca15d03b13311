"""People's time: working-day deadlines, leaves, pausing, a daily cap, and
each stage's own threshold."""

from datetime import date, datetime, timedelta

import psycopg2.errors
from freezegun import freeze_time

from odoo import fields
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tests import Form, new_test_user, users
from odoo.tools import mute_logger

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


class TestTeamSettings(FollowupCase):
    """A team's own days and activity over the company's; the stage's days
    over the team's; an explicit number over everything. Its leader tunes
    it as sales managers do, without the right to edit the team."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.fast_team = cls.env["crm.team"].create({"name": "Fast Movers"})
        cls.quiet_team = cls.env["crm.team"].create({"name": "Key Accounts"})
        # A salesperson who sees every opportunity and leads two teams.
        cls.leader = new_test_user(
            cls.env,
            "fu_leader",
            groups="sales_team.group_sale_salesman_all_leads",
            name="Lee Leader",
            tz="UTC",
        )
        (cls.fast_team | cls.quiet_team).user_id = cls.leader

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

    def test_the_report_says_the_team_s_activity(self):
        """A team with its own activity type books an Email: its log line and
        the Effectiveness report say Email, not the settings' Call."""
        self.fast_team.followup_activity_type_id = self.email_type
        fast = self._team_opportunity("Fast, 20 days", 20, self.fast_team)
        company = self._opportunity("Company rule, 20 days", days=20)
        result = self.Runner.with_user(self.manager).run()
        self.assertEqual(self._followups(fast).activity_type_id, self.email_type)
        lines = self.env["workflow.log"].browse(result["log_id"]).line_ids
        by_lead = {line.lead_id: line for line in lines}
        self.assertEqual(by_lead[fast].activity_type_id, self.email_type)
        self.assertEqual(by_lead[company].activity_type_id, self.call_type)
        report = self.env["crm.followup.effectiveness.report"].with_user(self.manager)
        self.assertEqual(
            report.search([("lead_id", "=", fast.id)]).activity_type_id,
            self.email_type,
        )

    def test_team_switched_off(self):
        self.quiet_team.with_user(self.manager).followup_active = False
        quiet = self._team_opportunity("Quiet team's deal", 20, self.quiet_team)
        other = self._opportunity("Other team's deal", days=20)
        no_team = self._opportunity("No team's deal", days=20, team_id=False)
        # Still stale: the switch is the daily job's, a manager may book it
        # (see test_switched_off_team_in_the_stale_list).
        self.assertTrue(quiet.followup_is_stale)
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

    def test_switched_off_team_in_the_stale_list(self):
        """The Stale list shows what the Schedule dialog books: a switched-off
        team's stale deal is listed, and a sales manager who ticks it books
        it; the daily job leaves it alone."""
        self.quiet_team.with_user(self.manager).followup_active = False
        quiet = self._team_opportunity("Quiet team's deal", 20, self.quiet_team)
        action = self.env.ref("crm_opportunity_followup.crm_lead_action_stale")
        Lead = self.env["crm.lead"].with_user(self.manager)
        listed = Lead.search([("followup_is_stale", "=", True)])
        self.assertIn(quiet, listed)
        self.assertIn("search_default_filter_followup_stale", action.context)
        log = self._run_cron()
        self.assertNotIn(quiet, log.line_ids.lead_id)
        self.assertFalse(self._followups(quiet))
        wizard = self.env["crm.lead.followup.schedule"].browse(
            listed.with_user(self.manager).action_followup_schedule()["res_id"]
        )
        self.assertIn(quiet, wizard.line_ids.lead_id)
        wizard.with_user(self.manager).action_confirm()
        self.assertEqual(self._followups(quiet).user_id, self.salesperson)

    def test_stale_days_range_message(self):
        """What a sales manager is told when a team's or a stage's days are
        out of range (Odoo's words for a failed check): the range the check
        allows, 0 included; the same words for the settings."""
        for record in (self.fast_team, self.stage_new):
            record = record.with_user(self.manager)
            record.followup_stale_days = 0
            record.env.flush_all()
            with (
                mute_logger("odoo.sql_db"),
                self.assertRaises(psycopg2.errors.CheckViolation) as caught,
            ):
                record.followup_stale_days = 3651
                record.env.flush_all()
            self.assertEqual(
                record._sql_error_to_message(caught.exception),
                "Stale After must be between 1 and 3650 days; on a stage or a "
                "team, 0 (empty) takes the next setting up: the team's, then "
                "the company's.",
            )
        settings = self.env["res.config.settings"].with_user(self._admin())
        with (
            mute_logger("odoo.sql_db"),
            self.assertRaises(psycopg2.errors.CheckViolation) as caught,
        ):
            settings.create({"followup_stale_days": 0})
            settings.env.flush_all()
        self.assertIn(
            "between 1 and 3650 days", settings._sql_error_to_message(caught.exception)
        )

    def test_salesperson_cannot_tune_the_team(self):
        with self.assertRaises(AccessError):
            self.fast_team.with_user(self.salesperson).followup_stale_days = 1

    def _settings_form(self, action, user):
        """The dialog an ``action_*`` opened, as ``user`` sees it."""
        self.assertEqual(action["res_model"], "crm.team.followup.settings")
        Settings = self.env[action["res_model"]].with_user(user)
        return Form(Settings.with_context(**action["context"]))

    def test_leader_tunes_their_team(self):
        """From the team's form: the leader changes the three settings, the
        daily run then uses them; nothing else of the team changes."""
        team = self.fast_team.with_user(self.leader)
        self.assertTrue(team.followup_can_tune)
        with self.assertRaises(AccessError):
            team.followup_stale_days = 7  # the form itself stays read-only
        form = self._settings_form(team.action_followup_settings(), self.leader)
        # Prefilled from the team: on, the company's days and activity.
        self.assertEqual(form.team_id, self.fast_team)
        self.assertTrue(form.followup_active)
        self.assertEqual(form.followup_stale_days, 0)
        self.assertFalse(form.followup_activity_type_id)
        form.followup_stale_days = 7
        form.followup_activity_type_id = self.email_type
        form.save().action_save()
        self.assertEqual(self.fast_team.followup_stale_days, 7)
        self.assertEqual(self.fast_team.followup_activity_type_id, self.email_type)
        self.assertEqual(self.fast_team.write_uid, self.leader)
        self.assertEqual(self.fast_team.name, "Fast Movers")

        fast = self._team_opportunity("Fast, 10 days", 10, self.fast_team)
        company = self._opportunity("Company rule, 10 days", days=10)
        log = self._run_cron()
        self.assertEqual(log.scheduled_count, 1)
        followup = self._followups(fast)
        self.assertEqual(followup.activity_type_id, self.email_type)
        self.assertEqual(followup.user_id, self.salesperson)
        self.assertFalse(self._followups(company))

    def test_leader_switches_off_from_the_stale_list(self):
        """*Team Settings* on the Stale Opportunities list, nothing ticked:
        the team of the context, else the first one the leader leads."""
        Lead = self.env["crm.lead"].with_user(self.leader)
        first = self.env["crm.team"].search([("user_id", "=", self.leader.id)])[:1]
        form = self._settings_form(Lead.action_followup_team_settings(), self.leader)
        self.assertEqual(form.team_id, first)
        # A team's pipeline opens with its team in the context.
        action = Lead.with_context(
            default_team_id=self.quiet_team.id
        ).action_followup_team_settings()
        form = self._settings_form(action, self.leader)
        self.assertEqual(form.team_id, self.quiet_team)
        form.followup_active = False
        form.save().action_save()
        self.assertFalse(self.quiet_team.followup_active)
        # Another leader's team in the context: their own first team instead.
        action = Lead.with_context(
            default_team_id=self.team.id
        ).action_followup_team_settings()
        self.assertEqual(action["context"]["default_team_id"], first.id)

        quiet = self._team_opportunity("Quiet team's deal", 20, self.quiet_team)
        other = self._opportunity("Other team's deal", days=20)
        log = self._run_cron()
        self.assertEqual(log.scheduled_count, 1)
        self.assertTrue(self._followups(other))
        self.assertFalse(self._followups(quiet))

    def test_who_may_not_tune_a_team(self):
        """The leader of other teams, a plain salesperson: refused, whatever
        the way in; the team is left as it was."""
        Team = self.env["crm.team"]
        self.assertEqual(
            Team.with_user(self.leader).search([("followup_can_tune", "=", True)]),
            self.fast_team | self.quiet_team,
        )
        self.assertFalse(self.team.with_user(self.leader).followup_can_tune)
        with self.assertRaisesRegex(AccessError, "Only the team's leader"):
            self.team.with_user(self.leader).action_followup_settings()
        # A team chosen in the dialog by hand (or through RPC).
        for user in (self.leader, self.salesperson):
            form = self._settings_form(
                self.env["crm.team.followup.settings"]._open_for(self.team), user
            )
            form.followup_stale_days = 1
            wizard = form.save()
            with self.assertRaisesRegex(AccessError, "Only the team's leader"):
                wizard.action_save()
        self.assertEqual(self.team.followup_stale_days, 0)
        # A salesperson who leads no team is told so on the list.
        with self.assertRaisesRegex(UserError, "You lead no sales team"):
            self.env["crm.lead"].with_user(
                self.salesperson
            ).action_followup_team_settings()
        with self.assertRaises(AccessError):
            self.fast_team.with_user(self.salesperson).action_followup_settings()

    def test_manager_tunes_any_team(self):
        """A sales manager who leads no team chooses one, and writes with
        their own rights."""
        manager = new_test_user(
            self.env, "fu_manager_2", groups="sales_team.group_sale_manager"
        )
        action = self.env["crm.lead"].with_user(manager).action_followup_team_settings()
        form = self._settings_form(action, manager)
        self.assertFalse(form.team_id)
        form.team_id = self.fast_team
        form.followup_stale_days = 30
        form.save().action_save()
        self.assertEqual(self.fast_team.followup_stale_days, 30)
        self.assertEqual(self.fast_team.write_uid, manager)

    def test_stale_days_out_of_range(self):
        """Days outside 1-3650 are refused with the range, the team left as
        it was; empty is the company's."""
        self.fast_team.followup_stale_days = 10
        action = self.fast_team.with_user(self.leader).action_followup_settings()
        for days in (-1, 3651):
            form = self._settings_form(action, self.leader)
            form.followup_stale_days = days
            with self.assertRaisesRegex(ValidationError, "between 1 and 3650 days"):
                form.save()
        self.assertEqual(self.fast_team.followup_stale_days, 10)
        form = self._settings_form(action, self.leader)
        self.assertEqual(form.followup_stale_days, 10)
        form.followup_stale_days = 0
        form.save().action_save()
        self.assertEqual(self.fast_team.followup_stale_days, 0)
        self.assertNotIn(self.fast_team.id, self.env["crm.team"]._followup_days())

    def test_leader_schedules_their_team(self):
        """*Schedule Re-engagement* as the team leader (not a sales manager):
        their team's ticked opportunities are booked for their salespeople,
        one without a salesperson for the leader."""
        own = self._team_opportunity("Team deal, Sam's", 20, self.fast_team)
        sues = self._team_opportunity(
            "Team deal, Sue's", 25, self.fast_team, user_id=self.salesperson_2.id
        )
        nobodys = self._team_opportunity(
            "Team deal, nobody's", 30, self.fast_team, user_id=False
        )
        ticked = (own | sues | nobodys).with_user(self.leader)
        action = ticked.action_followup_schedule()
        wizard = self.env[action["res_model"]].browse(action["res_id"])
        with Form(wizard.with_user(self.leader)) as form:
            self.assertEqual(len(form.line_ids), 3)
        wizard.with_user(self.leader).action_confirm()
        self.assertEqual(self._followups(own).user_id, self.salesperson)
        self.assertEqual(self._followups(sues).user_id, self.salesperson_2)
        self.assertEqual(self._followups(nobodys).user_id, self.leader)
        log = self.env["workflow.log"].search([], limit=1)
        self.assertEqual((log.trigger, log.user_id), ("menu", self.leader))
        self.assertEqual(log.scheduled_count, 3)
