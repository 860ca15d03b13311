from odoo import fields, models


class MailMessage(models.Model):
    _inherit = "mail.message"

    # Set by the mail gateway (see mail.thread.message_parse), True or empty:
    # the partial index holds the auto-replies alone, so it costs the other
    # messages nothing and finds the auto-replies without reading the table.
    followup_is_auto_reply = fields.Boolean(
        string="Automatic Reply",
        readonly=True,
        copy=False,
        index="btree_not_null",
        help="An incoming email that an auto-responder sent (out of office, "
        "vacation, ticket acknowledgement; RFC 3834): not work on its "
        "opportunity, not a revival, not the customer's words.",
    )
