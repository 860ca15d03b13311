from odoo import api, fields, models


class CrmLead(models.Model):
    """What the re-engagement email to the customer (a ``mail.template``,
    administrators' to change) reads on the deal: whom to greet and whose
    move it is."""

    _inherit = "crm.lead"

    followup_greeting_name = fields.Char(
        string="Greeting Name",
        compute="_compute_followup_greeting_name",
        help="The first name of the opportunity's contact person; empty for a "
        "company without one (the email then greets nobody in particular).",
    )
    followup_awaits_us = fields.Boolean(
        string="Customer Awaits Us",
        compute="_compute_followup_awaits_us",
        help="The last word on this opportunity was the customer's: the "
        "re-engagement email says we are on it, rather than asking for news.",
    )

    @api.depends("contact_name", "partner_id.name", "partner_id.is_company")
    def _compute_followup_greeting_name(self):
        for lead in self:
            partner = lead.partner_id
            person = lead.contact_name or (
                partner.name if partner and not partner.is_company else ""
            )
            words = (person or "").split()
            lead.followup_greeting_name = words[0] if words else False

    def _compute_followup_awaits_us(self):
        # The message the stale clock reads as the last work on each deal;
        # sudo: the customer's and colleagues' messages count, readable or not.
        saved = self.filtered("id")
        last = saved._followup_last_work_messages()
        messages = (
            self.env["mail.message"]
            .sudo()
            .browse([message_id for message_id, _date in last.values()])
        )
        # Written by anybody but the company's own users: the customer.
        awaited = {
            message.res_id
            for message in messages
            if not message.author_id.user_ids.filtered(lambda user: not user.share)
        }
        for lead in self:
            lead.followup_awaits_us = lead.id in awaited

    def mail_allowed_qweb_expressions(self):
        # As the other values the re-engagement email reads (see crm_lead.py).
        return (
            *super().mail_allowed_qweb_expressions(),
            "object.followup_greeting_name",
            "object.followup_awaits_us",
        )
