from datetime import timedelta

from odoo import models
from odoo.tools import format_date

from .followup_params import Decision


class CrmLead(models.Model):
    """Measure the lift: the rules of ``_followup_decide`` that hold out a
    share of the eligible deals, drawn per run, and leave them alone for
    their result window (see ``RunParams.holds_out`` and the Re-engagement
    Lift report)."""

    _inherit = "crm.lead"

    def _followup_holdout_skips(self, params, history):
        """Rule 4 of :meth:`_followup_decide`: ``{lead id: Decision}``
        ``skipped_held_out`` for those of these opportunities an earlier run
        held out less than the result window ago. Left alone meanwhile, as
        the comparison needs: a re-engagement now would count in the result
        of a deal that was not re-engaged.

        :param history: ``workflow.log.line._followup_holdout_history``
        """
        window = timedelta(days=params.holdout_days)
        decisions = {}
        for lead in self:
            _outcome, held, held_with = history.get(lead.id, (None, None, None))
            if not held or held + window <= params.now:
                continue
            args = {
                "date": format_date(self.env, held),
                "end": format_date(self.env, held + window),
            }
            decisions[lead.id] = Decision(
                "skipped_held_out",
                # Sudo: the deal it was grouped with may be a colleague's
                # now; its name is the line's own record of why.
                self.env._(
                    "Grouped on %(date)s with “%(deal)s”, held out to measure the "
                    "lift: left alone with it until its result is known, on "
                    "%(end)s.",
                    deal=self.browse(held_with).sudo().name,
                    **args,
                )
                if held_with
                else self.env._(
                    "Held out on %(date)s to measure the lift: left alone until "
                    "its result is known, on %(end)s.",
                    **args,
                ),
            )
        return decisions

    def _followup_holdouts(self, params, history, assignees):
        """Rule 8 of :meth:`_followup_decide`: ``{lead id: Decision}``
        ``held_out`` for those of these opportunities, each with an assignee,
        that the run's draw holds out (:meth:`RunParams.holds_out`). Never in
        a preview (its draw is the run's), never a deal a manager picked
        (``params.holdout`` is empty then), never one held out on its
        previous run (a held-out deal is re-engaged once its window closes).
        Their lines record what a re-engagement would have been made of, for
        the effectiveness report to compare.

        :param history: ``workflow.log.line._followup_holdout_history``
        :param assignees: ``{lead id: who would get it}``
        """
        if not params.holdout or params.dry_run:
            return {}
        team_types = dict(params.team_activity_types)
        return {
            lead.id: Decision(
                "held_out",
                self.env._(
                    "Held out to measure the lift: not re-engaged, its result "
                    "compared with the re-engaged deals'."
                ),
                assignee=assignees[lead.id],
                line={
                    "assignee_id": assignees[lead.id].id,
                    "stage_id": lead.stage_id.id,
                    "team_id": lead.team_id.id,
                    "activity_type_id": team_types.get(
                        lead.team_id.id, params.activity_type_id
                    ),
                    "prorated_revenue": lead.prorated_revenue,
                },
            )
            for lead in self
            if assignees[lead.id]
            and history.get(lead.id, (None, None, None))[0]
            not in ("held_out", "skipped_held_out")
            and params.holds_out(lead)
        }
