from odoo import fields, models


class MailComposeMessage(models.TransientModel):
    _inherit = "mail.compose.message"

    def _action_send_mail(self, auto_commit=False):
        result = super()._action_send_mail(auto_commit=auto_commit)
        self._followup_record_sent_email()
        return result

    def _followup_record_sent_email(self):
        """The email a person sends the customer of an opportunity while its
        re-engagement is open (the activity's *Send Now* and *Preview* both
        come here) is the re-engagement's: its template is recorded on the
        run's line, for the Re-engagement Effectiveness report. The first one
        only: later emails follow the conversation it started."""
        for composer in self:
            if (
                composer.model != "crm.lead"
                or composer.composition_mode != "comment"
                or composer.message_type != "comment"
                # A note reaches no customer.
                or composer.subtype_is_log
            ):
                continue
            lead_ids = composer._evaluate_res_ids()
            # The re-engagement may be a colleague's, which the sender may
            # not read; its line is the runner's record, which nobody
            # writes but the addon.
            activities = (
                self.env["mail.activity"]
                .sudo()
                .search(
                    [
                        ("res_model", "=", "crm.lead"),
                        ("res_id", "in", lead_ids),
                        ("is_followup", "=", True),
                    ]
                )
            )
            if not activities:
                continue
            self.env["workflow.log.line"].sudo().search(
                [
                    # lead_id first: activity_ref has no index.
                    ("lead_id", "in", lead_ids),
                    ("activity_ref", "in", activities.ids),
                    ("outcome", "=", "scheduled"),
                    ("email_date", "=", False),
                ]
            ).write(
                {
                    "email_template_id": composer.template_id.id,
                    "email_date": fields.Datetime.now(),
                }
            )
