from odoo import api, fields, models
from odoo.fields import Domain


class CrmLead(models.Model):
    _inherit = "crm.lead"

    followup_is_stale = fields.Boolean(
        string="Stale (Follow-up)",
        compute="_compute_followup_is_stale",
        search="_search_followup_is_stale",
        help="Open opportunity not updated for the follow-up's number of days. "
        "Unlike Odoo's rotting marker (days in the same stage, per stage), this "
        "counts days without any update, with one threshold for the pipeline.",
    )
    followup_count = fields.Integer(
        string="Re-engagements", compute="_compute_followup_count"
    )

    # The follow-up's detect query: without it PostgreSQL scans every lead.
    _followup_stale_index = models.Index(
        "(write_date) WHERE type = 'opportunity' AND active IS TRUE"
    )

    @api.depends_context("uid", "tz")
    @api.depends("write_date", "type", "active", "won_status")
    def _compute_followup_is_stale(self):
        stale = self.filtered_domain(self._followup_stale_domain())
        stale.followup_is_stale = True
        (self - stale).followup_is_stale = False

    def _search_followup_is_stale(self, operator, value):
        if operator != "in":
            return NotImplemented
        domain = self._followup_stale_domain()
        return domain if True in value else ~domain

    def _followup_stale_domain(self):
        runner = self.env["opportunity.followup.runner"]
        params = {"trigger": "manual", **runner._get_settings()}
        return Domain(
            [
                ("type", "=", "opportunity"),
                ("active", "=", True),
                ("won_status", "!=", "won"),
                ("write_date", "<", runner._cutoff(params)),
            ]
        )

    def _compute_followup_count(self):
        # A salesperson may not read every log line; the count is not secret.
        counts = dict(
            self.env["workflow.log.line"]
            .sudo()
            ._read_group(
                [("lead_id", "in", self.ids), ("outcome", "=", "scheduled")],
                ["lead_id"],
                ["__count"],
            )
        )
        for lead in self:
            lead.followup_count = counts.get(lead, 0)

    def action_open_followup_history(self):
        """The smart button: every re-engagement scheduled on this opportunity."""
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Re-engagement History"),
            "res_model": "workflow.log.line",
            "view_mode": "list,form",
            "domain": [("lead_id", "=", self.id)],
        }
