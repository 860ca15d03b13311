"""Several companies: each run's lines in their opportunity's company, days
and deadlines in its timezone, and assignees asked in their own companies."""

from datetime import datetime

from freezegun import freeze_time

from odoo import Command, fields
from odoo.exceptions import AccessError
from odoo.tests import new_test_user

from .common import FollowupCase


class TestCompanies(FollowupCase):
    """Each company's data stays in its company."""

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


class TestOtherCompany(FollowupCase):
    """A run never touches another company's deals; the daily job runs each
    company switched on, one log each."""

    def test_other_company(self):
        company_b = self.env["res.company"].create({"name": "Company B"})
        user_b = new_test_user(
            self.env,
            "fu_user_b",
            groups="sales_team.group_sale_salesman",
            company_id=company_b.id,
            company_ids=[(6, 0, company_b.ids)],
        )
        lead_b = self._opportunity(
            "B's deal",
            days=20,
            company_id=company_b.id,
            team_id=False,
            user_id=user_b.id,
        )
        lead_a = self._opportunity("A's deal", days=20)
        # A run from company A never touches company B, even filtered on B's
        # salesperson.
        result = self.Runner.with_user(self.manager).run(user_id=user_b.id)
        self.assertFalse(self._followups(lead_b))
        result = self.Runner.with_user(self.manager).run()
        self.assertEqual(result["counts"]["stale"], 1)
        self.assertTrue(self._followups(lead_a))
        self.assertFalse(self._followups(lead_b))
        with self.assertRaises(AccessError):
            self.Runner.with_user(self.manager).run(lead_ids=lead_b.ids)
        # The cron runs every company switched on, one log each.
        company_b.followup_active = True
        self.env.ref(
            "crm_opportunity_followup.ir_cron_opportunity_followup"
        ).ir_actions_server_id.run()
        self.assertTrue(self._followups(lead_b))
        log_b = self.env["workflow.log"].search([("company_id", "=", company_b.id)])
        self.assertEqual(log_b.trigger, "cron")
        self.assertEqual(log_b.line_ids.lead_id, lead_b)
