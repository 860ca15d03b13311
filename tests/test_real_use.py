"""The follow-up as the people who use it meet it, in Odoo's own flows:
the salesperson doing the work, the manager merging duplicates, the
administrator saving settings, OdooBot running the daily job."""

from datetime import datetime, timedelta

from freezegun import freeze_time

from odoo import Command, fields
from odoo.exceptions import UserError
from odoo.tests import Form, new_test_user, users

from .common import FollowupCase


class TestAssignee(FollowupCase):
    """5. Nobody's follow-ups never go to OdooBot."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.leaderless = cls.env["crm.team"].create({"name": "No Leader"})
        cls.orphan = cls._opportunity(
            "Orphan", days=20, user_id=False, team_id=cls.leaderless.id
        )

    def test_cron_skips_nobody_s_opportunity(self):
        log = self._run_cron()
        self.assertFalse(self._followups(self.orphan))
        line = log.line_ids.filtered(lambda line: line.lead_id == self.orphan)
        self.assertEqual(line.outcome, "skipped_unassigned")
        self.assertIn("No one to assign it to", line.reason)
        self.assertEqual(log.skipped_unassigned_count, 1)
        self.assertIn("no one to assign them to", log.message)
        self.assertFalse(
            self.env["mail.mail"].search(
                [("recipient_ids", "in", self.env.ref("base.partner_root").ids)]
            )
        )

    def test_default_user_from_the_settings(self):
        form = Form(self.env["res.config.settings"].with_user(self._admin()))
        form.followup_default_user_id = self.senior
        form.save().execute()
        self._run_cron()
        self.assertEqual(self._followups(self.orphan).user_id, self.senior)

    def test_only_someone_who_may_open_it(self):
        """An archived salesperson's deal never goes to a team leader or a
        default user who sees only their own opportunities: they could read
        its line, note and digest, not the opportunity."""
        gone = new_test_user(
            self.env, "fu_gone", groups="sales_team.group_sale_salesman"
        )
        self.team.user_id = self.salesperson_2
        self._set_param("default_user_id", self.salesperson_2.id)
        left = self._opportunity("Left Company", days=20, user_id=gone.id)
        gone.action_archive()
        self.assertFalse(left.with_user(self.salesperson_2).has_access("read"))
        log = self._run_cron()
        self.assertFalse(self._followups(left))
        line = log.line_ids.filtered(lambda line: line.lead_id == left)
        self.assertEqual(line.outcome, "skipped_unassigned")
        self.assertFalse(
            self.env["workflow.log.line"]
            .with_user(self.salesperson_2)
            .search([("lead_id", "=", left.id)])
        )
        # Someone who sees every opportunity gets it, the next day.
        self._set_param("default_user_id", self.senior.id)
        with freeze_time(fields.Datetime.now() + timedelta(days=1)):
            self._run_cron()
        self.assertEqual(self._followups(left).user_id, self.senior)

    def test_never_an_archived_or_portal_user(self):
        portal = new_test_user(self.env, "fu_portal", groups="base.group_portal")
        self._set_param("default_user_id", portal.id)
        gone = new_test_user(
            self.env, "fu_gone", groups="sales_team.group_sale_salesman"
        )
        left = self._opportunity("Left Company", days=20, user_id=gone.id)
        gone.action_archive()
        log = self._run_cron()
        self.assertFalse(self._followups(self.orphan))
        # An archived salesperson: their team leader gets it.
        self.assertEqual(self._followups(left).user_id, self.manager)
        self.assertEqual(log.skipped_unassigned_count, 1)


class TestCompanies(FollowupCase):
    """6. Each company's data stays in its company."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company_a = cls.env.company
        cls.company_b = cls.env["res.company"].create({"name": "Company B"})
        cls.company_b.resource_calendar_id.tz = "Pacific/Kiritimati"
        cls.company_a.resource_calendar_id.tz = "UTC"
        cls.manager.company_ids = [Command.link(cls.company_b.id)]
        cls.team_b = cls.env["crm.team"].create(
            {"name": "Team B", "company_id": cls.company_b.id}
        )
        cls.lead_b = cls._opportunity(
            "B's deal",
            days=0,
            company_id=cls.company_b.id,
            team_id=cls.team_b.id,
            user_id=cls.manager.id,
        )
        cls.lead_a = cls._opportunity("A's deal", days=0)
        cls.reader_a = new_test_user(
            cls.env, "fu_reader_a", groups="sales_team.group_sale_manager"
        )

    def test_lines_belong_to_their_opportunity_company(self):
        with freeze_time("2026-11-24 11:00:00"):  # 25 Nov 01:00 in Kiritimati
            when = datetime(2026, 11, 9, 9, 0)  # 9 Nov 23:00 in Kiritimati
            self._set_write_date(self.lead_a | self.lead_b, when)
            result = (
                self.Runner.with_user(self.manager)
                .with_context(allowed_company_ids=(self.company_a | self.company_b).ids)
                .run()
            )
        log = self.env["workflow.log"].browse(result["log_id"])
        line_b = log.line_ids.filtered(lambda line: line.lead_id == self.lead_b)
        line_a = log.line_ids.filtered(lambda line: line.lead_id == self.lead_a)
        self.assertEqual(line_b.company_id, self.company_b)
        self.assertEqual(line_a.company_id, self.company_a)
        # Days and deadline in each company's timezone.
        self.assertEqual(line_b.days_stale, 16)  # 9 to 25 Nov
        self.assertEqual(line_a.days_stale, 15)  # 9 to 24 Nov
        self.assertEqual(
            self._followups(self.lead_b).date_deadline,
            fields.Date.to_date("2026-11-27"),
        )
        self.assertEqual(
            self._followups(self.lead_a).date_deadline,
            fields.Date.to_date("2026-11-26"),
        )
        # A company A manager never reads the line about B's opportunity.
        lines = self.env["workflow.log.line"].with_user(self.reader_a).search([])
        self.assertIn(line_a, lines)
        self.assertNotIn(line_b, lines)

    def test_manager_with_both_companies_ticked(self):
        """A sales manager with companies A and B ticked runs it: the team
        leader, who sees only their own deals and works in A alone, is asked
        in their own company, and gets the deal nobody owns."""
        leader_a = new_test_user(
            self.env,
            "fu_leader_a",
            groups="sales_team.group_sale_salesman",
            name="Lea Leader",
            tz="UTC",
        )
        self.team.user_id = leader_a
        left = self._opportunity("Left Behind", days=20, user_id=False)
        both = (self.company_a | self.company_b).ids
        Runner = self.Runner.with_user(self.manager).with_context(
            allowed_company_ids=both
        )
        result = Runner.run()
        self.assertTrue(result["success"], result["error"])
        self.assertEqual(self._followups(left).user_id, leader_a)
        # The Schedule dialog and its confirmation, with both ticked.
        other = self._opportunity("Left Too", days=20, user_id=False)
        action = (
            other.with_user(self.manager)
            .with_context(allowed_company_ids=both)
            .action_followup_schedule()
        )
        wizard = self.env[action["res_model"]].browse(action["res_id"])
        self.assertEqual(wizard.line_ids.assignee_id, leader_a)
        wizard.with_user(self.manager).with_context(
            allowed_company_ids=both
        ).action_confirm()
        self.assertEqual(self._followups(other).user_id, leader_a)

    def test_daily_job_with_a_leader_of_another_company(self):
        """A deal with no company, nobody's, and a leader who works in company
        B only: the first company's daily run (company A) asks the leader in
        B, and books it for them instead of failing every day."""
        leader_b = new_test_user(
            self.env,
            "fu_leader_b",
            groups="sales_team.group_sale_salesman",
            company_id=self.company_b.id,
            company_ids=[Command.set(self.company_b.ids)],
            tz="UTC",
        )
        team = self.env["crm.team"].create(
            {"name": "Shared Team", "company_id": False, "user_id": leader_b.id}
        )
        orphan = self._opportunity(
            "No Company", days=20, company_id=False, team_id=team.id, user_id=False
        )
        log = self._run_cron()
        self.assertEqual(log.state, "done", log.error)
        line = log.line_ids.filtered(lambda line: line.lead_id == orphan)
        self.assertEqual(line.outcome, "scheduled")
        self.assertEqual(self._followups(orphan).user_id, leader_b)


