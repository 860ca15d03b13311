import math

from odoo import api, fields, models
from odoo.fields import Domain
from odoo.tools import SQL

from ..models.followup_const import (
    LIFT_MIN_DEALS,
    LIFT_Z,
    RESULT_OUTCOMES,
    REVIVAL_RESULTS,
    REVIVED,
)

# A count per result.
RESULT_COUNT_FIELDS = {
    "won": "won_count",
    "lost": "lost_count",
    "advanced": "advanced_count",
    "worked": "worked_count",
    "ignored": "ignored_count",
    "pending": "pending_count",
}


class CrmFollowupEffectivenessReport(models.Model):
    """Re-engagement Effectiveness: what became of each re-engagement scheduled by
    a run, one row per re-engagement (a ``workflow.log.line`` scheduled); of
    each deal a run held out to measure the lift (``followup_group``: the
    pivot compares the two groups; :meth:`_followup_lift` gives the lift); and
    one row per decision asked of a team leader (a line ``decide``), with what
    they decided, which counts in no rate.

    The rates are averages of a 100 / 0 column, so that the pivot and the
    graph, grouped any way, show the true rate of each group; a re-engagement
    without a result yet counts in neither side. The median days to revival
    is PostgreSQL's ``percentile_cont`` (the ``median`` aggregator below).
    """

    _name = "crm.followup.effectiveness.report"
    _description = "Re-engagement Effectiveness"
    _auto = False
    _rec_name = "lead_id"
    _order = "date desc, id desc"
    # What a search flushes first: a line's result or email written in the
    # same transaction shows at once.
    _depends = {
        "workflow.log.line": [
            "log_id",
            "lead_id",
            "assignee_id",
            "team_id",
            "stage_id",
            "activity_type_id",
            "email_template_id",
            "email_date",
            "company_id",
            "outcome",
            "revival_result",
            "revival_date",
            "revival_closed",
            "revival_days",
            "followup_decision",
        ],
        "workflow.log": ["date_start"],
    }

    line_id = fields.Many2one("workflow.log.line", string="Log Line", readonly=True)
    log_id = fields.Many2one("workflow.log", string="Run", readonly=True)
    lead_id = fields.Many2one("crm.lead", string="Opportunity", readonly=True)
    user_id = fields.Many2one("res.users", string="Salesperson", readonly=True)
    team_id = fields.Many2one("crm.team", string="Sales Team", readonly=True)
    stage_id = fields.Many2one(
        "crm.stage", string="Stage at Re-engagement", readonly=True
    )
    activity_type_id = fields.Many2one("mail.activity.type", readonly=True)
    # The email sent from the re-engagement, not the one offered at booking.
    email_template_id = fields.Many2one(
        "mail.template",
        string="Customer Email",
        readonly=True,
        help="The template of the email sent to the customer from the "
        "re-engagement; empty: none sent, or one written without a template.",
    )
    email_sent = fields.Boolean(string="Customer Email Sent", readonly=True)
    company_id = fields.Many2one("res.company", readonly=True)
    followup_group = fields.Selection(
        [("reengaged", "Re-engaged"), ("held_out", "Held Out")],
        string="Group",
        readonly=True,
        help="Re-engaged by a run, or held out by it to measure the lift (Measure "
        "the Lift in the settings): the difference of their revival rates is "
        "what the re-engagements add.",
    )
    date = fields.Datetime(string="Re-engagement Date", readonly=True)
    revival_result = fields.Selection(REVIVAL_RESULTS, string="Result", readonly=True)
    revival_date = fields.Datetime(string="Revived On", readonly=True)
    revival_closed = fields.Boolean(string="Final", readonly=True)

    # Measures
    revival_days = fields.Float(
        string="Days to Revival (Median)",
        readonly=True,
        aggregator="median",
        help="Days from the re-engagement to the first sign of life of a revived "
        "opportunity (won, advanced or worked), the median of the group.",
    )
    revival_rate = fields.Float(
        string="Revival Rate (%)",
        readonly=True,
        aggregator="avg",
        help="(Won + advanced + worked) / re-engagements with a result.",
    )
    win_rate = fields.Float(
        string="Win Rate (%)",
        readonly=True,
        aggregator="avg",
        help="Won / re-engagements with a result.",
    )
    followup_count = fields.Integer(string="Opportunities", readonly=True)
    won_count = fields.Integer(string="Won", readonly=True)
    lost_count = fields.Integer(string="Lost", readonly=True)
    advanced_count = fields.Integer(string="Advanced", readonly=True)
    worked_count = fields.Integer(string="Worked", readonly=True)
    ignored_count = fields.Integer(string="Ignored", readonly=True)
    pending_count = fields.Integer(string="Pending", readonly=True)
    # What team leaders decided about deals re-engaged in vain.
    decision_count = fields.Integer(string="Decisions Asked", readonly=True)
    revive_count = fields.Integer(string="Decided: Revived", readonly=True)
    pause_count = fields.Integer(string="Decided: Paused", readonly=True)
    lost_decision_count = fields.Integer(string="Decided: Lost", readonly=True)
    undecided_count = fields.Integer(string="Not Decided Yet", readonly=True)

    @property
    def _table_query(self):
        # A decision's row has no result: it counts in no rate.
        result = SQL(
            "CASE WHEN line.outcome IN %s "
            "THEN COALESCE(line.revival_result, 'pending') END",
            RESULT_OUTCOMES,
        )
        return SQL(
            """
            SELECT line.id,
                   line.id AS line_id,
                   line.log_id,
                   line.lead_id,
                   line.assignee_id AS user_id,
                   line.team_id,
                   line.stage_id,
                   line.activity_type_id,
                   line.email_template_id,
                   line.email_date IS NOT NULL AS email_sent,
                   line.company_id,
                   CASE WHEN line.outcome = 'held_out' THEN 'held_out'
                        ELSE 'reengaged' END AS followup_group,
                   log.date_start AS date,
                   %(result)s AS revival_result,
                   line.revival_date,
                   line.revival_closed,
                   CASE WHEN %(result)s IN %(revived)s
                        THEN line.revival_days END AS revival_days,
                   CASE WHEN COALESCE(%(result)s, 'pending') = 'pending' THEN NULL
                        WHEN %(result)s IN %(revived)s THEN 100.0
                        ELSE 0.0 END AS revival_rate,
                   CASE WHEN COALESCE(%(result)s, 'pending') = 'pending' THEN NULL
                        WHEN %(result)s = 'won' THEN 100.0
                        ELSE 0.0 END AS win_rate,
                   (line.outcome IN %(outcomes_with_results)s)::int AS followup_count,
                   %(counts)s,
                   (line.outcome = 'decide')::int AS decision_count,
                   (line.followup_decision = 'revive')::int AS revive_count,
                   (line.followup_decision = 'pause')::int AS pause_count,
                   (line.followup_decision = 'lost')::int AS lost_decision_count,
                   (line.outcome = 'decide' AND line.followup_decision IS NULL)::int
                       AS undecided_count
              FROM workflow_log_line line
              JOIN workflow_log log ON log.id = line.log_id
             WHERE line.outcome IN %(outcomes)s
            """,
            outcomes=(*RESULT_OUTCOMES, "decide"),
            outcomes_with_results=RESULT_OUTCOMES,
            result=result,
            revived=REVIVED,
            counts=SQL(", ").join(
                SQL(
                    "COALESCE((%s = %s)::int, 0) AS %s",
                    result,
                    value,
                    SQL.identifier(fname),
                )
                for value, fname in RESULT_COUNT_FIELDS.items()
            ),
        )

    def _read_group_select(self, aggregate_spec, query):
        # The median, which PostgreSQL has and read_group does not.
        if aggregate_spec == "revival_days:median":
            fname = "revival_days"
            return SQL(
                "percentile_cont(0.5) WITHIN GROUP (ORDER BY %s)",
                self._field_to_sql(self._table, fname, query),
            )
        return super()._read_group_select(aggregate_spec, query)

    # ------------------------------------------------------------
    # The lift
    # ------------------------------------------------------------

    @api.model
    def _followup_lift(self, domain, groupby=None):
        """The lift of the re-engagements over the rows of ``domain`` the
        current user may read, overall or per value of ``groupby`` (a
        many2one of the report: stage, salesperson, team, activity type).

        Per group, the revival and win rates (%) of the re-engaged deals and
        of the held-out ones, among those with a result (pending counts in
        neither, as in the pivot), and the lift: the difference of the two
        revival rates, in points, with its 95 % interval by the normal
        approximation of the difference of two proportions,
        ``d +/- 1.96 * sqrt(p1 (1 - p1) / n1 + p0 (1 - p0) / n0)``. Below
        ``LIFT_MIN_DEALS`` deals with a result in either group, the lift is
        too few to tell: no lift, no interval.

        :return: ``[{"key": the group's record (False overall, or none),
            "reengaged": {"count", "revived", "won", "revival_rate",
            "win_rate"}, "held_out": {...}, "enough": bool, "lift", "low",
            "high"}]``, the rates and the lift None where unknown
        """
        groupbys = [groupby, "followup_group"] if groupby else ["followup_group"]
        rows = self._read_group(
            # The rows with a result: not the decisions asked of leaders.
            Domain(domain) & Domain("followup_count", ">", 0),
            groupbys,
            [
                "__count",
                "pending_count:sum",
                "won_count:sum",
                "advanced_count:sum",
                "worked_count:sum",
            ],
        )
        stats = {}
        for *keys, group, count, pending, won, advanced, worked in rows:
            key = keys[0] if groupby else False
            stats.setdefault(key, {})[group] = {
                "count": count - pending,
                "revived": won + advanced + worked,
                "won": won,
            }
        empty = {"count": 0, "revived": 0, "won": 0}
        lifts = []
        for key, groups in stats.items():
            sides = {}
            for group in ("reengaged", "held_out"):
                side = dict(groups.get(group, empty))
                count = side["count"]
                side["revival_rate"] = 100 * side["revived"] / count if count else None
                side["win_rate"] = 100 * side["won"] / count if count else None
                sides[group] = side
            treated, held = sides["reengaged"], sides["held_out"]
            enough = min(treated["count"], held["count"]) >= LIFT_MIN_DEALS
            lift = low = high = None
            if enough:
                p1 = treated["revived"] / treated["count"]
                p0 = held["revived"] / held["count"]
                margin = LIFT_Z * math.sqrt(
                    p1 * (1 - p1) / treated["count"] + p0 * (1 - p0) / held["count"]
                )
                lift = 100 * (p1 - p0)
                low, high = 100 * (p1 - p0 - margin), 100 * (p1 - p0 + margin)
            lifts.append(
                {
                    "key": key,
                    **sides,
                    "enough": enough,
                    "lift": lift,
                    "low": low,
                    "high": high,
                }
            )
        return lifts
