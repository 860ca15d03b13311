"""Did it work? Each re-engagement's result, from what people and customers
really did after it, the email the salesperson sent from it, and the
Re-engagement Effectiveness report's figures, which outlive the log
retention."""

from datetime import timedelta

from freezegun import freeze_time

from odoo import fields
from odoo.tests import Form, users

from odoo.addons.crm_opportunity_followup.models import workflow_log_line

from .common import AUTO_HEADERS, T0, FollowupCase, RevivalCase, at

REPORT = "crm.followup.effectiveness.report"


class TestRevivalResults(RevivalCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        names = ["Won", "Lost", "Advanced", "Posted", "Done", "Ignored", "Cancelled"]
        cls.leads = {name: cls._opportunity(f"{name} Deal", days=20) for name in names}

    def test_each_result_from_real_events(self):
        leads = self.leads
        _log, lines = self._book(self.env["crm.lead"].union(*leads.values()))
        followups = {name: self._followups(lead) for name, lead in leads.items()}
        as_seller = {
            name: lead.with_user(self.salesperson) for name, lead in leads.items()
        }
        with freeze_time(at(1)):
            as_seller["Posted"].message_post(
                body="They asked for a new quote.", message_type="comment"
            )
            followups["Done"].with_user(self.salesperson).action_feedback(
                feedback="Called: interested again."
            )
            followups["Cancelled"].with_user(self.salesperson).unlink()
        with freeze_time(at(2)):
            as_seller["Advanced"].write({"stage_id": self.stage_qualified.id})
            self._flush_tracking()
        with freeze_time(at(3)):
            as_seller["Won"].action_set_won()
            as_seller["Lost"].action_set_lost()
        # Past every deadline (2 working days, 4 days over a weekend).
        self._refresh(5)
        results = {name: self._line(lines, lead) for name, lead in leads.items()}
        self.assertEqual(
            {name: line.revival_result for name, line in results.items()},
            {
                "Won": "won",
                "Lost": "lost",
                "Advanced": "advanced",
                "Posted": "worked",
                "Done": "worked",
                "Ignored": "ignored",
                "Cancelled": "ignored",
            },
        )
        self.assertEqual(results["Won"].revival_date, at(3))
        self.assertEqual(results["Won"].revival_days, 3)
        self.assertEqual(results["Advanced"].revival_date, at(2))
        self.assertEqual(results["Posted"].revival_days, 1)
        self.assertFalse(results["Ignored"].revival_date)
        # Within the window: provisional.
        self.assertFalse(any(line.revival_closed for line in lines))
        # Never a write on the opportunity: its clock stays as it was.
        self.assertLess(leads["Ignored"].write_date, T0 - timedelta(days=19))

    def test_a_result_improves_until_the_window_closes(self):
        lead = self.leads["Posted"]
        _log, lines = self._book(lead)
        line = self._line(lines, lead)
        self._refresh(1)
        # Not yet due: pending, not ignored.
        self.assertEqual(line.revival_result, "pending")
        self.assertEqual(line.revival_checked, at(1).date())
        with freeze_time(at(5)):
            lead.with_user(self.salesperson).message_post(
                body="Sent the revised offer.", message_type="comment"
            )
        self._refresh(6)
        self.assertEqual(line.revival_result, "worked")
        with freeze_time(at(12)):
            lead.with_user(self.salesperson).action_set_won()
        self._refresh(13)
        self.assertEqual(line.revival_result, "won")
        # The first sign of life stays the date of revival.
        self.assertEqual(line.revival_date, at(5))
        self.assertEqual(line.revival_days, 5)
        self.assertFalse(line.revival_closed)
        self._refresh(31)
        self.assertTrue(line.revival_closed)
        self.assertEqual(line.revival_result, "won")

    def test_what_happens_after_the_window_does_not_count(self):
        lead = self.leads["Ignored"]
        _log, lines = self._book(lead)
        line = self._line(lines, lead)
        with freeze_time(at(40)):
            lead.with_user(self.salesperson).action_set_won()
        self._refresh(41)
        self.assertEqual(line.revival_result, "ignored")
        self.assertTrue(line.revival_closed)
        # Final since the win ended its re-engagement (a completed one counts
        # at once), and not read again.
        self._refresh(42)
        self.assertEqual(line.revival_checked, at(40).date())

    def test_the_cron_stops_when_its_budget_is_spent(self):
        _log, lines = self._book(self.env["crm.lead"].union(*self.leads.values()))
        self.assertEqual(len(lines), 7)
        self.patch(workflow_log_line, "REVIVAL_BATCH", 3)
        calls = []

        def no_time_left(cron, processed, remaining=None):
            calls.append((processed, remaining))
            return 0

        self.patch(type(self.env["ir.cron"]), "_commit_progress", no_time_left)
        Line = self.env["workflow.log.line"].with_user(self.odoobot)
        with freeze_time(at(1)):
            Line.with_context(cron_id=self.cron.id)._cron_followup_refresh_revival()
        # One batch, then the scheduler is told what is left.
        self.assertEqual(calls, [(3, 4)])
        checked = lines.mapped("revival_checked")
        self.assertEqual(sorted(checked, key=bool), [False] * 4 + [at(1).date()] * 3)
        # The next call goes on with the lines not refreshed today.
        with freeze_time(at(1)):
            Line.with_context(cron_id=self.cron.id)._cron_followup_refresh_revival()
        self.assertEqual(calls, [(3, 4), (3, 1)])
        checked = lines.mapped("revival_checked")
        self.assertEqual(sorted(checked, key=bool), [False] + [at(1).date()] * 6)

    def test_odoobot_is_not_a_person(self):
        lead = self.leads["Ignored"]
        _log, lines = self._book(lead)
        with freeze_time(at(1)):
            lead.with_user(self.odoobot).message_post(
                body="Automatic reminder.", message_type="comment"
            )
        self._refresh(2)
        # Not revived: still pending (its re-engagement is not yet due).
        self.assertEqual(self._line(lines, lead).revival_result, "pending")


class TestFairFigures(RevivalCase):
    """A re-engagement is ignored only once it is overdue or its window is
    over; until then it is pending, and the rates say nothing rather than
    0 %. Completing it counts at once."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.lead = cls._opportunity("Quiet Deal", days=20)

    def test_pending_until_overdue_then_ignored(self):
        log, lines = self._book(self.lead)
        line = self._line(lines, self.lead)
        due = (self._followups(self.lead).date_deadline - T0.date()).days
        self._refresh(due)
        self.assertEqual(line.revival_result, "pending")
        self.assertFalse(line.revival_closed)
        self.assertEqual((log.revival_pending_count, log.revival_ignored_count), (1, 0))
        # The day after its deadline, still undone: ignored.
        self._refresh(due + 1)
        self.assertEqual(line.revival_result, "ignored")
        self.assertEqual((log.revival_pending_count, log.revival_ignored_count), (0, 1))

    @users("fu_manager")
    def test_rates_shown_once_there_are_results(self):
        log, lines = self._book(self.lead)
        self._refresh(1)
        log = log.with_user(self.env.user)
        form = Form(log)
        for rate in ("revival_rate", "revival_win_rate", "revival_median_days"):
            self.assertTrue(form._get_modifier(rate, "invisible"), rate)
        self._refresh(30)
        self.assertEqual(self._line(lines, self.lead).revival_result, "ignored")
        form = Form(log)
        for rate in ("revival_rate", "revival_win_rate", "revival_median_days"):
            self.assertFalse(form._get_modifier(rate, "invisible"), rate)
        self.assertEqual(log.revival_rate, 0.0)

    def test_a_completed_re_engagement_counts_at_once(self):
        log, lines = self._book(self.lead)
        line = self._line(lines, self.lead)
        self._refresh(1)
        self.assertEqual(line.revival_result, "pending")
        with freeze_time(at(1)):
            self._followups(self.lead).with_user(self.salesperson).action_feedback(
                feedback="Called: they want a new quote."
            )
        # No daily refresh in between.
        self.assertEqual(line.revival_result, "worked")
        # Revived that day (a day done counts from its start).
        self.assertTrue(T0 < line.revival_date <= at(1))
        report = self.env[REPORT].with_user(self.manager)
        [(worked, pending)] = report._read_group(
            [("log_id", "=", log.id)], [], ["worked_count:sum", "pending_count:sum"]
        )
        self.assertEqual((worked, pending), (1, 0))


class TestEffectivenessReport(RevivalCase):
    """The rates and the median are right however the report is grouped."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.sam = {
            name: cls._opportunity(f"Sam {name}", days=20)
            for name in ("won", "advanced", "ignored 1", "ignored 2")
        }
        cls.sue = {
            name: cls._opportunity(f"Sue {name}", days=20, user_id=cls.salesperson_2.id)
            for name in ("worked 1", "worked 2")
        }

    def _play(self):
        log, _lines = self._book(
            self.env["crm.lead"].union(*self.sam.values(), *self.sue.values())
        )
        for days, lead, event in (
            (2, self.sam["won"], "won"),
            (6, self.sam["advanced"], "advanced"),
            (1, self.sue["worked 1"], "post"),
            (10, self.sue["worked 2"], "post"),
        ):
            with freeze_time(at(days)):
                record = lead.with_user(lead.user_id)
                if event == "won":
                    record.action_set_won()
                elif event == "advanced":
                    record.write({"stage_id": self.stage_proposition.id})
                    self._flush_tracking()
                else:
                    record.message_post(body="Update.", message_type="comment")
        self._refresh(11)
        return log

    @users("fu_manager")
    def test_rates_in_read_group(self):
        log = self._play()
        Report = self.env["crm.followup.effectiveness.report"]
        aggregates = [
            "__count",
            "won_count:sum",
            "worked_count:sum",
            "ignored_count:sum",
            "revival_rate:avg",
            "win_rate:avg",
            "revival_days:median",
        ]
        [total] = Report._read_group([("log_id", "=", log.id)], [], aggregates)
        # 4 revived of 6 (not the mean of the salespeople's 50 % and 100 %).
        self.assertEqual(total[:4], (6, 1, 2, 2))
        self.assertAlmostEqual(total[4], 100 * 4 / 6)
        self.assertAlmostEqual(total[5], 100 / 6)
        # Days to revival 2, 6, 1, 10: the median is 4.
        self.assertAlmostEqual(total[6], 4)
        by_user = {
            user: values
            for user, *values in Report._read_group(
                [("log_id", "=", log.id)], ["user_id"], aggregates
            )
        }
        self.assertEqual(by_user[self.salesperson][:4], [4, 1, 0, 2])
        self.assertAlmostEqual(by_user[self.salesperson][4], 50)
        self.assertAlmostEqual(by_user[self.salesperson][5], 25)
        self.assertAlmostEqual(by_user[self.salesperson][6], 4)
        self.assertAlmostEqual(by_user[self.salesperson_2][4], 100)
        self.assertAlmostEqual(by_user[self.salesperson_2][5], 0)
        self.assertAlmostEqual(by_user[self.salesperson_2][6], 5.5)
        # By stage at follow-up time: they were all new then.
        [(stage, count, rate)] = Report._read_group(
            [("log_id", "=", log.id)],
            ["stage_id"],
            ["followup_count:sum", "revival_rate:avg"],
        )
        self.assertEqual((stage, count), (self.stage_new, 6))
        # The run's form shows the same figures for its own follow-ups.
        log = log.with_user(self.env.user)
        self.assertEqual(
            (
                log.revival_won_count,
                log.revival_worked_count,
                log.revival_ignored_count,
            ),
            (1, 2, 2),
        )
        # Rounded to the field's one decimal.
        self.assertAlmostEqual(log.revival_rate, rate, places=1)
        self.assertAlmostEqual(log.revival_win_rate, 100 / 6, places=1)
        self.assertAlmostEqual(log.revival_median_days, 4)

    def test_pending_results_count_in_neither_side(self):
        log, _lines = self._book(self.env["crm.lead"].union(*self.sam.values()))
        Report = self.env["crm.followup.effectiveness.report"]
        [(count, pending, rate)] = Report._read_group(
            [("log_id", "=", log.id)],
            [],
            ["__count", "pending_count:sum", "revival_rate:avg"],
        )
        self.assertEqual((count, pending), (6, 6))
        # No result yet: no rate (None, which read_group reads as False),
        # not 0 %.
        self.assertIs(rate, False)

    def test_salespeople_see_their_own_results(self):
        log = self._play()
        Report = self.env["crm.followup.effectiveness.report"]
        mine = Report.with_user(self.salesperson).search([("log_id", "=", log.id)])
        self.assertEqual(len(mine), 4)
        self.assertEqual(mine.user_id, self.salesperson)
        [(count, rate)] = Report.with_user(self.salesperson_2)._read_group(
            [("log_id", "=", log.id)], [], ["__count", "revival_rate:avg"]
        )
        self.assertEqual((count, rate), (2, 100))
        everything = Report.with_user(self.manager).search([("log_id", "=", log.id)])
        self.assertEqual(len(everything), 6)


