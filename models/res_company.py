import pytz

from odoo import api, fields, models


class ResCompany(models.Model):
    _inherit = "res.company"

    # Off at install, as Odoo ships its own Lead Assignment job: on a database
    # with history, nobody should wake up to a pile of calls that no one
    # previewed. The daily job runs the companies switched on; run() called
    # directly (buttons, list, API, chat) works whatever this says.
    followup_active = fields.Boolean(
        string="Daily Re-engagement",
        default=False,
        help="Every day, find this company's stale opportunities and schedule a "
        "re-engagement activity for their salesperson.",
    )

    def _followup_tz(self):
        """The timezone the company's days are counted in."""
        self.ensure_one()
        return pytz.timezone(
            self.resource_calendar_id.tz or self.partner_id.tz or "UTC"
        )

    def _followup_today(self, now):
        """The day it is at ``now`` (naive UTC) where the company is."""
        return pytz.utc.localize(now).astimezone(self._followup_tz()).date()

    @api.model
    def _followup_migrate_switch(self):
        """Upgrading from 19.0.1.1.0, where the daily job ran for every company
        once installed: a job that was running stays on, for every company."""
        cron = self.env.ref(
            "crm_opportunity_followup.ir_cron_opportunity_followup",
            raise_if_not_found=False,
        )
        if cron and cron.active:
            self.with_context(active_test=False).search(
                [("followup_active", "=", False)]
            ).followup_active = True
