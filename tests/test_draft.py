from datetime import date, timedelta

from freezegun import freeze_time

from odoo import Command, fields
from odoo.exceptions import UserError
from odoo.tests import Form, tagged, users

from .common import FollowupCase


class TestDraft(FollowupCase):
    """The note is a brief for the salesperson, in their language."""

    def _note(self, lead):
        self.Runner.run(lead_ids=lead.ids)
        return self._followups(lead).note

    def _complete(self, lead, summary, feedback=False, activity_type=None):
        """An activity of the salesperson's, marked done as they do it."""
        activity = lead.activity_schedule(
            activity_type_id=(activity_type or self.call_type).id,
            summary=summary,
            user_id=self.salesperson.id,
        )
        activity.with_user(self.salesperson).action_feedback(feedback=feedback)

    def test_brief(self):
        customer = self.env["res.partner"].create(
            {"name": "Globex", "is_company": True}
        )
        lead = self._opportunity(
            "Globex: 40 office licences",
            days=0,
            partner_id=customer.id,
            contact_name="Ada Lovelace",
            phone="+1 555 0100",
            email_from="ada@globex.example",
            expected_revenue=40000,
            probability=30,
            date_deadline=date(2027, 1, 29),
            stage_id=self.stage_proposition.id,
        )
        for summary in ("First call", "Sent brochure", "Demo"):
            self._complete(lead, summary)
        self._complete(lead, "Pricing call", feedback="Waiting for the CFO's go")
        self._set_last_work(lead, fields.Datetime.now() - timedelta(days=30))
        note = self._note(lead)
        day = fields.Date.today() - timedelta(days=30)
        when = day.strftime("%m/%d/%Y")
        # When and how: the pricing call, done 30 days ago.
        self.assertIn(
            f"“Globex: 40 office licences”: no work for 30 days. Last touch on "
            f"{when}: Call done by Sam Seller.",
            note,
        )
        # Its stage and what to aim for there (the last open stage).
        self.assertIn(
            "Stage: Proposition. Aim: settle the last points before the decision.",
            note,
        )
        self.assertIn(
            "Expected revenue: $&nbsp;40,000.00 at 30%, closing 01/29/2027.",
            note,
        )
        # The last completed activity with its feedback, then two before it.
        self.assertIn(
            f"Last completed: Call on {when} (Pricing call). Feedback: “Waiting for "
            "the CFO's go”",
            note,
        )
        self.assertIn(
            f"Before that: Call on {when} (Demo); Call on {when} (Sent brochure).",
            note,
        )
        self.assertNotIn("First call", note)
        self.assertIn("Contact: Ada Lovelace, +1 555 0100, ada@globex.example.", note)
        # The customer's text is no longer in the note: it is an email to send.
        self.assertNotIn("Hello", note)

    def test_done_reengagement_is_not_quoted(self):
        """The last completed activity is the previous re-engagement: its
        summary would repeat this brief's own first line."""
        lead = self._opportunity("Twice Quiet", days=20)
        self.Runner.run(lead_ids=lead.ids)
        self._followups(lead).with_user(self.salesperson).action_feedback(
            feedback="Left a voicemail"
        )
        self._set_last_work(lead, fields.Datetime.now() - timedelta(days=20))
        note = self._note(lead)
        self.assertIn("Last completed: Call on", note)
        self.assertIn("Feedback: “Left a voicemail”", note)
        self.assertNotIn("Re-engage:", note)

    def test_no_filler(self):
        """An opportunity with nothing but a name: no empty lines."""
        lead = self._opportunity("Bare Deal", days=20)
        note = self._note(lead)
        self.assertIn("Last update on", note)
        self.assertIn("Nothing completed on it yet.", note)
        self.assertNotIn("Expected", note)
        self.assertNotIn("Contact:", note)
        self.assertNotIn("Before that", note)
        # The company alone is nobody to greet or call.
        lead.partner_id = self.env["res.partner"].create(
            {"name": "Initech", "is_company": True}
        )
        self._followups(lead).unlink()
        self._set_write_date(lead, fields.Datetime.now() - timedelta(days=20))
        self.assertNotIn("Contact:", self._note(lead))

    def test_last_touch_is_the_customer_s_email(self):
        lead = self._opportunity("Mailed Deal", days=0, email_from="bo@x.example")
        lead.message_post(
            body="Any news?",
            message_type="email",
            author_id=self.env["res.partner"].create({"name": "Bo Customer"}).id,
            subtype_xmlid="mail.mt_comment",
        )
        self._set_last_work(lead, fields.Datetime.now() - timedelta(days=20))
        self.assertIn("an email from Bo Customer.", self._note(lead))

    def test_last_touch_is_a_note(self):
        lead = self._opportunity("Noted Deal", days=0)
        lead.with_user(self.salesperson).message_post(
            body="Budget frozen until Q2",
            message_type="comment",
            subtype_xmlid="mail.mt_note",
        )
        self._set_last_work(lead, fields.Datetime.now() - timedelta(days=20))
        self.assertIn("a note by Sam Seller.", self._note(lead))

    def test_aim_follows_the_stage(self):
        early = self._note(
            self._opportunity("Early", days=20, stage_id=self.stage_new.id)
        )
        middle = self._note(
            self._opportunity("Middle", days=20, stage_id=self.stage_qualified.id)
        )
        self.assertIn("Aim: find out whether it is still a priority.", early)
        self.assertIn("Aim: find what holds it up and agree on the next step.", middle)

    def test_aim_among_the_team_s_own_stages(self):
        """Another team's own stages leave this team's pipeline as it is: its
        first stage is still early, its last open one still late."""
        other_team = self.env["crm.team"].create({"name": "Other Team"})
        discovery, negotiation = self.env["crm.stage"].create(
            [
                {
                    "name": "Discovery",
                    "sequence": 0,
                    "team_ids": [Command.set(other_team.ids)],
                },
                {
                    "name": "Negotiation",
                    "sequence": 60,
                    "team_ids": [Command.set(other_team.ids)],
                },
            ]
        )
        new = self._note(self._opportunity("Ours, new", stage_id=self.stage_new.id))
        proposition = self._note(
            self._opportunity("Ours, proposed", stage_id=self.stage_proposition.id)
        )
        self.assertIn("Aim: find out whether it is still a priority.", new)
        self.assertIn("Aim: settle the last points before the decision.", proposition)
        # In the other team's pipeline, its own stages come first and last.
        theirs = {
            stage: self._note(
                self._opportunity(
                    f"Theirs, {stage.name}",
                    team_id=other_team.id,
                    stage_id=stage.id,
                    user_id=self.salesperson_2.id,
                )
            )
            for stage in (discovery, self.stage_new, negotiation)
        }
        self.assertIn(
            "Aim: find out whether it is still a priority.", theirs[discovery]
        )
        self.assertIn(
            "Aim: find what holds it up and agree on the next step.",
            theirs[self.stage_new],
        )
        self.assertIn(
            "Aim: settle the last points before the decision.", theirs[negotiation]
        )

    def test_brief_in_the_salesperson_s_language(self):
        self.env["res.lang"]._activate_lang("fr_FR")
        self.salesperson.lang = "fr_FR"
        note = self._note(self._opportunity("Affaire", days=20))
        # Dates in the French manner, whatever the translations loaded.
        day = fields.Date.today() - timedelta(days=20)
        self.assertIn(day.strftime("%d/%m/%Y"), note)

    def test_name_is_escaped(self):
        lead = self._opportunity("<script>alert(1)</script> Deal", days=20)
        activity_note = self._note(lead)
        self.assertNotIn("<script>", activity_note)
        self.assertIn("&lt;script&gt;alert(1)&lt;/script&gt; Deal", activity_note)
        self.assertEqual(
            self._followups(lead).summary,
            "Re-engage: <script>alert(1)</script> Deal (stale 20 days)",
        )


