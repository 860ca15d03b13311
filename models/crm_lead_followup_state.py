from odoo import api, fields, models
from odoo.fields import Domain
from odoo.tools import SQL

# A re-engagement the leader got (or gets) to chase.
ESCALATED_SQL = SQL(
    "(act.is_followup_escalation IS TRUE"
    " OR (act.is_followup IS TRUE AND act.followup_escalated IS TRUE))"
)


class CrmLead(models.Model):
    """Where a deal stands in the re-engagement cycle, for the marker the
    pipeline shows: stale until a re-engagement is booked, then that
    re-engagement's own state until it is done; awaiting its leader's
    decision once re-engaged in vain (a Decide activity open)."""

    _inherit = "crm.lead"

    followup_state = fields.Selection(
        [
            ("stale", "Stale"),
            ("reengaging", "Re-engaging"),
            ("overdue", "Re-engagement Overdue"),
            ("escalated", "Re-engagement Escalated"),
            ("decision", "Awaiting Decision"),
        ],
        string="Re-engagement State",
        compute="_compute_followup_state",
        search="_search_followup_state",
        help="Stale: nobody worked on it for the re-engagement settings' number "
        "of days and nothing is planned on it. Re-engaging: its re-engagement is "
        "open. Overdue: that re-engagement is past its deadline. Escalated: it "
        "was escalated to the team leader. Awaiting Decision: re-engaged in vain, "
        "it waits for its team leader's decision.",
    )

    @api.depends_context("uid", "allowed_company_ids")
    @api.depends(
        "followup_is_stale",
        "followup_decision_open",
        "won_status",
        "stage_id",
        "activity_ids.date_deadline",
    )
    def _compute_followup_state(self):
        # One query for the whole list; colleagues' re-engagements count,
        # readable or not, as they do for the runs.
        saved = self.filtered("id")
        followups = self.env["mail.activity"]._followup_open_followups(saved)
        # A won deal awaits no decision, whatever is left open on it (only
        # the few with a Decide open are asked).
        awaiting = saved.filtered("followup_decision_open")
        awaiting -= awaiting.filtered_domain(self._followup_won_domain())
        by_lead = followups.grouped("res_id")
        now = fields.Datetime.now()
        for lead in self:
            activities = by_lead.get(lead.id)
            if not activities:
                if lead in awaiting:
                    lead.followup_state = "decision"
                else:
                    lead.followup_state = "stale" if lead.followup_is_stale else False
                continue
            reengagements = activities.filtered(lambda act: act.is_followup)
            today = lead._followup_today(now)
            if len(reengagements) < len(activities) or any(
                reengagements.mapped("followup_escalated")
            ):
                lead.followup_state = "escalated"
            elif any(act.date_deadline < today for act in reengagements):
                lead.followup_state = "overdue"
            else:
                lead.followup_state = "reengaging"

    def _search_followup_state(self, operator, value):
        if operator != "in":
            return NotImplemented
        # The domains below read mail_activity in SQL: pending changes first.
        self.env["mail.activity"].flush_model()
        now = fields.Datetime.now()
        escalated = self._followup_activity_domain(ESCALATED_SQL)
        overdue = (
            Domain.OR(
                Domain("company_id", "in", company_ids)
                & self._followup_activity_domain(
                    SQL(
                        "act.is_followup IS TRUE AND act.date_deadline < %s",
                        today,
                    )
                )
                for _tz, today, company_ids in self._followup_local_days(now)
            )
            & ~escalated
        )
        reengaging = (
            self._followup_activity_domain(SQL("act.is_followup IS TRUE"))
            & ~escalated
            & ~overdue
        )
        # The leader's Decide, with nothing else of the cycle open, on a deal
        # not won.
        decision = (
            self._followup_activity_domain(SQL("act.is_followup_decision IS TRUE"))
            & ~self._followup_activity_domain(
                SQL("(act.is_followup IS TRUE OR act.is_followup_escalation IS TRUE)")
            )
            & ~self._followup_won_domain()
        )
        stale = Domain("followup_is_stale", "in", [True])
        states = {
            "stale": stale,
            "reengaging": reengaging,
            "overdue": overdue,
            "escalated": escalated,
            "decision": decision,
        }
        domain = Domain.OR(states[state] for state in value if state in states)
        if False in value:
            domain |= ~Domain.OR(states.values())
        return domain

    @api.model
    def _followup_activity_domain(self, condition):
        """Opportunities with an open activity meeting ``condition`` (SQL on
        the alias ``act``), whoever it is for."""

        def to_sql(model, alias, query):
            return SQL(
                """EXISTS (
                    SELECT 1 FROM mail_activity act
                     WHERE act.res_model = 'crm.lead'
                       AND act.res_id = %s AND act.active IS TRUE AND %s
                )""",
                SQL.identifier(alias, "id"),
                condition,
            )

        return Domain.custom(to_sql=to_sql)
