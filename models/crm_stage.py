from odoo import fields, models


class CrmStage(models.Model):
    _inherit = "crm.stage"

    followup_template = fields.Text(
        string="Re-engagement Wording",
        translate=True,
        help="Optional wording of the re-engagement message drafted for stale "
        "opportunities in this stage, replacing the default one. Rendered with "
        "Odoo's inline template engine: {{ object.name }} is the opportunity, "
        "{{ days }} the days since its last update, {{ salesperson.name }} "
        "its salesperson.",
    )