class TestAutoReplyRevival(RevivalCase):
    """An out-of-office answer to the re-engagement's email does not revive
    it; the customer's own answer does."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.customer = cls._customer()

    def test_an_auto_reply_does_not_revive(self):
        lead = self._opportunity("Revived?", days=0, partner_id=self.customer.id)
        parent = self._mail_customer(lead)
        self._set_last_work(lead, T0 - timedelta(days=20))
        _log, lines = self._book(lead)
        line = self._line(lines, lead)
        # The re-engagement's email went out: the customer's server answers.
        self._receive(parent, "ooo", AUTO_HEADERS["auto-replied"], when=at(1))
        self._refresh(2)
        # Not revived: still pending (its re-engagement is not yet due).
        self.assertEqual(line.revival_result, "pending")
        self.assertFalse(line.revival_date)
        # The customer's own answer revives it.
        self._receive(parent, "answer", when=at(3))
        self._refresh(4)
        self.assertEqual(line.revival_result, "worked")
        self.assertEqual(line.revival_date, at(3))
        self.assertEqual(line.revival_days, 3)


class TestSentEmail(FollowupCase):
    """The report's Customer Email is the email the salesperson sent, not
    the one the stage offered when the re-engagement was booked."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.customer = cls.env["res.partner"].create(
            {"name": "Ada Lovelace", "email": "ada@globex.example"}
        )
        cls.lead = cls._opportunity(
            "Globex licences", partner_id=cls.customer.id, stage_id=cls.stage_new.id
        )
        cls.default_email = cls.env.ref(
            "crm_opportunity_followup.mail_template_reengagement"
        )
        cls.short_email = cls.env["mail.template"].create(
            {
                "name": "Short check-in",
                "model_id": cls.env["ir.model"]._get_id("crm.lead"),
                "subject": "Still interested?",
                "body_html": "<p>Shall we talk this week?</p>",
            }
        )

    def _line(self):
        return self.env["workflow.log.line"].search(
            [("lead_id", "=", self.lead.id), ("outcome", "=", "scheduled")]
        )

    def _report_email(self):
        """The report's Customer Email of the lead's re-engagement, as its
        salesperson reads it."""
        # A view: what the ORM cached of a row is not what the view says now.
        self.env[REPORT].invalidate_model()
        row = (
            self.env[REPORT]
            .with_user(self.salesperson)
            .search([("lead_id", "=", self.lead.id)])
        )
        self.assertEqual(len(row), 1)
        return row.email_template_id

    @users("fu_sales")
    def test_composer_records_the_email_chosen(self):
        """Preview from the re-engagement, another template chosen in the
        composer, sent: that one is the report's Customer Email."""
        self._run_cron()
        activity = self._followups(self.lead).with_user(self.env.user)
        self.assertEqual(activity.mail_template_ids, self.default_email)
        self.assertEqual(self._report_email(), self.env["mail.template"])
        # The activity's Preview: Odoo's composer, with the context it gives.
        form = Form(
            self.env["mail.compose.message"].with_context(
                default_res_ids=self.lead.ids,
                default_model="crm.lead",
                default_template_id=activity.mail_template_ids.id,
                default_subtype_xmlid="mail.mt_comment",
                force_email=True,
            )
        )
        form.template_id = self.short_email
        form.save().action_send_mail()
        self.assertIn("Shall we talk", self.lead.message_ids[0].body)
        line = self._line()
        self.assertEqual(line.email_template_id, self.short_email)
        self.assertTrue(line.email_date)
        self.assertEqual(self._report_email(), self.short_email)
        # The first email answers the re-engagement: a later one changes nothing.
        self.lead.activity_send_mail(self.default_email.id)
        self.assertEqual(self._line().email_template_id, self.short_email)

    @users("fu_sales")
    def test_send_now_records_the_email_sent(self):
        """Send Now of the offered email while the stage has none of its own
        (the line's offered email is empty): the report says which was sent."""
        self._run_cron()
        self.assertFalse(self._line().wording_template_id)
        self.lead.activity_send_mail(self.default_email.id)
        self.assertEqual(self._report_email(), self.default_email)
        by_email = dict(
            self.env[REPORT]
            .with_user(self.salesperson)
            ._read_group(
                [("lead_id", "=", self.lead.id)],
                ["email_template_id"],
                ["followup_count:sum"],
            )
        )
        self.assertEqual(by_email, {self.default_email: 1})

    @users("fu_sales")
    def test_a_note_or_an_email_after_it_is_not_the_re_engagement_s(self):
        self._run_cron()
        activity = self._followups(self.lead).with_user(self.env.user)
        # An internal note with a template reaches no customer.
        Form(
            self.env["mail.compose.message"].with_context(
                default_res_ids=self.lead.ids,
                default_model="crm.lead",
                default_template_id=self.short_email.id,
                default_subtype_xmlid="mail.mt_note",
            )
        ).save().action_send_mail()
        self.assertFalse(self._line().email_date)
        # Once the re-engagement is done, an email is no longer sent from it.
        activity.action_feedback(feedback="Called them.")
        self.lead.activity_send_mail(self.default_email.id)
        line = self._line()
        self.assertFalse(line.email_date)
        self.assertFalse(line.email_template_id)


