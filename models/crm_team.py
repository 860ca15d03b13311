from odoo import fields, models

from .followup_const import STALE_DAYS_MAX


class CrmTeam(models.Model):
    """A team's own re-engagement settings, over its company's: sales
    managers tune them for their team without the Settings rights."""

    _inherit = "crm.team"

    followup_active = fields.Boolean(
        string="Daily Re-engagement",
        default=True,
        help="Off: the daily job leaves this team's opportunities alone (a run "
        "started by hand still considers them).",
    )
    followup_stale_days = fields.Integer(
        string="Stale After (Days)",
        help="Days without work before this team's opportunities get a "
        "re-engagement. Empty: the company's setting. A stage's own number of days "
        "comes first; a run given its own number uses that.",
    )
    followup_activity_type_id = fields.Many2one(
        "mail.activity.type",
        string="Re-engagement Activity",
        domain="[('res_model', 'in', (False, 'crm.lead'))]",
        help="The activity booked for this team's opportunities. Empty: the "
        "company's setting.",
    )

    _followup_stale_days_range = models.Constraint(
        f"CHECK(followup_stale_days IS NULL OR "
        f"followup_stale_days BETWEEN 0 AND {STALE_DAYS_MAX})",
        "A team's stale days must be between 1 and 3650 (empty: the company's).",
    )
