"""What makes a deal stale: the days since someone last worked on it (an
edit, a message, a completed activity), never counting automatic messages or
auto-replies, against each stage's own threshold."""

from datetime import timedelta

from freezegun import freeze_time

from odoo import fields
from odoo.tests import Form
from odoo.tools import SQL

from .common import AUTO_HEADERS, FollowupCase


class TestStaleClock(FollowupCase):
    """Work done in the chatter or on activities resets the clock."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.lead = cls._opportunity("Globex Renewal", days=20)

    def _book_and_do(self):
        """The daily job books it; the salesperson calls and marks it done."""
        self._run_cron()
        activity = self._followups(self.lead)
        self.assertTrue(activity)
        activity.with_user(self.salesperson).action_feedback(
            feedback="Called: they decide next week."
        )
        self.env.flush_all()
        self.lead.invalidate_recordset(["write_date"])
        # Marking it done does not write the opportunity: the old clock is
        # still 20 days old.
        self.assertLess(
            self.lead.write_date, fields.Datetime.now() - timedelta(days=19)
        )

    def test_done_followup_is_not_booked_again(self):
        self._book_and_do()
        with freeze_time(fields.Datetime.now() + timedelta(days=1)):
            result = self._run_cron()
        self.assertFalse(self._followups(self.lead).filtered("active"))
        self.assertEqual(result.stale_count, 0)
        self.assertFalse(self.lead.followup_is_stale)

    def test_days_count_from_the_last_work(self):
        """Done 16 days ago, last edited 40 days ago: stale for 16 days."""
        self._book_and_do()
        # The next day's daily run (today's booked it).
        with freeze_time(fields.Datetime.now() + timedelta(days=1)):
            now = fields.Datetime.now()
            self._set_last_work(self.lead, now - timedelta(days=16))
            self._set_write_date(self.lead, now - timedelta(days=40))
            self._run_cron()
            activity = self._followups(self.lead).filtered("active")
            self.assertEqual(
                activity.summary, "Re-engage: Globex Renewal (stale 16 days)"
            )
            self.assertIn("16 days", activity.note)
            self.assertEqual(self.lead.followup_days_stale, 16)

    def test_days_without_work_of_a_new_opportunity(self):
        """A form being filled in (no record yet) has no stale days, no crash."""
        draft = (
            self.env["crm.lead"]
            .with_user(self.salesperson)
            .new({"name": "Being typed", "type": "opportunity"})
        )
        self.assertEqual(draft.followup_days_stale, 0)

    def test_note_and_customer_email_count(self):
        other = self._opportunity("Initech Upgrade", days=20)
        # As the chatter posts them (message_type "comment").
        self.lead.with_user(self.salesperson).message_post(
            body="Left a voicemail.",
            message_type="comment",
            subtype_xmlid="mail.mt_note",
        )
        customer = self.env["res.partner"].create(
            {"name": "Initech buyer", "email": "buyer@initech.example.com"}
        )
        other.message_post(
            body="We are still interested.",
            author_id=customer.id,
            message_type="email",
            subtype_xmlid="mail.mt_comment",
        )
        self._set_write_date(self.lead | other, fields.Datetime.now() - timedelta(20))
        result = self.Runner.with_user(self.manager).run()
        self.assertEqual(result["counts"]["stale"], 0)
        self.assertFalse(self._followups(self.lead | other))

    def test_automatic_messages_do_not_count(self):
        """Tracking, OdooBot's notes and Odoo's notifications are not work."""
        self.lead.with_user(self.salesperson).write(
            {"stage_id": self.stage_qualified.id}
        )  # a tracking message
        self.lead.with_user(self.odoobot).message_post(
            body="Automatic reminder",
            message_type="comment",
            subtype_xmlid="mail.mt_note",
        )
        self.lead.message_post(body="Stage changed", message_type="notification")
        self._set_write_date(self.lead, fields.Datetime.now() - timedelta(days=20))
        result = self.Runner.with_user(self.manager).run()
        self.assertEqual(result["counts"]["scheduled"], 1)

    def test_write_date_setting_keeps_the_literal_rule(self):
        admin = self._admin()
        form = Form(self.env["res.config.settings"].with_user(admin))
        self.assertEqual(form.followup_clock, "work")
        form.followup_clock = "write_date"
        form.save().execute()
        self._book_and_do()
        with freeze_time(fields.Datetime.now() + timedelta(days=1)):
            self._run_cron()
        self.assertEqual(len(self._followups(self.lead).filtered("active")), 1)

    def test_marker_and_runner_agree_on_won(self):
        """In a won stage but not marked won (imported data): won for both."""
        in_won_stage = self._opportunity(
            "Won Stage", days=20, stage_id=self.stage_won.id
        )
        self.env.cr.execute(
            SQL(
                "UPDATE crm_lead SET probability = 90, won_status = 'pending' "
                "WHERE id = %s",
                in_won_stage.id,
            )
        )
        in_won_stage.invalidate_recordset()
        self.assertFalse(in_won_stage.followup_is_stale)
        marked = self.env["crm.lead"].search([("followup_is_stale", "=", True)])
        preview = self.Runner.with_user(self.manager).run(dry_run=True)
        listed = (
            self.env["workflow.log"]
            .browse(preview["log_id"])
            .line_ids.filtered(lambda line: line.outcome == "preview")
            .lead_id
        )
        self.assertEqual(marked, listed)
        self.assertNotIn(in_won_stage, marked)


class TestAutoReply(FollowupCase):
    """An auto-reply is not work: the customer's mail server answering "out of
    office" (RFC 3834) arrives through the mail gateway like any reply, and must
    neither reset the stale clock nor be quoted."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.customer = cls._customer()

    def _quiet_deal(self, name):
        """A deal whose last work is the salesperson's email, 20 days ago."""
        lead = self._opportunity(name, days=0, partner_id=self.customer.id)
        parent = self._mail_customer(lead)
        self._set_last_work(lead, fields.Datetime.now() - timedelta(days=20))
        return lead, parent

    def test_recognised_when_it_comes_in(self):
        for name, headers in AUTO_HEADERS.items():
            with self.subTest(name):
                lead, parent = self._quiet_deal(f"Auto {name}")
                message = self._receive(parent, name, headers)
                self.assertEqual(message.res_id, lead.id)
                self.assertEqual(message.message_type, "email")
                self.assertTrue(message.followup_is_auto_reply)
        # A person's mail, or a server saying outright that it is one.
        for name, headers in (("person", ""), ("not-auto", "Auto-Submitted: no\n")):
            with self.subTest(name):
                _lead, parent = self._quiet_deal(f"Person {name}")
                message = self._receive(parent, name, headers, body="Tuesday, then.")
                self.assertTrue(message)
                self.assertFalse(message.followup_is_auto_reply)

    def test_out_of_office_leaves_the_deal_stale(self):
        lead, parent = self._quiet_deal("Out of Office")
        self._receive(parent, "ooo", AUTO_HEADERS["auto-replied"])
        lead.invalidate_recordset()
        self.assertEqual(lead.followup_days_stale, 20)
        self.assertTrue(lead.followup_is_stale)
        # Its subject is not the customer's words for the deal.
        self.assertEqual(lead.followup_customer_subject, False)
        # The manager's run books it; the brief quotes the last real touch.
        result = self.Runner.with_user(self.manager).run(lead_ids=lead.ids)
        self.assertEqual(result["counts"]["scheduled"], 1)
        note = self._followups(lead).note
        day = (fields.Date.today() - timedelta(days=20)).strftime("%m/%d/%Y")
        self.assertIn(f"Last touch on {day}: a message from Sam Seller.", note)
        self.assertNotIn("Ada Lovelace", note.split("Contact:")[0])

    def test_the_customer_s_answer_is_work(self):
        lead, parent = self._quiet_deal("Answered")
        self._receive(parent, "ooo", AUTO_HEADERS["x-autoreply"])
        self._receive(parent, "answer")
        lead.invalidate_recordset()
        self.assertEqual(lead.followup_days_stale, 0)
        self.assertFalse(lead.followup_is_stale)
        self.assertEqual(lead.followup_customer_subject, "Chairs for the new office")
        result = self.Runner.with_user(self.manager).run(lead_ids=lead.ids)
        self.assertEqual(result["counts"]["scheduled"], 0)
        self.assertFalse(self._followups(lead))


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