class TestResultRetention(FollowupCase):
    """The Effectiveness report's history outlives the log retention."""

    def test_results_outlive_the_log_retention(self):
        stale = self._opportunity("Re-engaged long ago", days=20)
        won = self._opportunity("Won long ago", days=20, stage_id=self.stage_won.id)
        run = self.env["workflow.log"].browse(
            self.Runner.with_user(self.manager).run()["log_id"]
        )
        preview = self.env["workflow.log"].browse(
            self.Runner.with_user(self.manager).run(dry_run=True)["log_id"]
        )
        self.assertEqual(
            set(run.line_ids.mapped("outcome")), {"scheduled", "skipped_won"}
        )
        (run | preview).sudo().date_start = fields.Datetime.now() - timedelta(days=400)
        self._set_param("log_retention_days", 180)
        Log = self.env["workflow.log"].with_user(self.odoobot)
        Log._cron_purge_old_logs()
        # The run and its re-engagement stay, as the report shows them; the
        # rest of its lines, and the preview, are gone.
        self.assertTrue(run.exists())
        self.assertFalse(preview.exists())
        self.assertEqual(run.line_ids.lead_id, stale)
        self.assertFalse(
            self.env["workflow.log.line"].search([("lead_id", "=", won.id)])
        )
        rows = (
            self.env[REPORT].with_user(self.manager).search([("log_id", "=", run.id)])
        )
        self.assertEqual(rows.lead_id, stale)
        # The next purge has nothing more to do with it.
        Log._cron_purge_old_logs()
        self.assertEqual(run.line_ids.lead_id, stale)
