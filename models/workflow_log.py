from datetime import timedelta

from odoo import api, fields, models
from odoo.exceptions import UserError

from .followup_const import TRIGGERS

PURGE_BATCH = 1000


class WorkflowLog(models.Model):
    """One run of a workflow: who started it, with what, and what came out.

    Rows are written by the runner only (through ``sudo``); users read them.
    """

    _name = "workflow.log"
    _table = "workflow_log"
    _description = "Workflow Run Log"
    _order = "date_start desc, id desc"

    # Run identity
    workflow_name = fields.Char(
        required=True, readonly=True, default="opportunity_follow_up", index=True
    )
    trigger = fields.Selection(TRIGGERS, required=True, readonly=True, default="manual")
    user_id = fields.Many2one(
        "res.users", string="Started By", readonly=True, index=True
    )
    company_id = fields.Many2one(
        "res.company",
        readonly=True,
        index=True,
        default=lambda self: self.env.company,
    )

    # Parameters used
    stale_days = fields.Integer(readonly=True)
    dry_run = fields.Boolean(string="Preview", readonly=True)
    confirmed_log_id = fields.Many2one(
        "workflow.log",
        string="Confirmed By Run",
        readonly=True,
        help="The run that scheduled the activities of this preview.",
    )
    filter_user_id = fields.Many2one(
        "res.users", string="Salesperson Filter", readonly=True
    )
    filter_team_id = fields.Many2one(
        "crm.team", string="Sales Team Filter", readonly=True
    )
    parameters = fields.Json(string="Parameters (JSON)", readonly=True)
    parameters_display = fields.Text(
        string="Parameters", compute="_compute_parameters_display"
    )

    # Outcome
    date_start = fields.Datetime(
        string="Started", required=True, readonly=True, default=fields.Datetime.now
    )
    date_end = fields.Datetime(string="Ended", readonly=True)
    duration = fields.Float(
        string="Duration (s)", digits=(16, 1), readonly=True, aggregator="avg"
    )
    state = fields.Selection(
        [
            ("running", "Running"),
            ("done", "Done"),
            ("failed", "Failed"),
            ("interrupted", "Interrupted"),
        ],
        required=True,
        readonly=True,
        default="running",
        index=True,
    )
    steps = fields.Char(string="Steps Executed", readonly=True)
    message = fields.Text(readonly=True)
    error = fields.Text(readonly=True)

    # Counts
    stale_count = fields.Integer(string="Stale", readonly=True)
    eligible_count = fields.Integer(string="Eligible", readonly=True)
    scheduled_count = fields.Integer(string="Scheduled", readonly=True)
    skipped_won_count = fields.Integer(string="Skipped (Won)", readonly=True)
    skipped_pending_count = fields.Integer(
        string="Skipped (Open Activity)", readonly=True
    )
    skipped_unassigned_count = fields.Integer(
        string="Skipped (No Assignee)", readonly=True
    )
    error_count = fields.Integer(string="Errors", readonly=True)
    warning_count = fields.Integer(string="Warnings", readonly=True)

    line_ids = fields.One2many(
        "workflow.log.line", "log_id", string="Lines", readonly=True
    )

    @api.depends("workflow_name", "date_start")
    def _compute_display_name(self):
        for log in self:
            log.display_name = self.env._(
                "%(workflow)s #%(id)s", workflow=log.workflow_name, id=log.id or "-"
            )

    @api.depends("parameters")
    def _compute_parameters_display(self):
        for log in self:
            log.parameters_display = "\n".join(
                f"{key}: {value}"
                for key, value in sorted((log.parameters or {}).items())
            )

    @api.model
    def _cron_purge_old_logs(self):
        """Delete logs older than the retention setting (0 keeps them all),
        a batch per commit so a big backlog never holds one long transaction."""
        days = self.env["opportunity.followup.runner"]._get_settings()[
            "log_retention_days"
        ]
        if days <= 0:
            return
        domain = [("date_start", "<", fields.Datetime.now() - timedelta(days=days))]
        # Until nothing is left: another process may delete logs meanwhile.
        while batch := self.search(domain, limit=PURGE_BATCH):
            batch.unlink()
            if self.env.context.get("cron_id"):
                self.env["ir.cron"]._commit_progress(
                    len(batch), remaining=self.search_count(domain)
                )

    def action_confirm_preview(self):
        """Schedule exactly the opportunities this preview listed."""
        self.ensure_one()
        if not self.dry_run:
            raise UserError(
                self.env._(
                    "This log is a run, not a preview: there is nothing to confirm."
                )
            )
        if self.confirmed_log_id:
            raise UserError(self.env._("This preview has already been confirmed."))
        leads = self.line_ids.filtered(lambda line: line.outcome == "preview").lead_id
        runner = self.env["opportunity.followup.runner"]
        result = runner.run(
            stale_days=self.stale_days, lead_ids=leads.ids, trigger=self.trigger
        )
        # The preview is the runner's record: users never write it themselves.
        self.sudo().confirmed_log_id = result["log_id"]
        return runner._notify_result(result)

    def action_open_lines(self):
        """Open the per-opportunity lines of this run."""
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "name": self.display_name,
            "res_model": "workflow.log.line",
            "view_mode": "list,form",
            "domain": [("log_id", "=", self.id)],
            "context": {"search_default_group_outcome": 1},
        }
