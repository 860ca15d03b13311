"""A stage's email to the customer: a mail.template on opportunities, written
by a sales manager or an administrator, offered on the re-engagement and
rendered by Odoo when the salesperson sends it, in the customer's language."""

from datetime import timedelta

from lxml import etree

from odoo import fields
from odoo.exceptions import AccessError, ValidationError
from odoo.tests import Form
from odoo.tools import SQL
from odoo.tools.safe_eval import safe_eval

from .common import TemplatedCase


class TestStageWording(TemplatedCase):
    """A stage's wording is its email to the customer, a mail.template:
    Odoo's template rules apply, and Odoo renders it when the salesperson
    sends it, with the salesperson's rights."""

    def _send_as_salesperson(self):
        """The re-engagement's email, sent with Send Now by the salesperson."""
        activity = self._followups(self.lead).with_user(self.salesperson)
        lead = self.lead.with_user(self.salesperson)
        lead.activity_send_mail(activity.mail_template_ids[:1].id)
        return lead.message_ids.filtered(lambda m: m.message_type == "comment")[0]

    def test_only_a_template_on_opportunities(self):
        """A template of another model would be rendered on an opportunity's
        id: a password reset of the user with that id, say."""
        users_template = self.env["mail.template"].create(
            {
                "name": "Another model's template",
                "model_id": self.env["ir.model"]._get_id("res.users"),
                "body_html": "<p>Secret of <t t-out='object.login'/></p>",
            }
        )
        with self.assertRaisesRegex(ValidationError, "templates? on opportunities"):
            self.stage_qualified.with_user(
                self.manager
            ).followup_template_id = users_template
        # Set before the check existed (or its model changed since): never
        # offered, the addon's email instead.
        self.env.cr.execute(
            SQL(
                "UPDATE crm_stage SET followup_template_id = %s WHERE id = %s",
                users_template.id,
                self.stage_qualified.id,
            )
        )
        self.stage_qualified.invalidate_recordset()
        self._run_cron()
        message = self._send_as_salesperson()
        self.assertNotIn("Secret of", message.body)
        self.assertIn("and I wanted to check in", message.body)

    def test_manager_cannot_write_code(self):
        with self.assertRaises(AccessError):
            self._template(
                self.manager,
                "<p t-out=\"object.env['res.users'].sudo().search([])\"/>",
            )

    def test_documented_placeholders_render_for_the_salesperson(self):
        """Written by a sales manager, booked by OdooBot (the daily job), sent
        by the salesperson."""
        template = self._template(
            self.manager,
            '<p>Dear <t t-out="object.contact_name"/>, '
            '<t t-out="object.followup_days_stale"/> days already on '
            '<t t-out="object.name"/> (<t t-out="object.stage_id.name"/>). '
            '<t t-out="object.user_id.name"/></p>',
        )
        self.stage_qualified.with_user(self.manager).followup_template_id = template
        self._run_cron()
        self.assertEqual(self._followups(self.lead).mail_template_ids, template)
        message = self._send_as_salesperson()
        self.assertIn(
            "Dear Bo, 20 days already on Templated (Qualified). Sam Seller",
            message.body,
        )
        self.assertEqual(message.author_id, self.salesperson.partner_id)

    def test_administrator_template_sent_by_a_salesperson(self):
        """Any expression an administrator wrote renders, whoever sends it."""
        template = self._template(
            self._admin(), "<p>Call <t t-out=\"object.email_from or 'them'\"/></p>"
        )
        self.stage_qualified.followup_template_id = template
        result = self.lead.with_user(self.salesperson).action_followup_run()
        self.assertEqual(result["params"]["type"], "success")
        self.assertIn("Call bo@example.com", self._send_as_salesperson().body)

    def test_broken_template_never_stops_a_run(self):
        """Odoo checks a template on one opportunity when it is saved; it may
        still fail on another one, when the salesperson sends it. The run
        does not render it."""
        self.stage_qualified.followup_template_id = self._template(
            self._admin(), "<p t-out=\"{'Templated': 'ok'}[object.name]\"/>"
        )
        other = self._opportunity("Other", days=20, stage_id=self.stage_qualified.id)
        result = self.Runner.run(lead_ids=other.ids)
        line = self.env["workflow.log"].browse(result["log_id"]).line_ids
        self.assertEqual(line.outcome, "scheduled")
        self.assertFalse(line.warning)

    def test_in_the_customer_s_language(self):
        """Created from the stage form: to the customer, in their language."""
        self.env["res.lang"]._activate_lang("fr_FR")
        self.lead.partner_id = self.env["res.partner"].create(
            {"name": "Bo", "email": "bo@example.com", "lang": "fr_FR"}
        )
        # The stage form's Create and Edit, with the field's context.
        arch = self.env["crm.stage"].get_view(view_type="form")["arch"]
        field = etree.fromstring(arch).xpath("//field[@name='followup_template_id']")
        context = safe_eval(field[0].get("context"), {"name": "Qualified"})
        admin = self._admin()
        with Form(
            self.env["mail.template"].with_user(admin).with_context(**context)
        ) as template_form:
            template_form.subject = "Checking in"
        self.stage_qualified.with_user(
            admin
        ).followup_template_id = template_form.record
        template = self.stage_qualified.followup_template_id
        self.assertEqual(template.lang, "{{ object.lang_id.code }}")
        template.body_html = "<p>Hello</p>"
        template.with_context(lang="fr_FR").body_html = "<p>Bonjour</p>"
        self.salesperson.lang = "en_US"
        self._set_write_date(self.lead, fields.Datetime.now() - timedelta(days=20))
        self._run_cron()
        self.assertIn("Bonjour", self._send_as_salesperson().body)

    def test_sales_manager_creates_and_edits_the_stage_s_email(self):
        """*Create and Edit* on the stage form as a sales manager, neither an
        administrator nor a template editor: the form's language is a plain
        field read, as safe as the placeholders they may write."""
        self.assertFalse(self.manager.has_group("base.group_system"))
        self.assertFalse(self.manager.has_group("mail.group_mail_template_editor"))
        self.env["res.lang"]._activate_lang("fr_FR")
        self.lead.partner_id = self.env["res.partner"].create(
            {"name": "Bo", "email": "bo@example.com", "lang": "fr_FR"}
        )
        Stage = self.env["crm.stage"].with_user(self.manager)
        arch = Stage.get_view(view_type="form")["arch"]
        field = etree.fromstring(arch).xpath("//field[@name='followup_template_id']")
        context = safe_eval(field[0].get("context"), {"name": "Qualified"})
        with Form(
            self.env["mail.template"].with_user(self.manager).with_context(**context)
        ) as template_form:
            template_form.subject = "Checking in"
            template_form.body_html = '<p>Hello <t t-out="object.contact_name"/></p>'
        template = template_form.record
        with Form(self.stage_qualified.with_user(self.manager)) as stage_form:
            stage_form.followup_template_id = template
        self.assertEqual(self.stage_qualified.followup_template_id, template)
        self.assertEqual(template.lang, "{{ object.lang_id.code }}")
        # Edited again, in developer mode where the language shows: the
        # partner's language is as plain a read.
        with (
            self.debug_mode(),
            Form(template.with_user(self.manager)) as template_form,
        ):
            template_form.lang = "{{ object.partner_id.lang }}"
        template.with_user(self.manager).with_context(
            lang="fr_FR"
        ).body_html = '<p>Bonjour <t t-out="object.contact_name"/></p>'
        self.salesperson.lang = "en_US"
        self._set_write_date(self.lead, fields.Datetime.now() - timedelta(days=20))
        self._run_cron()
        self.assertIn("Bonjour Bo", self._send_as_salesperson().body)
