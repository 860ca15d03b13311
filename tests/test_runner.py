from datetime import datetime, timedelta

from freezegun import freeze_time

from odoo import fields
from odoo.exceptions import UserError
from odoo.tests import new_test_user
from odoo.tools import SQL, mute_logger

from .common import FollowupCase


class TestRunner(FollowupCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.stale = cls._opportunity("Stale Deal", days=20)
        cls.won = cls._opportunity("Won Deal", days=30, stage_id=cls.stage_won.id)
        cls.pending = cls._opportunity("Pending Deal", days=25)
        cls.pending.activity_schedule(
            "mail.mail_activity_data_todo",
            user_id=cls.salesperson.id,
            summary="Call back",
        )
        cls._set_write_date(cls.pending, fields.Datetime.now() - timedelta(days=25))
        cls.recent = cls._opportunity("Recent Deal", days=3)
        cls.plain_lead = cls._opportunity("Plain Lead", days=40, type="lead")
        cls.archived = cls._opportunity("Archived Deal", days=40)
        cls.archived.action_archive()
        cls._set_write_date(cls.archived, fields.Datetime.now() - timedelta(days=40))
        cls.all_leads = (
            cls.stale
            | cls.won
            | cls.pending
            | cls.recent
            | cls.plain_lead
            | cls.archived
        )

    def test_output_shape_counts_and_log(self):
        result = self.Runner.run()
        self.assertEqual(
            set(result),
            {"success", "steps_executed", "message", "error", "log_id", "counts"},
        )
        self.assertTrue(result["success"])
        self.assertIs(result["error"], False)
        self.assertEqual(
            result["steps_executed"],
            [
                "detect_stale",
                "filter_eligible",
                # On by default, it looked at the opportunity with an open
                # activity (and found no re-engagement overdue there).
                "escalate_overdue",
                "draft_message",
                "schedule_activity",
                "log_execution",
            ],
        )
        self.assertEqual(
            result["counts"],
            {
                "stale": 3,
                "eligible": 1,
                "scheduled": 1,
                "skipped_won": 1,
                "skipped_pending": 1,
                "skipped_unassigned": 0,
                "skipped_paused": 0,
                "skipped_held_out": 0,
                "held_out": 0,
                "deferred": 0,
                "escalated": 0,
                "decide": 0,
                "grouped": 0,
                "errors": 0,
                "warnings": 0,
            },
        )
        self.assertTrue(
            result["message"].startswith(
                "Found 3 stale opportunities older than 14 days."
            ),
            result["message"],
        )
        self.assertIn("1 re-engagement scheduled.", result["message"])

        log = self.env["workflow.log"].browse(result["log_id"])
        self.assertEqual(log._table, "workflow_log")
        self.assertRecordValues(
            log,
            [
                {
                    "workflow_name": "opportunity_follow_up",
                    "trigger": "manual",
                    "state": "done",
                    "stale_days": 14,
                    "stale_count": 3,
                    "eligible_count": 1,
                    "scheduled_count": 1,
                    "skipped_won_count": 1,
                    "skipped_pending_count": 1,
                    "error_count": 0,
                    "message": result["message"],
                    "steps": ",".join(result["steps_executed"]),
                }
            ],
        )
        self.assertTrue(log.date_end and log.date_end >= log.date_start)
        outcomes = {line.lead_id: line.outcome for line in log.line_ids}
        self.assertEqual(
            outcomes,
            {
                self.stale: "scheduled",
                self.won: "skipped_won",
                self.pending: "skipped_pending",
            },
        )
        scheduled_line = log.line_ids.filtered(lambda line: line.outcome == "scheduled")
        self.assertEqual(scheduled_line.activity_id, self._followups(self.stale))

    def test_activity_values(self):
        with freeze_time("2026-03-10 12:00:00"):
            self._set_write_date(self.stale, datetime(2026, 2, 1, 9, 0))
            self.Runner.run()
        activity = self._followups(self.all_leads)
        self.assertEqual(len(activity), 1)
        self.assertRecordValues(
            activity,
            [
                {
                    "res_model": "crm.lead",
                    "res_id": self.stale.id,
                    "activity_type_id": self.call_type.id,
                    "date_deadline": fields.Date.to_date("2026-03-12"),
                    "summary": "Re-engage: Stale Deal (stale 37 days)",
                    "user_id": self.salesperson.id,
                    "automated": True,
                }
            ],
        )
        self.assertIn("Stale Deal", activity.note)
        self.assertIn("37 days", activity.note)
        self.assertIn(self.stage_new.name, activity.note)

    def test_activity_named_after_its_opportunity(self):
        """Stored under its opportunity's name, as Odoo names an activity;
        the run gives the name with the values it creates it with, so that
        Odoo does not update each new activity to name it after the insert."""
        self.stale.name = "Stale Deal, renamed"
        self._set_write_date(self.stale, fields.Datetime.now() - timedelta(days=30))
        statements = []
        execute = type(self.env.cr).execute

        def logging_execute(cr, query, *args, **kwargs):
            statements.append(str(getattr(query, "code", query)))
            return execute(cr, query, *args, **kwargs)

        self.patch(type(self.env.cr), "execute", logging_execute)
        self.Runner.run()
        self.assertFalse(
            [
                statement
                for statement in statements
                if statement.lstrip().startswith('UPDATE "mail_activity"')
                and '"res_name"' in statement
            ]
        )
        activity = self._followups(self.stale)
        activity.invalidate_recordset()
        self.assertEqual(activity.res_name, "Stale Deal, renamed")

    def test_assignee_fallbacks(self):
        no_user = self._opportunity("Team Only", days=20, user_id=False)
        self.Runner.with_user(self.manager).run()
        self.assertEqual(self._followups(no_user).user_id, self.manager)  # team leader
        team_2 = self.env["crm.team"].create(
            {"name": "Team 2", "user_id": self.salesperson_2.id}
        )
        led = self._opportunity("Led by Sue", days=20, user_id=False, team_id=team_2.id)
        self.Runner.run()
        self.assertEqual(self._followups(led).user_id, self.salesperson_2)

    def test_write_date_unchanged(self):
        before = {lead.id: lead.write_date for lead in self.all_leads}
        self.Runner.run()
        self.env.flush_all()
        self.all_leads.invalidate_recordset()
        self.assertEqual({lead.id: lead.write_date for lead in self.all_leads}, before)

    def test_second_run_no_duplicate(self):
        first = self.Runner.run()
        second = self.Runner.run()
        self.assertEqual(first["counts"]["scheduled"], 1)
        self.assertEqual(second["counts"]["scheduled"], 0)
        self.assertEqual(second["counts"]["skipped_pending"], 2)
        self.assertEqual(len(self._followups(self.all_leads)), 1)

    def test_edge_no_stale(self):
        """Edge case 1: nothing stale: success, zero counts, still a log."""
        result = self.Runner.run(stale_days=3650)
        self.assertTrue(result["success"])
        self.assertEqual(result["counts"], dict.fromkeys(result["counts"], 0))
        self.assertEqual(result["steps_executed"], ["detect_stale", "log_execution"])
        self.assertEqual(
            result["message"],
            "No stale opportunity older than 3650 days: nothing to do.",
        )
        self.assertEqual(
            self.env["workflow.log"].browse(result["log_id"]).state, "done"
        )
        self.assertFalse(self._followups(self.all_leads))

    def test_edge_all_have_recent_activity(self):
        """Edge case 1 bis: stale ones all have an open activity: count 0."""
        self.stale.activity_schedule(
            "mail.mail_activity_data_todo", user_id=self.salesperson.id
        )
        self._set_write_date(self.stale, fields.Datetime.now() - timedelta(days=20))
        result = self.Runner.run()
        self.assertEqual(result["counts"]["scheduled"], 0)
        self.assertIn("No re-engagement scheduled.", result["message"])

    def test_edge_won_skipped(self):
        """Edge case 2: won stage, and a won status, are skipped."""
        self.Runner.run()
        self.assertFalse(self._followups(self.won))

    def test_edge_overdue_warning(self):
        """Edge case 3: an overloaded assignee gets a warning and the activity."""
        self._set_param("overdue_threshold", 1)
        for _index in range(2):
            self.recent.activity_schedule(
                "mail.mail_activity_data_todo",
                user_id=self.salesperson.id,
                date_deadline=fields.Date.today() - timedelta(days=3),
            )
        result = self.Runner.run()
        line = (
            self.env["workflow.log"]
            .browse(result["log_id"])
            .line_ids.filtered(lambda line: line.lead_id == self.stale)
        )
        self.assertEqual(line.outcome, "scheduled")
        self.assertEqual(line.warning, "Sam Seller already has 2 overdue activities.")
        self.assertEqual(result["counts"]["warnings"], 1)
        self.assertTrue(self._followups(self.stale))

    def test_edge_error_isolated(self):
        """Edge case 4: a database error on one opportunity is logged on its
        line; the others keep their activity."""
        poison = self._opportunity("POISON deal", days=20)
        other = self._opportunity("Healthy deal", days=20)
        # A real constraint in PostgreSQL, undone with the test transaction.
        self.env.cr.execute(
            SQL(
                "ALTER TABLE mail_activity ADD CONSTRAINT test_no_poison "
                "CHECK (summary NOT LIKE %s)",
                "%POISON%",
            )
        )
        # PostgreSQL's refusal is logged by Odoo (ERROR "bad query"): expected.
        with mute_logger("odoo.sql_db"):
            result = self.Runner.run()
        self.assertTrue(result["success"])
        self.assertEqual(result["counts"]["errors"], 1)
        self.assertEqual(result["counts"]["scheduled"], 2)
        self.assertFalse(self._followups(poison))
        self.assertTrue(self._followups(other | self.stale))
        line = (
            self.env["workflow.log"]
            .browse(result["log_id"])
            .line_ids.filtered(lambda line: line.lead_id == poison)
        )
        self.assertEqual(line.outcome, "error")
        self.assertIn("test_no_poison", line.reason)
        self.assertFalse(line.activity_id)
        # Whoever started it is told, and the toast stays until read.
        self.assertIn("1 could not be scheduled", result["message"])
        notification = line.log_id._action_notify()["params"]
        self.assertEqual(
            (notification["type"], notification["sticky"]), ("warning", True)
        )

    def test_edge_invalid_user_id(self):
        """Edge case 5: an unknown user_id: filter ignored, with a warning."""
        other = self._opportunity("Sue's deal", days=20, user_id=self.salesperson_2.id)
        result = self.Runner.run(user_id=987654321)
        self.assertTrue(
            self._followups(self.stale | other)
            and len(self._followups(self.stale | other)) == 2
        )
        self.assertIn("user_id 987654321 does not exist", result["message"])
        self.assertEqual(result["counts"]["warnings"], 1)
        result = self.Runner.run(team_id=987654321)
        self.assertIn("team_id 987654321 does not exist", result["message"])

    def test_user_and_team_filters(self):
        other = self._opportunity(
            "Sue's deal", days=20, user_id=self.salesperson_2.id, team_id=False
        )
        result = self.Runner.run(user_id=self.salesperson_2.id)
        self.assertEqual(result["counts"]["stale"], 1)
        self.assertTrue(self._followups(other))
        self.assertFalse(self._followups(self.stale))
        result = self.Runner.run(team_id=self.team.id)
        self.assertEqual(result["counts"]["scheduled"], 1)
        self.assertTrue(self._followups(self.stale))

    def test_lead_ids_restrict_the_run(self):
        other = self._opportunity("Other deal", days=20)
        result = self.Runner.run(
            lead_ids=[other.id, self.recent.id, self.plain_lead.id, 987654321]
        )
        self.assertEqual(result["counts"]["stale"], 1)
        self.assertTrue(self._followups(other))
        self.assertFalse(self._followups(self.stale))

    def test_bad_stale_days_refused(self):
        logs_before = self.env["workflow.log"].search_count([])
        for value in (0, -1, 3651, "abc", "14", 1.5, True):
            with self.subTest(value=value), self.assertRaises(UserError) as caught:
                self.Runner.run(stale_days=value)
            self.assertIn("stale_days", str(caught.exception))
            self.assertIn(repr(value), str(caught.exception))
        self.assertEqual(self.env["workflow.log"].search_count([]), logs_before)
        self.assertFalse(self._followups(self.all_leads))

    def test_stale_days_parameter_and_boundary(self):
        """write_date before midnight of (today - stale_days) is stale."""
        with freeze_time("2026-03-20 12:00:00"):
            self._set_write_date(self.stale, datetime(2026, 3, 10, 23, 59))
            self.assertEqual(self.Runner.run(stale_days=10)["counts"]["eligible"], 0)
            self._set_write_date(self.stale, datetime(2026, 3, 9, 23, 59))
            self.assertEqual(self.Runner.run(stale_days=10)["counts"]["eligible"], 1)

    def test_day_boundary_far_timezone(self):
        """The cutoff is midnight in the company's timezone (UTC+14 here),
        whoever runs it: the runner's own timezone does not move it."""
        self.env.company.resource_calendar_id.tz = "Pacific/Kiritimati"
        self.manager.tz = "America/Los_Angeles"
        with freeze_time("2026-11-24 11:00:00"):  # already 25 Nov 01:00 in Kiritimati
            # 10 Nov 09:00 UTC is 10 Nov 23:00 there: before the 11 Nov cutoff.
            self._set_write_date(self.stale, datetime(2026, 11, 10, 9, 0))
            # 10 Nov 11:00 UTC is 11 Nov 01:00 there: after it.
            late = self._opportunity("Late Kiritimati", days=0)
            self._set_write_date(late, datetime(2026, 11, 10, 11, 0))
            self.env.company.resource_calendar_id.tz = "UTC"
            as_utc = self.Runner.with_user(self.salesperson).run(
                lead_ids=(self.stale | late).ids, dry_run=True
            )
            # In UTC it is still the 24th: the cutoff is the 10th, neither is stale.
            self.assertEqual(as_utc["counts"]["stale"], 0)
            self.env.company.resource_calendar_id.tz = "Pacific/Kiritimati"
            result = self.Runner.with_user(self.manager).run()
        self.assertEqual(result["counts"]["scheduled"], 1)
        activity = self._followups(self.stale)
        self.assertEqual(activity.summary, "Re-engage: Stale Deal (stale 15 days)")
        self.assertEqual(activity.date_deadline, fields.Date.to_date("2026-11-27"))
        self.assertFalse(self._followups(late))

    def test_cron_counts_days_in_the_company_timezone(self):
        """The cron runs as OdooBot, but counts and dates the days where the
        company is: the note's last-update date is that local day."""
        self.env.company.resource_calendar_id.tz = "Pacific/Kiritimati"
        self.env.ref("base.user_root").tz = "UTC"
        with freeze_time("2026-11-24 11:00:00"):  # 25 Nov 01:00 in Kiritimati
            # 9 Nov 12:00 UTC is 10 Nov 02:00 there: 15 days before the 25th.
            self._set_write_date(self.stale, datetime(2026, 11, 9, 12, 0))
            self._run_cron()
        activity = self._followups(self.stale)
        self.assertEqual(activity.summary, "Re-engage: Stale Deal (stale 15 days)")
        self.assertIn("Last update on 11/10/2026", activity.note)
        self.assertEqual(activity.date_deadline, fields.Date.to_date("2026-11-27"))

    def test_settings_are_used(self):
        self._set_param("stale_days", 30)
        self._set_param("deadline_days", 5)
        self._set_param("activity_type_id", self.email_type.id)
        with freeze_time("2026-05-01 08:00:00"):
            self._set_write_date(self.stale, datetime(2026, 3, 1))
            self._set_write_date(self.won | self.pending, datetime(2026, 4, 20))
            result = self.Runner.run()
        self.assertEqual(result["counts"]["stale"], 1)
        self.assertIn("older than 30 days", result["message"])
        activity = self._followups(self.stale)
        self.assertEqual(activity.activity_type_id, self.email_type)
        # Friday 1 May + 5 working days.
        self.assertEqual(activity.date_deadline, fields.Date.to_date("2026-05-08"))

    def test_failed_run_leaves_log(self):
        """An unexpected error: nothing created, a failed log with the error."""
        Runner = type(self.Runner)

        def broken(self, leads, params, assignees):
            raise RuntimeError("drafting exploded")

        self.patch(Runner, "_draft_message", broken)
        with mute_logger(
            "odoo.addons.crm_opportunity_followup.models.opportunity_followup_runner"
        ):
            result = self.Runner.run()
        self.assertFalse(result["success"])
        self.assertEqual(result["error"], "drafting exploded")
        log = self.env["workflow.log"].browse(result["log_id"])
        self.assertEqual(log.state, "failed")
        self.assertEqual(log.error, "drafting exploded")
        self.assertFalse(log.line_ids)
        self.assertFalse(self._followups(self.all_leads))

    def test_unknown_trigger_is_refused(self):
        with self.assertRaisesRegex(UserError, "trigger"):
            self.Runner.run(trigger="bogus")
        self.assertFalse(self._followups(self.stale))

    def test_bad_filters(self):
        stale = self._opportunity("Stale Deal", days=20)
        archived_user = new_test_user(
            self.env, "fu_archived", groups="sales_team.group_sale_salesman"
        )
        archived_deal = self._opportunity(
            "Archived user's deal", days=20, user_id=archived_user.id
        )
        archived_user.action_archive()
        # An archived salesperson still owns opportunities: the filter holds.
        result = self.Runner.run(user_id=archived_user.id)
        self.assertEqual(result["counts"]["stale"], 1)
        self.assertTrue(self._followups(archived_deal))
        self.assertFalse(self._followups(stale))
        for key, value in (("user_id", "7"), ("team_id", 1.5), ("user_id", [1])):
            with (
                self.subTest(key=key, value=value),
                self.assertRaises(UserError) as caught,
            ):
                self.Runner.run(**{key: value})
            self.assertIn(key, str(caught.exception))
        with self.assertRaises(UserError) as caught:
            self.Runner.run(lead_ids="abc")
        self.assertIn("lead_ids", str(caught.exception))
        self.assertFalse(self._followups(stale))
