from odoo import models


class CrmLead(models.Model):
    _inherit = "crm.lead"

    # The follow-up's detect query: without it PostgreSQL scans every lead.
    _followup_stale_index = models.Index(
        "(write_date) WHERE type = 'opportunity' AND active IS TRUE"
    )
