"""The salesperson's day: Send Now finishes the re-engagement, and My
Re-engagements lists what is left."""

from odoo.tests import Form, users
from odoo.tools.safe_eval import safe_eval

from .common import FollowupCase


class SalespersonCase(FollowupCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.customer = cls.env["res.partner"].create(
            {"name": "Ada Lovelace", "email": "ada@globex.example"}
        )
        cls.lead = cls._opportunity("Globex Chairs", partner_id=cls.customer.id)
        cls.template = cls.env.ref(
            "crm_opportunity_followup.mail_template_reengagement"
        )


class TestSendNow(SalespersonCase):
    @users("fu_sales")
    def test_send_now_completes_the_reengagement(self):
        self._run_cron()
        activity = self._followups(self.lead).with_user(self.env.user)
        self.assertEqual(activity.mail_template_ids, self.template)
        lead = self.lead.with_user(self.env.user)
        # Another template's email is not the re-engagement's: still open.
        # Made by an administrator (salespeople may not edit templates).
        other = (
            self.env["mail.template"]
            .sudo()
            .create(
                {
                    "name": "Price list",
                    "model_id": self.env["ir.model"]._get_id("crm.lead"),
                    "subject": "Our prices",
                    "body_html": "<p>Attached.</p>",
                    "use_default_to": True,
                }
            )
        )
        lead.activity_send_mail(other.id)
        self.assertTrue(activity.active)
        before = lead.message_ids
        self.assertTrue(lead.activity_send_mail(self.template.id))
        sent = (lead.message_ids - before).filtered(
            lambda m: m.message_type == "comment"
        )
        self.assertEqual(sent.partner_ids, self.customer)
        # Done, by the salesperson, saying why; nothing left to send it again.
        self.assertFalse(activity.active)
        self.assertEqual(activity.feedback, "Email sent")
        self.assertFalse(self._followups(self.lead))
        done = lead.message_ids.filtered(
            lambda m: m.subtype_id == self.env.ref("mail.mt_activities")
        )
        self.assertEqual(done.author_id, self.env.user.partner_id)
        self.assertIn("Email sent", done.body)
        # Its client data says it is a re-engagement: Send Now asks first.
        store = activity.activity_format()
        self.assertTrue(store["mail.activity"][0]["is_followup"])

    @users("fu_sales")
    def test_an_email_sent_from_preview_is_not_offered_again(self):
        self._run_cron()
        activity = self._followups(self.lead).with_user(self.env.user)
        Form(
            self.env["mail.compose.message"].with_context(
                default_res_ids=self.lead.ids,
                default_model="crm.lead",
                default_template_id=self.template.id,
                default_subtype_xmlid="mail.mt_comment",
                force_email=True,
            )
        ).save().action_send_mail()
        activity.invalidate_recordset(["mail_template_ids"])
        self.assertTrue(activity.active)
        self.assertNotIn(self.template, activity.mail_template_ids)


class TestMyReengagements(SalespersonCase):
    @users("fu_sales")
    def test_lists_exactly_my_open_ones(self):
        mine_done = self._opportunity("Mine, done", partner_id=self.customer.id)
        colleague = self._opportunity("Sue's", user_id=self.salesperson_2.id)
        self._opportunity("Not stale", days=0)
        self._run_cron()
        self.assertTrue(self._followups(colleague))
        self._followups(mine_done).with_user(self.env.user).action_feedback(
            feedback="Called."
        )
        menu = self.env.ref("crm_opportunity_followup.crm_lead_menu_my_reengagements")
        self.assertIn(menu.id, self.env["ir.ui.menu"]._visible_menu_ids())
        action = menu.action.sudo()
        self.assertEqual(
            action,
            self.env.ref("crm_opportunity_followup.crm_lead_action_my_reengagements"),
        )
        domain = safe_eval(action.domain, {"uid": self.env.uid})
        listed = self.env["crm.lead"].search(domain)
        self.assertEqual(listed, self.lead)
        # The summary email's button opens it.
        self.assertIn(
            f"/odoo/{action.path}",
            self.env.ref("crm_opportunity_followup.mail_template_followup_digest")
            .sudo()
            .body_html,
        )


class TestCustomerEmailFits(SalespersonCase):
    """The re-engagement email reads like a person wrote it to this
    customer about this deal."""

    def _render(self, lead):
        template = self.template.with_user(self.salesperson)
        return (
            template._render_field("subject", lead.ids)[lead.id],
            template._render_field("body_html", lead.ids)[lead.id],
        )

    def test_first_name_and_the_deal_s_name(self):
        jane = self.env["res.partner"].create(
            {"name": "Jane Smith", "email": "jane@initech.example"}
        )
        lead = self._opportunity("Initech Chairs", partner_id=jane.id)
        subject, body = self._render(lead)
        self.assertIn("Hello Jane,", body)
        self.assertNotIn("Smith", body)
        # The customer never wrote about it: the deal's own name.
        self.assertEqual(subject, "Initech Chairs")
        self.assertIn("Where do things stand on your side?", body)
        company = self.env["res.partner"].create(
            {"name": "Initech", "is_company": True, "email": "info@initech.example"}
        )
        lead = self._opportunity("Initech Desks", partner_id=company.id)
        subject, body = self._render(lead)
        self.assertIn("Hello,", body)
        self.assertNotIn("Initech,", body)
        self.assertEqual(subject, "Initech Desks")

    def test_we_are_on_it_when_the_customer_wrote_last(self):
        self.lead.message_post(
            body="<p>Could you send two brands to compare?</p>",
            subject="RE: Chairs for the new office",
            message_type="email",
            author_id=self.customer.id,
            subtype_xmlid="mail.mt_comment",
        )
        subject, body = self._render(self.lead)
        self.assertEqual(subject, "Re: Chairs for the new office")
        self.assertIn("Hello Ada,", body)
        self.assertIn("I am on it", body)
        self.assertIn("about “Chairs for the new office”", body)
        self.assertNotIn("Where do things stand", body)
        # Our answer is the last word: the ball is in their court again.
        self.lead.with_user(self.salesperson).message_post(
            body="<p>Here are both brands.</p>",
            message_type="comment",
            subtype_xmlid="mail.mt_comment",
        )
        self.lead.invalidate_recordset()
        subject, body = self._render(self.lead)
        self.assertEqual(subject, "Re: Chairs for the new office")
        self.assertIn("Where do things stand on your side?", body)
        self.assertNotIn("I am on it", body)
