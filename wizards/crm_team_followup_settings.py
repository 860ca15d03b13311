from odoo import api, fields, models
from odoo.exceptions import ValidationError

from ..models.followup_const import SALES_MANAGER_GROUP, STALE_DAYS_MAX, STALE_DAYS_MIN

# The team's fields this wizard changes, and only these.
TEAM_FIELDS = (
    "followup_active",
    "followup_stale_days",
    "followup_activity_type_id",
    "followup_decide_after",
)


class CrmTeamFollowupSettings(models.TransientModel):
    """A team's re-engagement settings, for its leader as for sales managers:
    Odoo lets only sales managers write a sales team, and a team leader
    tunes their team's re-engagement without changing anything else of it."""

    _name = "crm.team.followup.settings"
    _description = "Re-engagement Settings of a Sales Team"

    team_id = fields.Many2one(
        "crm.team",
        string="Sales Team",
        required=True,
        ondelete="cascade",
        domain="[('use_opportunities', '=', True), ('followup_can_tune', '=', True)]",
    )
    followup_active = fields.Boolean(
        string="Daily Re-engagement",
        compute="_compute_team_settings",
        store=True,
        readonly=False,
        help="Off: the daily job leaves this team's opportunities alone (a run "
        "started by hand still considers them). On, it runs only where the "
        "company's Daily Re-engagement is switched on in the Settings.",
    )
    followup_stale_days = fields.Integer(
        string="Stale After (Days)",
        compute="_compute_team_settings",
        store=True,
        readonly=False,
        help="Days without work before this team's opportunities get a "
        "re-engagement. Empty: the company's setting. A stage's own number of days "
        "comes first.",
    )
    followup_activity_type_id = fields.Many2one(
        "mail.activity.type",
        string="Re-engagement Activity",
        compute="_compute_team_settings",
        store=True,
        readonly=False,
        domain="[('res_model', 'in', (False, 'crm.lead'))]",
        help="The activity booked for this team's opportunities. Empty: the "
        "company's setting.",
    )

    followup_decide_after = fields.Integer(
        string="Re-engagements Before a Decision",
        compute="_compute_team_settings",
        store=True,
        readonly=False,
        help="Re-engagements in a row with no revival before the team leader gets "
        "a Decide activity instead of a further one. Empty: the company's setting.",
    )

    @api.depends("team_id")
    def _compute_team_settings(self):
        for wizard in self:
            for name in TEAM_FIELDS:
                wizard[name] = wizard.team_id[name]

    @api.constrains("followup_stale_days")
    def _check_followup_stale_days(self):
        for wizard in self:
            days = wizard.followup_stale_days
            if days and not STALE_DAYS_MIN <= days <= STALE_DAYS_MAX:
                raise ValidationError(
                    self.env._(
                        "Stale After must be between %(min)s and %(max)s days, or "
                        "empty for the company's setting (%(days)s given).",
                        min=STALE_DAYS_MIN,
                        max=STALE_DAYS_MAX,
                        days=days,
                    )
                )

    @api.constrains("followup_decide_after")
    def _check_followup_decide_after(self):
        # A team leader's save bypasses crm.team's own check (see action_save).
        if any(wizard.followup_decide_after < 0 for wizard in self):
            raise ValidationError(
                self.env._("The re-engagements before a decision cannot be negative.")
            )

    @api.constrains("followup_activity_type_id")
    def _check_followup_activity_type_id(self):
        # A team leader's save bypasses crm.team's rights (see action_save):
        # the field's domain is checked here, not only in the dialog.
        for wizard in self:
            activity_type = wizard.followup_activity_type_id
            if activity_type.res_model not in (False, "crm.lead"):
                raise ValidationError(
                    self.env._(
                        "%(type)s is not an activity of opportunities: choose "
                        "one usable on them, or leave it empty for the company's.",
                        type=activity_type.name,
                    )
                )

    @api.model
    def _open_for(self, team):
        """The dialog for ``team`` (none: the user chooses one)."""
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Re-engagement Settings"),
            "res_model": self._name,
            "view_mode": "form",
            "target": "new",
            "context": {"default_team_id": team.id},
        }

    def action_save(self):
        """Write the settings on the team: sales managers with their
        own rights, its leader after checking they lead it."""
        self.ensure_one()
        team = self.team_id
        team._followup_check_can_tune()
        values = {name: self[name] for name in TEAM_FIELDS}
        if not self.env.user.has_group(SALES_MANAGER_GROUP):
            # Sudo: sales_team lets only sales managers write crm.team; the
            # leader of this team (checked just above) may change these
            # fields of it, and nothing else.
            team = team.sudo()
        team.write(values)
        return {"type": "ir.actions.act_window_close"}
