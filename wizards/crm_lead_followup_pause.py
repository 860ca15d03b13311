from datetime import timedelta

from odoo import api, fields, models


class CrmLeadFollowupPause(models.TransientModel):
    """*Pause follow-up* on opportunities: no re-engagement until a date."""

    _name = "crm.lead.followup.pause"
    _description = "Pause the Re-engagement of Opportunities"

    lead_ids = fields.Many2many("crm.lead", string="Opportunities", required=True)
    paused_until = fields.Date(
        string="Until",
        required=True,
        default=lambda self: fields.Date.context_today(self) + timedelta(days=30),
        help="Included: the opportunity wakes up by itself the day after.",
    )
    reason = fields.Char(help="For example: the customer asked to talk again in Q3.")

    @api.constrains("paused_until")
    def _check_paused_until(self):
        # Said as the dialog is confirmed, before anything is written.
        for wizard in self:
            wizard.lead_ids._followup_check_pause_end(
                dict.fromkeys(wizard.lead_ids, wizard.paused_until)
            )

    def action_pause(self):
        """Pause them, with the user's own rights: salespeople pause the
        opportunities they may edit, sales managers any."""
        self.ensure_one()
        self.lead_ids.write(
            {
                "followup_paused_until": self.paused_until,
                "followup_pause_reason": self.reason,
            }
        )
        return {"type": "ir.actions.act_window_close"}
