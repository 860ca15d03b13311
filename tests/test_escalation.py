"""Escalation of re-engagements nobody did: after the threshold in working days
and not before, once, to the right person, and never on a deal that was worked."""

import importlib.util
import logging
import os
from datetime import timedelta

from freezegun import freeze_time

from odoo import SUPERUSER_ID, api, fields
from odoo.tests import Form, TransactionCase, new_test_user, tagged
from odoo.tools import SQL

from .common import MONDAY, EscalationCase, FollowupCase, day, run_twice_at_once


class TestEscalation(EscalationCase):
    def test_after_the_threshold_in_working_days(self):
        followup = self._book()
        # Saturday (3 calendar days past Wednesday) and Monday (3 working days
        # past it, not more): nothing yet.
        for offset in (5, 7):
            with self.subTest(day=day(offset).date()), freeze_time(day(offset)):
                log = self._run_cron()
                self.assertFalse(self._escalations(self.lead))
                self.assertEqual(log.escalated_count, 0)
                self.assertEqual(self._line(log, self.lead).outcome, "skipped_pending")
                self.assertIn("escalate_overdue", log._result()["steps_executed"])
        with freeze_time(day(8)):
            log = self._run_cron()
        escalation = self._escalations(self.lead)
        self.assertEqual(len(escalation), 1)
        # The team leader gets it, due today; the re-engagement stays.
        self.assertEqual(escalation.user_id, self.manager)
        self.assertEqual(escalation.date_deadline, day(8).date())
        self.assertEqual(
            escalation.summary,
            "Escalation: Initech Upgrade (re-engagement overdue 6 days)",
        )
        self.assertIn("Sam Seller", escalation.note)
        self.assertIn("03/03/2027", escalation.note)
        self.assertTrue(followup.active)
        self.assertEqual(followup, self._followups(self.lead))
        line = self._line(log, self.lead)
        self.assertEqual(line.outcome, "escalated")
        self.assertEqual(line.activity_id, escalation)
        self.assertEqual(line.assignee_id, self.manager)
        result = log._result()
        self.assertEqual(result["counts"]["escalated"], 1)
        self.assertEqual(result["counts"]["skipped_pending"], 0)
        self.assertIn("1 ignored re-engagement escalated", result["message"])
        self.assertIn("escalate_overdue", result["steps_executed"])
        # Once: the next day's run leaves it as it is.
        with freeze_time(day(9)):
            log = self._run_cron()
        self.assertEqual(self._escalations(self.lead), escalation)
        self.assertEqual(log.escalated_count, 0)
        self.assertEqual(self._line(log, self.lead).outcome, "skipped_pending")

    def test_in_the_leaders_language(self):
        self.env["res.lang"]._activate_lang("fr_FR")
        # French installed as Settings does: with the terms of the notes'
        # templates (Python strings are read from the .po files as needed).
        self.env["ir.module.module"]._load_module_terms(
            ["crm_opportunity_followup"], ["fr_FR"]
        )
        self.manager.lang = "fr_FR"
        self._book()
        with freeze_time(day(8)):
            self._run_cron()
        escalation = self._escalations(self.lead)
        self.assertEqual(escalation.user_id, self.manager)
        self.assertEqual(
            escalation.summary,
            "Remontée : Initech Upgrade (relance en retard de 6 jours)",
        )
        self.assertIn(
            "La relance de « Initech Upgrade » par Sam Seller", escalation.note
        )
        # Dates in the leader's format.
        self.assertIn("03/03/2027", escalation.note)

    def test_no_escalation_on_a_deal_that_was_worked(self):
        self._book()
        with freeze_time(day(8)):
            self.lead.with_user(self.salesperson).message_post(
                body="Left a voicemail, will try again.", message_type="comment"
            )
            log = self._run_cron()
        self.assertFalse(self._escalations(self.lead))
        self.assertFalse(self._line(log, self.lead))
        self.assertNotIn("escalate_overdue", log._result()["steps_executed"])

    def test_a_done_followup_is_not_escalated(self):
        followup = self._book()
        with freeze_time(day(8)):
            followup.with_user(self.salesperson).action_feedback(feedback="Called.")
            log = self._run_cron()
        self.assertFalse(self._escalations(self.lead))
        self.assertEqual(log.escalated_count, 0)

    def test_zero_turns_it_off_and_is_saved(self):
        form = Form(self.env["res.config.settings"].with_user(self._admin()))
        self.assertEqual(form.followup_escalate_after_days, 3)
        form.followup_escalate_after_days = 0
        form.save().execute()
        form = Form(self.env["res.config.settings"])
        self.assertEqual(form.followup_escalate_after_days, 0)
        self._book()
        with freeze_time(day(20)):
            log = self._run_cron()
        self.assertFalse(self._escalations(self.lead))
        self.assertEqual(self._line(log, self.lead).outcome, "skipped_pending")
        self.assertNotIn("escalate_overdue", log._result()["steps_executed"])

    def test_leader_is_the_salesperson(self):
        self.team.user_id = self.salesperson
        self._book()
        with freeze_time(day(8)):
            log = self._run_cron()
        self.assertFalse(self._escalations(self.lead))
        line = self._line(log, self.lead)
        self.assertEqual(line.outcome, "skipped_pending")
        self.assertIn("the team leader is the salesperson", line.warning)
        self.assertEqual(log.warning_count, 1)
        # With a default re-engagement user, it goes to them, and the line says why.
        self._set_param("default_user_id", self.senior.id)
        with freeze_time(day(9)):
            log = self._run_cron()
        self.assertEqual(self._escalations(self.lead).user_id, self.senior)
        line = self._line(log, self.lead)
        self.assertEqual(line.outcome, "escalated")
        self.assertIn("escalated to the default re-engagement user", line.warning)

    def test_nobody_to_escalate_to(self):
        self.team.user_id = False
        self._book()
        with freeze_time(day(8)):
            log = self._run_cron()
        self.assertFalse(self._escalations(self.lead))
        self.assertIn("nobody to escalate to", self._line(log, self.lead).warning)

    def test_digest_lists_escalations_apart(self):
        self.manager.email = "mia@example.com"
        self._book()
        with freeze_time(day(8)):
            self._run_cron()
        mail = self.env["mail.mail"].search(
            [("recipient_ids", "in", self.manager.partner_id.ids)]
        )
        self.assertEqual(len(mail), 1)
        self.assertEqual(mail.subject, "1 re-engagement escalated to you")
        self.assertIn("Escalated to you", mail.body_html)
        self.assertIn("Initech Upgrade", mail.body_html)
        self.assertNotIn("A re-engagement activity is now in your plan", mail.body_html)

    def test_a_dismissed_escalation_is_not_escalated_again(self):
        """The leader cancels the escalation ("I talked to them"): the same
        ignored re-engagement is never escalated again."""
        followup = self._book()
        with freeze_time(day(8)):
            self._run_cron()
        self._escalations(self.lead).with_user(self.manager).unlink()
        for offset in (9, 10, 14):
            with self.subTest(day=day(offset).date()), freeze_time(day(offset)):
                log = self._run_cron()
                self.assertFalse(self._escalations(self.lead))
                self.assertEqual(log.escalated_count, 0)
                self.assertEqual(self._line(log, self.lead).outcome, "skipped_pending")
        self.assertTrue(followup.active)

    def test_a_completed_escalation_is_not_escalated_again(self):
        """With *Edits of the record only*, the leader completing the
        escalation is no work on the deal: still, no second escalation."""
        self._set_param("clock", "write_date")
        self._book()
        with freeze_time(day(8)):
            self._run_cron()
            self._escalations(self.lead).with_user(self.manager).action_feedback(
                feedback="Talked to Sam, he calls them tomorrow."
            )
        with freeze_time(day(9)):
            log = self._run_cron()
        self.assertFalse(self._escalations(self.lead))
        self.assertEqual(log.escalated_count, 0)
        self.assertEqual(self._line(log, self.lead).outcome, "skipped_pending")

    def test_a_new_re_engagement_may_be_escalated(self):
        """Once per re-engagement, not once per deal: the next ignored one is
        escalated in its turn."""
        followup = self._book()
        with freeze_time(day(8)):
            self._run_cron()
        self._escalations(self.lead).with_user(self.manager).unlink()
        followup.with_user(self.salesperson).action_feedback(feedback="No answer.")
        with freeze_time(day(30)):
            self._set_last_work(self.lead, day(10))
            self._run_cron()
        self.assertEqual(len(self._followups(self.lead)), 1)
        with freeze_time(day(38)):
            self._run_cron()
        self.assertEqual(len(self._escalations(self.lead)), 1)

    def test_an_escalation_dismissed_before_the_upgrade(self):
        """Escalated and dismissed under 19.0.1.3.0, which kept no mark: the
        upgrade marks the re-engagement, and it is not escalated again."""
        followup = self._book()
        with freeze_time(day(8)):
            self._run_cron()
        self._escalations(self.lead).unlink()
        self.env.flush_all()
        self.env.cr.execute(
            SQL(
                "UPDATE mail_activity SET followup_escalated = FALSE WHERE id = %s",
                followup.id,
            )
        )
        path = os.path.join(
            os.path.dirname(__file__),
            "..",
            "migrations",
            "19.0.1.4.0",
            "post-migrate.py",
        )
        spec = importlib.util.spec_from_file_location("followup_migrate_14", path)
        migration = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(migration)
        migration._mark_escalated_followups(self.env.cr)
        followup.invalidate_recordset()
        self.assertTrue(followup.followup_escalated)
        with freeze_time(day(9)):
            log = self._run_cron()
        self.assertFalse(self._escalations(self.lead))
        self.assertEqual(log.escalated_count, 0)

    def test_a_deal_with_a_meeting_to_come_is_not_escalated(self):
        """Its re-engagement ignored, but a meeting with the customer booked
        weeks ago is still to come: the deal is planned, its leader is not
        asked to step in."""
        followup = self._book()
        # Booked long before the runs (its creation is no recent work).
        meeting = (
            self.env["calendar.event"]
            .with_user(self.salesperson)
            .create(
                {
                    "name": "Initech demo",
                    "start": day(12),
                    "stop": day(12) + timedelta(hours=1),
                    "opportunity_id": self.lead.id,
                }
            )
        )
        with freeze_time(day(8)):
            log = self._run_cron()
        self.assertFalse(self._escalations(self.lead))
        self.assertEqual(log.escalated_count, 0)
        line = self._line(log, self.lead)
        self.assertEqual(line.outcome, "skipped_pending")
        self.assertEqual(
            line.reason,
            "Already has an open activity, and a meeting is planned on 03/13/2027.",
        )
        self.assertTrue(followup.active)
        self.assertFalse(followup.followup_escalated)
        # The meeting cancelled: the ignored re-engagement is escalated.
        meeting.with_user(self.salesperson).action_archive()
        with freeze_time(day(9)):
            log = self._run_cron()
        self.assertEqual(self._escalations(self.lead).user_id, self.manager)
        self.assertEqual(self._line(log, self.lead).outcome, "escalated")

    def test_a_paused_deal_is_not_escalated(self):
        """Paused while its re-engagement is open: the runs leave it alone, and
        the pause moves the re-engagement to the day after it."""
        followup = self._book()
        until = day(20).date()
        with freeze_time(day(4)):
            self.lead.with_user(self.salesperson).write(
                {
                    "followup_paused_until": until,
                    "followup_pause_reason": "Call back after their board meeting",
                }
            )
        self.assertEqual(followup.date_deadline, day(21).date())
        message = self.lead.message_ids.filtered(
            lambda message: "Re-engagement paused until" in message.body
        )
        self.assertIn("Re-engagement paused until 03/21/2027", message.body)
        self.assertIn("now due on 03/22/2027", message.body)
        self.assertEqual(message.message_type, "notification")
        with freeze_time(day(8)):
            log = self._run_cron()
        self.assertFalse(self._escalations(self.lead))
        self.assertEqual(log.escalated_count, 0)
        self.assertEqual(self._line(log, self.lead).outcome, "skipped_paused")
        self.assertEqual(log.skipped_pending_count, 0)

    def test_a_pause_closes_the_open_escalation(self):
        self._book()
        with freeze_time(day(8)):
            self._run_cron()
            self.assertTrue(self._escalations(self.lead))
            self.lead.with_user(self.salesperson).followup_paused_until = day(20).date()
        self.assertFalse(self._escalations(self.lead))
        self.assertTrue(
            self.lead.message_ids.filtered(
                lambda message: (
                    "the escalation to Mia Manager is closed" in message.body
                )
            )
        )

    def test_a_salesperson_s_own_run_does_not_escalate(self):
        """A salesperson running it on their deals (the list action, or
        /followup on their pipeline) never escalates their own re-engagement
        to their leader: the daily job does."""
        self._book()
        Runner = self.Runner.with_user(self.salesperson)
        with freeze_time(day(8)):
            for kwargs in (
                {"lead_ids": self.lead.ids, "trigger": "server_action"},
                {"user_id": self.salesperson.id, "trigger": "chat"},
            ):
                with self.subTest(**kwargs):
                    result = Runner.run(**kwargs)
                    self.assertTrue(result["success"], result["error"])
                    self.assertEqual(result["counts"]["escalated"], 0)
                    self.assertFalse(self._escalations(self.lead))
            log = self._run_cron()
        self.assertEqual(log.escalated_count, 1)
        self.assertEqual(self._escalations(self.lead).create_uid, self.odoobot)

    def test_a_pause_lets_a_later_deadline_be(self):
        """A re-engagement due after the pause keeps its day: a pause never
        brings work forward."""
        followup = self._book()
        followup.date_deadline = day(30).date()
        with freeze_time(day(1)):
            self.lead.with_user(self.salesperson).followup_paused_until = day(3).date()
        self.assertEqual(followup.date_deadline, day(30).date())
        self.assertFalse(
            self.lead.message_ids.filtered(
                lambda message: "now due on" in (message.body or "")
            )
        )

    def test_ignored_again_after_the_pause_is_escalated_again(self):
        """The pause closed the escalation, not the leader: ignored again
        after the pause, the re-engagement is escalated once more."""
        followup = self._book()
        with freeze_time(day(8)):
            self._run_cron()
            self.assertTrue(self._escalations(self.lead))
            self.lead.with_user(self.salesperson).followup_paused_until = day(10).date()
        self.assertFalse(self._escalations(self.lead))
        self.assertEqual(followup.date_deadline, day(11).date())
        self.assertFalse(followup.followup_escalated)
        with freeze_time(day(30)):
            log = self._run_cron()
        self.assertEqual(len(self._escalations(self.lead)), 1)
        self.assertEqual(self._line(log, self.lead).outcome, "escalated")

    def test_escalating_more_deals_costs_no_more_queries(self):
        """The escalation reads a chunk's deals together: 25 escalations cost
        what 5 do."""
        queries = {}
        for count in (5, 25):
            team = self.env["crm.team"].create(
                {"name": f"Team of {count}", "user_id": self.manager.id}
            )
            leads = self.env["crm.lead"]
            for index in range(count):
                leads |= self._opportunity(f"Deal {count} {index}", team_id=team.id)
            with freeze_time(MONDAY):
                self.Runner.with_user(self.manager).run(team_id=team.id)
            self.env.flush_all()
            self.env.invalidate_all()
            with freeze_time(day(30)):
                before = self.env.cr.sql_log_count
                result = self.Runner.with_user(self.manager).run(team_id=team.id)
                queries[count] = self.env.cr.sql_log_count - before
            self.assertEqual(result["counts"]["escalated"], count)
        self.assertLessEqual(queries[25], queries[5], queries)

    def test_each_salesperson_s_calendar_is_read_once(self):
        """Escalating 40 ignored re-engagements of one salesperson, each with
        its own deadline, costs what it costs with one deadline."""
        queries = {}
        for spread in (False, True):
            team = self.env["crm.team"].create(
                {"name": f"Team {spread}", "user_id": self.manager.id}
            )
            leads = self.env["crm.lead"]
            for index in range(40):
                leads |= self._opportunity(f"Deal {spread} {index}", team_id=team.id)
            with freeze_time(MONDAY):
                self.Runner.with_user(self.manager).run(team_id=team.id)
            followups = self._followups(leads)
            self.assertEqual(len(followups), 40)
            if spread:
                for index, followup in enumerate(followups):
                    followup.date_deadline = day(2 - index).date()
            self.env.flush_all()
            self.env.invalidate_all()
            with freeze_time(day(30)):
                before = self.env.cr.sql_log_count
                result = self.Runner.with_user(self.manager).run(team_id=team.id)
                queries[spread] = self.env.cr.sql_log_count - before
            self.assertEqual(result["counts"]["escalated"], 40)
        self.assertLessEqual(queries[True], queries[False] + 2, queries)