class TestSmallerDefects(FollowupCase):
    """7. The smaller defects found in review."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.stale = cls._opportunity("Stale Deal", days=20)

    @users("fu_manager")
    def test_log_name_search(self):
        result = self.Runner.run()
        found = self.env["workflow.log"].name_search("opportunity_follow_up")
        self.assertIn(result["log_id"], [log_id for log_id, _name in found])
        self.assertFalse(self.env["workflow.log"].name_search("no-such-text-xyz"))

    def test_log_reads_for_managers(self):
        """Titled with what started it and when; parameters as labelled
        values, records by name."""
        with freeze_time("2026-11-24 09:30:00"):
            result = self.Runner.with_user(self.manager).run(
                user_id=self.salesperson.id, dry_run=True
            )
        log = self.env["workflow.log"].with_user(self.manager).browse(result["log_id"])
        self.assertTrue(
            log.display_name.startswith("Preview: Manual / Code, 11/24/26, 9:30"),
            log.display_name,
        )
        self.assertEqual(
            log.parameters_display.splitlines(),
            [
                "Stale after: 14 days",
                "Counts as an update: "
                "Any work on it: an edit, a message, a completed activity",
                "Activity: Call",
                "Due in: 2 days",
                "Salesperson: Sam Seller",
                "Sales team: —",
                "Opportunities: —",
                "Default re-engagement user: —",
            ],
        )

    def test_duration_is_seconds(self):
        arch = self.env["workflow.log"].get_views([(False, "list"), (False, "form")])
        for view in arch["views"].values():
            self.assertNotIn("float_time", view["arch"])

    @users("fu_manager")
    def test_confirming_a_run_that_is_no_preview(self):
        log = self.env["workflow.log"].browse(self.Runner.run()["log_id"])
        with self.assertRaisesRegex(UserError, "not a preview"):
            log.action_confirm_preview()

    def test_unknown_trigger_is_refused(self):
        with self.assertRaisesRegex(UserError, "trigger"):
            self.Runner.run(trigger="bogus")
        self.assertFalse(self._followups(self.stale))

    @users("fu_sales")
    def test_list_actions_are_record_methods(self):
        lead = self.stale.with_user(self.env.user)
        action = lead.action_followup_schedule()
        self.assertEqual(action["res_model"], "crm.lead.followup.schedule")
        action = lead.action_followup_run()
        self.assertEqual(action["params"]["type"], "success")
        self.assertTrue(self._followups(self.stale))
