from odoo import api, fields, models
from odoo.tools import formatLang

from ..models.followup_const import LIFT_MIN_DEALS

LIFT_TABLE = "crm_opportunity_followup.followup_lift_table"
# What the lift can be broken down by: the effectiveness report's own
# dimensions.
BREAKDOWNS = [
    ("stage_id", "Stage at Re-engagement"),
    ("user_id", "Salesperson"),
    ("team_id", "Sales Team"),
    ("activity_type_id", "Activity Type"),
]


class CrmFollowupLift(models.TransientModel):
    """The lift, as a sales manager reads it: the re-engaged deals against
    the held-out ones, overall and by one of the report's dimensions, each
    with its 95 % interval or "too few to tell" (see
    ``crm.followup.effectiveness.report._followup_lift``). A form with two
    filters; the table is computed as they change, with the reader's rights
    on the report."""

    _name = "crm.followup.lift"
    _description = "Re-engagement Lift"

    breakdown = fields.Selection(
        BREAKDOWNS, string="By", default="stage_id", required=True
    )
    date_from = fields.Date(
        string="Since", help="Only the deals re-engaged or held out since then."
    )
    summary = fields.Html(compute="_compute_summary", sanitize=False)

    @api.depends("breakdown", "date_from")
    def _compute_summary(self):
        Report = self.env["crm.followup.effectiveness.report"]
        for lift in self:
            domain = [("date", ">=", lift.date_from)] if lift.date_from else []
            overall = Report._followup_lift(domain)
            rows = Report._followup_lift(domain, lift.breakdown)
            # The values the report has no group for (no stage, ...) last.
            rows.sort(key=lambda row: (not row["key"], row["key"].display_name or ""))
            # The table is QWeb's: every value escaped.
            lift.summary = self.env["ir.qweb"]._render(
                LIFT_TABLE,
                {
                    "dimension": dict(
                        self._fields["breakdown"]._description_selection(self.env)
                    )[lift.breakdown],
                    "rows": [
                        self._display_row(row, self.env._("All"))
                        for row in overall or [{"key": False}]
                    ]
                    + [self._display_row(row, self.env._("None")) for row in rows],
                    "min_deals": LIFT_MIN_DEALS,
                },
                minimal_qcontext=True,
            )

    def _display_row(self, row, blank):
        """A row of :meth:`_followup_lift`'s as the table shows it."""

        def percent(value):
            return "—" if value is None else formatLang(self.env, value, digits=1)

        def side(group):
            values = row.get(group) or {"count": 0}
            return {
                "count": formatLang(self.env, values["count"], digits=0),
                "revival_rate": percent(values.get("revival_rate")),
                "win_rate": percent(values.get("win_rate")),
            }

        if not row.get("enough"):
            verdict = self.env._("Too few deals to tell")
        elif row["low"] > 0:
            verdict = self.env._("Re-engaging brings more deals back")
        elif row["high"] < 0:
            verdict = self.env._("Re-engaging does worse than leaving them")
        else:
            verdict = self.env._("No difference shown yet")
        return {
            "name": row["key"].display_name if row["key"] else blank,
            "reengaged": side("reengaged"),
            "held_out": side("held_out"),
            "lift": percent(row.get("lift")),
            "interval": self.env._(
                "%(low)s to %(high)s",
                low=percent(row["low"]),
                high=percent(row["high"]),
            )
            if row.get("enough")
            else "—",
            "verdict": verdict,
            "enough": bool(row.get("enough")),
        }