@tagged("post_install", "-at_install")
class TestEscalationTemplate(FollowupCase):
    """The escalation's note is a QWeb template: a view that inherits it
    changes a line, no Python (after install, as an integrator's module's
    views are)."""

    def test_escalation_note(self):
        """An integrator words a line of the escalation their way."""
        self._inherit_view(
            "crm_opportunity_followup.followup_escalation_note",
            "Escalation: ask for a call",
            """
                <xpath expr="//p[@name='overdue']" position="replace">
                    <p name="overdue">Call <t t-out="salesperson"/> about it.</p>
                </xpath>
            """,
        )
        lead = self._opportunity("Initech Upgrade", days=20)
        with freeze_time(MONDAY):
            self._run_cron()
        with freeze_time(day(8)):
            self._run_cron()
        escalation = self.Activity.search(
            [
                ("res_model", "=", "crm.lead"),
                ("res_id", "=", lead.id),
                ("is_followup_escalation", "=", True),
            ]
        )
        self.assertEqual(escalation.user_id, self.manager)
        self.assertIn("Call Sam Seller about it.", escalation.note)
        self.assertNotIn("is overdue since", escalation.note)
        # The other lines stay as they were.
        self.assertIn("Re-engagements scheduled so far: 1.", escalation.note)


@tagged("post_install", "-at_install")
class TestConcurrentEscalation(TransactionCase):
    """Two runs on two real connections escalate each opportunity once."""

    def test_two_runs_escalate_each_opportunity_once(self):
        ids = self._commit_overdue(20)
        self.addCleanup(self._cleanup, ids)
        lead_ids = ids["leads"]
        results = run_twice_at_once(self, lead_ids)
        self.assertEqual(results["first"]["counts"]["escalated"], 20)
        self.assertEqual(results["second"]["counts"]["escalated"], 0)
        self.assertEqual(results["second"]["counts"]["skipped_pending"], 20)
        self.assertEqual(results["second"]["counts"]["errors"], 0)
        with self.registry.cursor() as cr:
            cr.execute(
                SQL(
                    "SELECT res_id, count(*) FROM mail_activity "
                    "WHERE res_model = 'crm.lead' AND res_id IN %s AND active "
                    "AND is_followup_escalation GROUP BY res_id",
                    tuple(lead_ids),
                )
            )
            self.assertEqual(dict(cr.fetchall()), dict.fromkeys(lead_ids, 1))

    def _commit_overdue(self, count):
        """Stale opportunities whose re-engagement is a month overdue, and a
        team leader to escalate to, committed."""
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            leader = new_test_user(
                env, "fu_race_leader", groups="sales_team.group_sale_manager"
            )
            seller = new_test_user(
                env, "fu_race_seller", groups="sales_team.group_sale_salesman"
            )
            team = env["crm.team"].create({"name": "Race Team", "user_id": leader.id})
            leads = env["crm.lead"].create(
                [
                    {
                        "name": f"Overdue {i}",
                        "type": "opportunity",
                        "user_id": seller.id,
                        "team_id": team.id,
                    }
                    for i in range(count)
                ]
            )
            env["mail.activity"].create(
                [
                    {
                        "res_model_id": env["ir.model"]._get_id("crm.lead"),
                        "res_id": lead.id,
                        "user_id": seller.id,
                        "date_deadline": fields.Date.today() - timedelta(days=30),
                        "is_followup": True,
                    }
                    for lead in leads
                ]
            )
            env.flush_all()
            cr.execute(
                SQL(
                    "UPDATE crm_lead SET write_date = %s WHERE id IN %s",
                    fields.Datetime.now() - timedelta(days=40),
                    tuple(leads.ids),
                )
            )
            return {
                "leads": leads.ids,
                "team": team.id,
                "users": (leader | seller).ids,
            }

    def _cleanup(self, ids):
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            logs = (
                env["workflow.log.line"]
                .search([("lead_id", "in", ids["leads"])])
                .log_id
            )
            logs.unlink()
            env["crm.lead"].browse(ids["leads"]).unlink()
            env["crm.team"].browse(ids["team"]).unlink()
            users = env["res.users"].browse(ids["users"])
            try:
                with cr.savepoint():
                    users.unlink()
            except Exception:  # referenced elsewhere: keep them, archived
                logging.getLogger(__name__).info("Test users kept, archived")
                users.action_archive()
