from odoo import api, fields, models


class CrmLeadFollowupDecide(models.TransientModel):
    """*Decide* on a deal re-engaged in vain: one click each to revive it, to
    pause it (the pause dialog) or to mark it lost (Odoo's lost-reason
    dialog); each completes its Decide activity with what was decided."""

    _name = "crm.lead.followup.decide"
    _description = "Decide About an Opportunity Re-engaged in Vain"

    lead_id = fields.Many2one(
        "crm.lead", string="Opportunity", required=True, ondelete="cascade"
    )
    note = fields.Html(string="What Was Tried", compute="_compute_note", sanitize=False)
    user_id = fields.Many2one(
        "res.users",
        string="Revive For",
        compute="_compute_user_id",
        store=True,
        readonly=False,
        domain=[("share", "=", False)],
        help="Who gets the new re-engagement: its salesperson, or whoever you pick.",
    )

    @api.depends("lead_id")
    def _compute_note(self):
        # The Decide activity's own note: the re-engagements tried, by date.
        activities = self.env["mail.activity"].search_fetch(
            [
                ("res_model", "=", "crm.lead"),
                ("res_id", "in", self.lead_id.ids),
                ("is_followup_decision", "=", True),
            ],
            ["res_id", "note"],
        )
        notes = {activity.res_id: activity.note for activity in activities}
        for wizard in self:
            wizard.note = notes.get(wizard.lead_id.id, False)

    @api.depends("lead_id")
    def _compute_user_id(self):
        for wizard in self:
            wizard.user_id = wizard.lead_id.user_id

    def action_revive(self):
        """A new re-engagement now, for the user chosen; the Decide is done."""
        self.ensure_one()
        self.lead_id._followup_revive(self.user_id)
        return {"type": "ir.actions.act_window_close"}

    def action_pause(self):
        """The pause dialog: pausing completes the Decide."""
        self.ensure_one()
        return self.lead_id.action_followup_pause()

    def action_lost(self):
        """Odoo's own lost-reason dialog: marking it lost completes the
        Decide."""
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "crm.crm_lead_lost_action"
        )
        action["context"] = {
            "dialog_size": "medium",
            "default_lead_ids": self.lead_id.ids,
        }
        return action
