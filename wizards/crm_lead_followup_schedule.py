from collections import Counter

from odoo import api, fields, models
from odoo.exceptions import UserError


class CrmLeadFollowupSchedule(models.TransientModel):
    """*Schedule Re-engagement* on the opportunities a manager ticked: what
    the run would book, each line to untick or reassign, then booked as
    shown. Nothing is stored before the confirmation."""

    _name = "crm.lead.followup.schedule"
    _description = "Schedule Re-engagement"

    line_ids = fields.One2many(
        "crm.lead.followup.schedule.line", "wizard_id", string="Re-engagements"
    )
    left_out = fields.Text(readonly=True)

    @api.model
    def _open_for(self, leads):
        """The wizard for ``leads``: the ones the run would book, drafted as
        the run drafts them (``opportunity.followup.runner.plan``); the
        others are said in one line."""
        plan = self.env["opportunity.followup.runner"].plan(leads.ids)
        decisions, drafts = plan["decisions"], plan["drafts"]
        reasons = Counter(decision.outcome for decision in decisions.values())
        reasons["not_stale"] = len(leads - plan["stale"])
        wizard = self.create(
            {
                "left_out": self._left_out_text(reasons, nothing=not drafts),
                "line_ids": [
                    fields.Command.create(
                        {
                            "lead_id": lead_id,
                            "selected": bool(decisions[lead_id].assignee),
                            "assignee_id": decisions[lead_id].assignee.id,
                            "days_stale": draft["days"],
                            "summary": draft["summary"],
                            "note": draft["note"],
                        }
                    )
                    for lead_id, draft in drafts.items()
                ],
            }
        )
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Schedule Re-engagement"),
            "res_model": self._name,
            "res_id": wizard.id,
            "view_mode": "form",
            "target": "new",
            # Names, badges and the brief need the room.
            "context": {"dialog_size": "extra-large"},
        }

    def _left_out_text(self, reasons, nothing=False):
        # Each part a whole phrase, for the translators' word order.
        count = reasons.get
        parts = [
            part
            for key, part in (
                (
                    "not_stale",
                    self.env._("%(count)s not stale", count=count("not_stale")),
                ),
                (
                    "skipped_won",
                    self.env._("%(count)s won", count=count("skipped_won")),
                ),
                (
                    "skipped_pending",
                    self.env._(
                        "%(count)s with an activity planned",
                        count=count("skipped_pending"),
                    ),
                ),
                (
                    "skipped_paused",
                    self.env._("%(count)s paused", count=count("skipped_paused")),
                ),
                (
                    "decide",
                    self.env._(
                        "%(count)s re-engaged in vain, for their team leader to decide",
                        count=count("decide"),
                    ),
                ),
                (
                    "grouped",
                    self.env._(
                        "%(count)s grouped with a bigger deal of the same customer",
                        count=count("grouped"),
                    ),
                ),
            )
            if reasons.get(key)
        ]
        if nothing:
            return (
                self.env._("Nothing to schedule: %(parts)s.", parts=", ".join(parts))
                if parts
                else self.env._("Nothing to schedule.")
            )
        if not parts:
            return False
        return self.env._("Left out: %(parts)s.", parts=", ".join(parts))

    def action_confirm(self):
        """Book the ticked lines, each for the chosen user, as a run of the
        current user (its log and rights as any run)."""
        self.ensure_one()
        if not self.line_ids:
            raise UserError(self.left_out or self.env._("Nothing to schedule."))
        lines = self.line_ids.filtered("selected")
        if not lines:
            raise UserError(self.env._("Tick at least one opportunity to schedule."))
        nobody = lines.filtered(lambda line: not line.assignee_id)
        if nobody:
            raise UserError(
                self.env._(
                    "Choose who calls %(names)s, or untick them.",
                    names=", ".join(nobody.lead_id.mapped("name")),
                )
            )
        may_open = {}
        for assignee, assignee_lines in lines.grouped("assignee_id").items():
            may_open.update(assignee_lines.lead_id._followup_may_open(assignee))
        refused = lines.filtered(
            lambda line: line.lead_id.id not in may_open[line.assignee_id.id]
        )
        if refused:
            raise UserError(
                self.env._(
                    "%(users)s cannot be given a re-engagement of %(names)s: choose "
                    "an active internal user who may open it (its salesperson, or "
                    "one who sees all opportunities).",
                    users=", ".join(refused.assignee_id.mapped("name")),
                    names=", ".join(refused.lead_id.mapped("name")),
                )
            )
        result = self.env["opportunity.followup.runner"].run_plan(
            {line.lead_id.id: line.assignee_id.id for line in lines}
        )
        log = self.env["workflow.log"].browse(result["log_id"])
        notification = log._action_notify()
        # Closes the wizard; the list behind it reloads.
        notification["params"]["next"] = {"type": "ir.actions.act_window_close"}
        return notification


class CrmLeadFollowupScheduleLine(models.TransientModel):
    _name = "crm.lead.followup.schedule.line"
    _description = "Schedule Re-engagement: One Opportunity"
    _order = "prorated_revenue desc, days_stale desc, id"

    wizard_id = fields.Many2one(
        "crm.lead.followup.schedule", required=True, ondelete="cascade"
    )
    selected = fields.Boolean(string="Schedule", default=True)
    lead_id = fields.Many2one(
        "crm.lead", string="Opportunity", required=True, readonly=True
    )
    partner_id = fields.Many2one(related="lead_id.partner_id", string="Customer")
    prorated_revenue = fields.Monetary(
        related="lead_id.prorated_revenue",
        currency_field="company_currency",
        store=True,
    )
    company_currency = fields.Many2one(related="lead_id.company_currency")
    assignee_id = fields.Many2one(
        "res.users",
        string="Assigned To",
        domain="[('share', '=', False)]",
    )
    days_stale = fields.Integer(string="Days Without Work", readonly=True)
    summary = fields.Char(readonly=True)
    note = fields.Html(string="Brief", readonly=True)
