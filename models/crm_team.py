from odoo import api, fields, models
from odoo.exceptions import AccessError
from odoo.fields import Domain

from .followup_const import (
    SALES_MANAGER_GROUP,
    STALE_DAYS_MAX,
    STALE_DAYS_MIN,
    STALE_DAYS_RANGE_MESSAGE,
)


class CrmTeam(models.Model):
    """A team's own re-engagement settings, over its company's: sales
    managers tune them for any team, its leader for their own, without the
    Settings rights."""

    _inherit = "crm.team"

    followup_active = fields.Boolean(
        string="Daily Re-engagement",
        default=True,
        help="Off: the daily job leaves this team's opportunities alone (a run "
        "started by hand still considers them). On, it runs only where the "
        "company's Daily Re-engagement is switched on in the Settings.",
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
    followup_decide_after = fields.Integer(
        string="Re-engagements Before a Decision",
        help="Re-engagements in a row with no revival (no customer answer, no "
        "stage forward) before the team leader gets a Decide activity instead of "
        "a further one. Empty: the company's setting.",
    )
    # Team leaders may not write crm.team (sales_team grants it to sales
    # managers): they change these settings through a wizard instead.
    followup_can_tune = fields.Boolean(
        string="May Change Re-engagement Settings",
        compute="_compute_followup_can_tune",
        search="_search_followup_can_tune",
        help="The current user leads this team, or is a sales manager.",
    )

    _followup_stale_days_range = models.Constraint(
        f"CHECK(followup_stale_days IS NULL OR followup_stale_days = 0 OR "
        f"followup_stale_days BETWEEN {STALE_DAYS_MIN} AND {STALE_DAYS_MAX})",
        STALE_DAYS_RANGE_MESSAGE,
    )
    _followup_decide_after_positive = models.Constraint(
        "CHECK(followup_decide_after IS NULL OR followup_decide_after >= 0)",
        "The re-engagements before a decision cannot be negative.",
    )

    @api.depends("user_id")
    @api.depends_context("uid")
    def _compute_followup_can_tune(self):
        tunable = self.filtered_domain(self._search_followup_can_tune("in", [True]))
        tunable.followup_can_tune = True
        (self - tunable).followup_can_tune = False

    def _search_followup_can_tune(self, operator, value):
        if operator != "in":
            return NotImplemented
        if self.env.user.has_group(SALES_MANAGER_GROUP):
            # Any team they may read: crm.team's company rule keeps it to
            # their companies.
            domain = Domain.TRUE
        else:
            domain = Domain("user_id", "=", self.env.uid)
        return domain if True in value else ~domain

    # ------------------------------------------------------------
    # Actions
    # ------------------------------------------------------------

    def action_followup_settings(self):
        """*Re-engagement Settings* on the team form: the wizard in which its
        leader, or a sales manager, changes them."""
        self.ensure_one()
        self._followup_check_can_tune()
        return self.env["crm.team.followup.settings"]._open_for(self)

    # ------------------------------------------------------------
    # Business methods
    # ------------------------------------------------------------

    def _followup_check_can_tune(self):
        """Raise unless the current user may change the re-engagement
        settings of every team of ``self``: they lead it, or they are a
        sales manager (whose write then goes through their own rights)."""
        if self.env.su or self.env.user.has_group(SALES_MANAGER_GROUP):
            return
        refused = self.filtered(lambda team: team.user_id != self.env.user)
        if refused:
            raise AccessError(
                self.env._(
                    "Only the team's leader or a sales manager can change the "
                    "re-engagement settings of %(teams)s.",
                    teams=", ".join(refused.mapped("display_name")),
                )
            )

    # ------------------------------------------------------------
    # The team's own re-engagement rules
    # ------------------------------------------------------------

    @api.model
    def _followup_days(self):
        """``{team id: days}`` of the teams with their own stale threshold."""
        return {
            team.id: team.followup_stale_days
            for team in self.with_context(active_test=False).search(
                [("followup_stale_days", ">", 0)]
            )
        }

    @api.model
    def _followup_team_rules(self):
        """``({team id: activity type id}, {team id: count})``: the teams
        with their own activity, and those with their own number of
        re-engagements before a decision, in one read."""
        teams = self.with_context(active_test=False).search_fetch(
            [
                "|",
                ("followup_activity_type_id", "!=", False),
                ("followup_decide_after", ">", 0),
            ],
            ["followup_activity_type_id", "followup_decide_after"],
        )
        return (
            {
                team.id: team.followup_activity_type_id.id
                for team in teams
                if team.followup_activity_type_id
            },
            {
                team.id: team.followup_decide_after
                for team in teams
                if team.followup_decide_after > 0
            },
        )

    @api.model
    def _followup_teams_off(self):
        """Ids of the teams that switched the daily job off."""
        return (
            self.with_context(active_test=False)
            .search([("followup_active", "=", False)])
            .ids
        )
