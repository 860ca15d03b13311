from odoo import api, fields, models

from .opportunity_followup_runner import (
    DEFAULT_DEADLINE_DAYS,
    DEFAULT_OVERDUE_THRESHOLD,
    DEFAULT_STALE_DAYS,
    STALE_DAYS_MAX,
    STALE_DAYS_MIN,
)
from .workflow_log import DEFAULT_RETENTION_DAYS, RETENTION_PARAM


class ResConfigSettings(models.TransientModel):
    _inherit = "res.config.settings"

    followup_stale_days = fields.Integer(
        string="Stale After (Days)",
        default=DEFAULT_STALE_DAYS,
        config_parameter="crm_opportunity_followup.stale_days",
    )
    followup_activity_type_id = fields.Many2one(
        "mail.activity.type",
        string="Follow-up Activity",
        default=lambda self: self.env.ref(
            "mail.mail_activity_data_call", raise_if_not_found=False
        ),
        config_parameter="crm_opportunity_followup.activity_type_id",
        domain="[('res_model', 'in', (False, 'crm.lead'))]",
    )
    followup_deadline_days = fields.Integer(
        string="Due In (Days)",
        default=DEFAULT_DEADLINE_DAYS,
        config_parameter="crm_opportunity_followup.deadline_days",
    )
    followup_overdue_threshold = fields.Integer(
        string="Overdue Warning Above",
        default=DEFAULT_OVERDUE_THRESHOLD,
        config_parameter="crm_opportunity_followup.overdue_threshold",
    )
    followup_log_retention_days = fields.Integer(
        string="Keep Logs (Days)",
        default=DEFAULT_RETENTION_DAYS,
        config_parameter=RETENTION_PARAM,
        help="Follow-up logs older than this are deleted every day; 0 keeps them all.",
    )
    followup_send_digest = fields.Boolean(
        string="Digest E-mail",
        default=True,
        help="After each run, send every salesperson one e-mail listing their new "
        "re-engagement activities (never one e-mail per activity).",
    )
    followup_cron_active = fields.Boolean(
        string="Daily Follow-up",
        compute="_compute_followup_cron_active",
        inverse="_inverse_followup_cron_active",
    )

    _followup_stale_days_range = models.Constraint(
        f"CHECK(followup_stale_days BETWEEN {STALE_DAYS_MIN} AND {STALE_DAYS_MAX})",
        "Stale days must be between 1 and 3650.",
    )
    _followup_deadline_days_positive = models.Constraint(
        "CHECK(followup_deadline_days >= 0)",
        "The follow-up due days cannot be negative.",
    )
    _followup_log_retention_days_positive = models.Constraint(
        "CHECK(followup_log_retention_days >= 0)",
        "The log retention cannot be negative.",
    )
    _followup_overdue_threshold_positive = models.Constraint(
        "CHECK(followup_overdue_threshold >= 0)",
        "The overdue warning threshold cannot be negative.",
    )

    @api.model
    def get_values(self):
        res = super().get_values()
        res["followup_send_digest"] = self.env[
            "opportunity.followup.runner"
        ]._get_settings()["send_digest"]
        return res

    def set_values(self):
        res = super().set_values()
        # Stored inverted: Odoo deletes a system parameter set to False.
        self.env["ir.config_parameter"].sudo().set_param(
            "crm_opportunity_followup.digest_disabled", not self.followup_send_digest
        )
        return res

    def _followup_cron(self):
        # The cron is a technical record; sales managers switch it on and off
        # from here without needing the Settings administrator rights.
        return self.env.ref(
            "crm_opportunity_followup.ir_cron_opportunity_followup",
            raise_if_not_found=False,
        ).sudo()

    @api.depends("company_id")
    def _compute_followup_cron_active(self):
        for settings in self:
            settings.followup_cron_active = bool(self._followup_cron().active)

    def _inverse_followup_cron_active(self):
        cron = self._followup_cron()
        for settings in self:
            if cron and cron.active != settings.followup_cron_active:
                cron.active = settings.followup_cron_active

    def action_run_followup(self):
        """Save the settings, then run the follow-up with them."""
        self.execute()
        return self.env["opportunity.followup.runner"].action_run_from_settings()

    def action_preview_followup(self):
        """Save the settings, then show what a run would schedule."""
        self.execute()
        return self.env["opportunity.followup.runner"].action_preview_from_settings()
