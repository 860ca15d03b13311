"""Each team's own settings (days, activity, switch), over the company's and
under the stage's days, tuned by its leader or a sales manager."""

import psycopg2.errors

from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tests import Form, new_test_user
from odoo.tools import mute_logger

from .common import FollowupCase


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
        allows, 0 included; the same range for the settings."""
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
        # The settings say the same range, checked before the database (see
        # TestSettingsBounds).
        settings = self.env["res.config.settings"].with_user(self._admin())
        with self.assertRaises(ValidationError) as caught:
            settings.create({"followup_stale_days": 0})
        self.assertEqual(
            str(caught.exception), "Stale After (Days) must be between 1 and 3650."
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
