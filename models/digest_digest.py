from odoo import fields, models
from odoo.exceptions import AccessError

from .followup_const import ALL_LEADS_GROUP


class DigestDigest(models.Model):
    """A *Stale Opportunities* KPI in Odoo's own Digest Email, beside crm's."""

    _inherit = "digest.digest"

    kpi_crm_followup_stale = fields.Boolean(string="Stale Opportunities")
    kpi_crm_followup_stale_value = fields.Integer(
        compute="_compute_kpi_crm_followup_stale_value"
    )

    def _compute_kpi_crm_followup_stale_value(self):
        """What the next run would book, now: a state, not a count over the
        digest's period (the previous period shows the same number)."""
        if not self.env.user.has_group(ALL_LEADS_GROUP):
            raise AccessError(
                self.env._("Do not have access, skip this data for user's digest email")
            )
        _start, _end, companies = self._get_kpi_compute_parameters()
        counts = dict(
            self.env["crm.lead"]._read_group(
                [("company_id", "in", companies.ids), ("followup_is_stale", "=", True)],
                ["company_id"],
                ["__count"],
            )
        )
        for digest in self:
            company = digest.company_id or self.env.company
            digest.kpi_crm_followup_stale_value = counts.get(company, 0)

    def _compute_kpis_actions(self, company, user):
        res = super()._compute_kpis_actions(company, user)
        res["kpi_crm_followup_stale"] = (
            "crm_opportunity_followup.crm_lead_action_stale?menu_id=%s"
            % self.env.ref("crm.crm_menu_root").id
        )
        return res
