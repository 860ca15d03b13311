"""What the history keeps: the email actually sent from a re-engagement,
what older versions left behind, and results past the log retention."""

from datetime import timedelta

from odoo import fields
from odoo.tests import Form, users

from .common import FollowupCase

REPORT = "crm.followup.effectiveness.report"


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