@tagged("post_install", "-at_install")
class TestBriefTemplate(FollowupCase):
    """The brief is a QWeb template: a view that inherits it changes a line,
    no Python. (After install, as an integrator's module's views are: Odoo
    leaves views made in the database out while it installs modules.)"""

    def test_brief(self):
        """An integrator words a line of the brief their way."""
        self._inherit_view(
            "crm_opportunity_followup.followup_brief",
            "Brief: call the contact",
            """
                <xpath expr="//li[@name='contact']" position="replace">
                    <li name="contact">Call <t t-out="contact"/> today.</li>
                </xpath>
            """,
        )
        lead = self._opportunity(
            "Inherited Deal", days=20, contact_name="Ada Lovelace", phone="+1 555"
        )
        self._run_cron()
        note = self._followups(lead).note
        self.assertIn("Call Ada Lovelace, +1 555 today.", note)
        self.assertNotIn("Contact:", note)
        # The other lines stay as they were.
        self.assertIn("Aim: find out whether it is still a priority.", note)
        self.assertIn("Nothing completed on it yet.", note)


class TestCustomerEmail(FollowupCase):
    """The message to the customer: an email template on opportunities,
    offered on the re-engagement, sent by the salesperson."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env["res.lang"]._activate_lang("fr_FR")
        cls.salesperson.signature = "<p>Sam Seller, Account Executive</p>"
        cls.salesperson.email = "sam@company.example"
        cls.customer = cls.env["res.partner"].create(
            {"name": "Ada Lovelace", "email": "ada@globex.example", "lang": "fr_FR"}
        )
        cls.lead = cls._opportunity(
            "Globex: 40 office licences (internal)",
            partner_id=cls.customer.id,
            stage_id=cls.stage_qualified.id,
        )
        cls.template = cls.env.ref(
            "crm_opportunity_followup.mail_template_reengagement"
        )

    def _reengagement(self):
        self._run_cron()
        return self._followups(self.lead)

    @users("fu_sales")
    def test_offered_on_the_reengagement(self):
        activity = self._reengagement().with_user(self.env.user)
        self.assertEqual(activity.mail_template_ids, self.template)
        # Other activities keep their type's templates only.
        other = self.lead.activity_schedule(
            "mail.mail_activity_data_todo", user_id=self.env.uid
        )
        self.assertFalse(other.mail_template_ids)

    def test_stage_s_own_email(self):
        own = self.env["mail.template"].create(
            {
                "name": "Qualified: check in",
                "model_id": self.env["ir.model"]._get_id("crm.lead"),
                "subject": "Your evaluation",
                "body_html": "<p>How is the evaluation going?</p>",
            }
        )
        self.stage_qualified.with_user(self.manager).followup_template_id = own
        activity = self._reengagement()
        self.assertEqual(activity.mail_template_ids, own)
        line = self.env["workflow.log.line"].search([("lead_id", "=", self.lead.id)])
        self.assertEqual(line.wording_template_id, own)
        # The default email is no stage's own: the report groups it as none.
        other = self._opportunity(
            "Other stage", stage_id=self.stage_new.id, partner_id=self.customer.id
        )
        # The next day's daily run (today's has run).
        with freeze_time(fields.Datetime.now() + timedelta(days=1)):
            self._run_cron()
        line = self.env["workflow.log.line"].search([("lead_id", "=", other.id)])
        self.assertFalse(line.wording_template_id)
        self.assertEqual(self._followups(other).mail_template_ids, self.template)

    def test_salesperson_sends_it(self):
        """Send Now, as the salesperson: to the contact, in the customer's
        language, in the customer's words, signed; the stale clock restarts."""
        self.lead.message_post(
            body="<p>Which plan fits 40 seats?</p>",
            subject="RE: Licences for the Paris office",
            message_type="email",
            author_id=self.customer.id,
            subtype_xmlid="mail.mt_comment",
        )
        self.template.with_context(
            lang="fr_FR"
        ).body_html = self.template.body_html.replace("Hello", "Bonjour")
        self._set_last_work(self.lead, fields.Datetime.now() - timedelta(days=20))
        activity = self._reengagement()
        lead = self.lead.with_user(self.salesperson)
        template = activity.with_user(self.salesperson).mail_template_ids
        self.assertTrue(lead.activity_send_mail(template.id))
        message = lead.message_ids.filtered(lambda m: m.message_type == "comment")[0]
        self.assertEqual(message.author_id, self.salesperson.partner_id)
        self.assertEqual(message.partner_ids, self.customer)
        self.assertEqual(message.subject, "Re: Licences for the Paris office")
        self.assertIn("Bonjour Ada,", message.body)
        self.assertIn("about “Licences for the Paris office”", message.body)
        self.assertNotIn("internal", message.body)
        self.assertIn("Sam Seller, Account Executive", message.body)
        lead.invalidate_recordset()
        self.assertEqual(lead.followup_days_stale, 0)

    def test_not_offered_without_an_email_address(self):
        """Send Now to nobody would look sent and restart the stale clock."""
        company = self.env["res.partner"].create(
            {"name": "Initech", "is_company": True}
        )
        lead = self._opportunity("No address", partner_id=company.id)
        self._run_cron()
        activity = self._followups(lead).with_user(self.salesperson)
        self.assertTrue(activity)
        self.assertFalse(activity.mail_template_ids)
        # Sent anyway (another button, an old page): refused, nothing posted.
        before = lead.message_ids
        with self.assertRaisesRegex(UserError, "No address has no email address"):
            lead.with_user(self.salesperson).activity_send_mail(self.template.id)
        self.assertEqual(lead.message_ids, before)
        # With the customer's address, it is offered.
        lead.email_from = "info@initech.example"
        activity.invalidate_recordset(["mail_template_ids"])
        self.assertEqual(activity.mail_template_ids, self.template)

    def test_customer_s_words_from_an_unknown_sender(self):
        """A lead the mail gateway made, its sender not yet a contact."""
        lead = self._opportunity("Gateway lead", email_from="jo@new.example")
        lead.message_post(
            body="<p>Do you ship to Lyon?</p>",
            subject="Fwd: RE: Delivery to Lyon",
            message_type="email",
            author_id=False,
            email_from="jo@new.example",
            subtype_xmlid="mail.mt_comment",
        )
        self.assertEqual(lead.followup_customer_subject, "Delivery to Lyon")
        # A colleague's email is not the customer's words.
        lead.with_user(self.salesperson).message_post(
            body="<p>Yes.</p>",
            subject="Our delivery terms",
            message_type="email",
            subtype_xmlid="mail.mt_comment",
        )
        lead.invalidate_recordset(["followup_customer_subject"])
        self.assertEqual(lead.followup_customer_subject, "Delivery to Lyon")

    def test_signed_by_who_sends_it(self):
        """The team leader sends a colleague's re-engagement email: from and
        signed by the leader, who writes it."""
        self.manager.signature = "<p>Mia Manager, Head of Sales</p>"
        self._run_cron()
        lead = self.lead.with_user(self.manager)
        lead.activity_send_mail(self.template.id)
        message = lead.message_ids.filtered(lambda m: m.message_type == "comment")[0]
        self.assertEqual(message.author_id, self.manager.partner_id)
        self.assertIn("Mia Manager, Head of Sales", message.body)
        self.assertNotIn("Account Executive", message.body)

    def test_greets_nobody_in_particular_without_a_person(self):
        company = self.env["res.partner"].create(
            {"name": "Initech", "is_company": True, "email": "info@initech.example"}
        )
        lead = self._opportunity("Initech", partner_id=company.id)
        body = self.template._render_field("body_html", lead.ids)[lead.id]
        self.assertIn("Hello,", body)
        self.assertNotIn("Initech", body)
        subject = self.template._render_field("subject", lead.ids)[lead.id]
        self.assertEqual(subject, "Initech")

    def test_composer_preview(self):
        """Preview: Odoo's composer, filled from the template."""
        activity = self._reengagement()
        form = Form(
            self.env["mail.compose.message"]
            .with_user(self.salesperson)
            .with_context(
                default_res_ids=self.lead.ids,
                default_model="crm.lead",
                default_template_id=activity.mail_template_ids.id,
                default_subtype_xmlid="mail.mt_comment",
            )
        )
        self.assertIn("Hello Ada,", str(form.body))
        form.save().action_send_mail()
        message = self.lead.message_ids[0]
        self.assertEqual(message.author_id, self.salesperson.partner_id)
        self.assertEqual(message.partner_ids, self.customer)
