from odoo import fields, models

OUTCOMES = [
    ("scheduled", "Scheduled"),
    ("preview", "Would Be Scheduled"),
    ("skipped_won", "Skipped: Won"),
    ("skipped_pending", "Skipped: Open Activity"),
    ("skipped_unassigned", "Skipped: No Assignee"),
    ("skipped_paused", "Skipped: Paused"),
    ("deferred", "Deferred: Daily Cap"),
    ("error", "Error"),
]


class WorkflowLogLine(models.Model):
    """What one run did with one opportunity."""

    _name = "workflow.log.line"
    _description = "Workflow Run Log Line"
    _order = "log_id desc, id"

    log_id = fields.Many2one(
        "workflow.log", required=True, readonly=True, index=True, ondelete="cascade"
    )
    # The opportunity's company, copied at creation (not a stored related
    # field, which would cost an UPDATE per batch of lines): the multi-company
    # rule filters on it, so a line never shows outside its company.
    company_id = fields.Many2one("res.company", readonly=True)
    lead_id = fields.Many2one(
        "crm.lead", string="Opportunity", readonly=True, index=True, ondelete="set null"
    )
    # Not indexed, like company_id: every query on lines filters on a log, an
    # opportunity or an assignee first, and each index on this big table is
    # one more entry to write whenever an activity's deletion updates a line.
    outcome = fields.Selection(OUTCOMES, required=True, readonly=True)
    # Indexed: every activity deleted anywhere in the database (cancelled, on a
    # deleted record, Odoo's cleanup of old overdue ones) sets its lines' link
    # to null, which without an index scans the whole line table.
    activity_id = fields.Many2one(
        "mail.activity", readonly=True, ondelete="set null", index="btree_not_null"
    )
    # Indexed: the salespeople's record rule filters on it.
    assignee_id = fields.Many2one(
        "res.users", string="Assigned To", readonly=True, index="btree_not_null"
    )
    days_stale = fields.Integer(readonly=True)
    # Expected revenue x probability when it was considered: the priority.
    prorated_revenue = fields.Float(readonly=True)
    # Written by the runner only (users never write lines), from escaped values
    # and the sanitized wording of a stage's template: not sanitized again.
    note = fields.Html(string="Drafted Message", readonly=True, sanitize=False)
    warning = fields.Char(readonly=True)
    reason = fields.Text(readonly=True)
    date = fields.Datetime(related="log_id.date_start")
    state = fields.Selection(related="log_id.state")
