from collections import defaultdict

from odoo import api, fields, models
from odoo.exceptions import UserError
from odoo.fields import Domain
from odoo.tools import SQL, Query, format_date

from .followup_const import (
    CUSTOMER_REVIVED,
    DECIDE_ACTIVITY_TYPE,
    ESCALATION_ACTIVITY_TYPE,
    WORK_MESSAGE_TYPES,
)
from .followup_params import Decision


class CrmLead(models.Model):
    """Decide, don't nag: the touch budget of a deal re-engaged in vain, the
    team leader's decision about it, and one call per customer (rules 4 and 6
    of ``_followup_decide``)."""

    _inherit = "crm.lead"

    followup_decision_open = fields.Boolean(
        string="Re-engagement Decision Open",
        compute="_compute_followup_decision_open",
        help="A Decide activity is open on it: re-engaged in vain as many times "
        "as the settings allow, it waits for its team leader's decision.",
    )

    @api.depends("activity_ids")
    def _compute_followup_decision_open(self):
        open_ids = {
            activity.res_id
            for activity in self.env["mail.activity"].search_fetch(
                [
                    ("res_model", "=", self._name),
                    ("res_id", "in", self.ids),
                    ("is_followup_decision", "=", True),
                ],
                ["res_id"],
            )
        }
        for lead in self:
            lead.followup_decision_open = lead.id in open_ids

    # ------------------------------------------------------------
    # Actions
    # ------------------------------------------------------------

    def action_followup_decide(self):
        """*Decide* on the opportunity form: revive it, pause it or mark it
        lost, each of which completes its Decide activity."""
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Decide"),
            "res_model": "crm.lead.followup.decide",
            "view_mode": "form",
            "target": "new",
            "context": {"default_lead_id": self.id},
        }

    def action_set_lost(self, **additional_values):
        # Marked lost, whichever way: the decision asked about it is made.
        reason = self.env["crm.lost.reason"].browse(
            additional_values.get("lost_reason_id")
        )
        self._followup_complete_decision(
            "lost",
            self.env._("Marked lost: %(reason)s", reason=reason.name)
            if reason
            else self.env._("Marked lost."),
        )
        return super().action_set_lost(**additional_values)

    def _followup_pause_open_activities(self):
        # A pause is one of the leader's decisions: its Decide is done.
        result = super()._followup_pause_open_activities()
        now = fields.Datetime.now()
        for lead in self:
            if lead.followup_paused_until >= lead._followup_today(now):
                lead._followup_complete_decision(
                    "pause",
                    self.env._(
                        "Paused until %(date)s: %(reason)s",
                        date=format_date(self.env, lead.followup_paused_until),
                        reason=lead.followup_pause_reason or "—",
                    ),
                )
        return result

    def _followup_revive(self, user):
        """*Revive* from a Decide activity: a re-engagement now, stale or not,
        for ``user``, booked by a run of the current user (logged as any);
        then the Decide is done.

        :raise UserError: the run could not book it (the reason is its log's)
        """
        self.ensure_one()
        result = self.env["opportunity.followup.runner"].run_plan(
            {self.id: user.id}, revive=True
        )
        line = (
            self.env["workflow.log"]
            .browse(result["log_id"])
            .line_ids.filtered(lambda line: line.lead_id == self)
        )
        if not result["success"] or line.outcome != "scheduled":
            raise UserError(
                self.env._(
                    "%(name)s could not be revived: %(reason)s",
                    name=self.name,
                    reason=line.reason or result["error"] or result["message"],
                )
            )
        self._followup_complete_decision(
            "revive",
            self.env._(
                "Revived: a new re-engagement for %(user)s.", user=line.assignee_id.name
            ),
        )
        return line

    def _followup_complete_decision(self, decision, feedback):
        """Mark the open Decide activities of these opportunities done with
        ``feedback``, and record ``decision`` (a key of DECISIONS) on the log
        line that booked each, for the Effectiveness report."""
        # Sudo: the decision itself (an edit of the deal, marking it lost)
        # went through the user's own rights; the leader's reminder of it,
        # and the run's log line, follow it whoever made it.
        activities = self._followup_open_reminders("is_followup_decision")
        if not activities:
            return
        self.env["workflow.log.line"].sudo().search(
            [("outcome", "=", "decide"), ("activity_ref", "in", activities.ids)]
        ).write({"followup_decision": decision})
        activities.action_feedback(feedback=feedback)

    # ------------------------------------------------------------
    # Rule 4: the touch budget
    # ------------------------------------------------------------

    def _followup_decisions(self, params, streaks):
        """Rule 4 of ``_followup_decide``, for these opportunities with
        nothing open: ``{lead id: Decision}``, ``decide`` where they were
        re-engaged in vain as many times in a row as their team's number
        (else the settings') allows and someone may take the decision (see
        ``_followup_leaders``)."""
        team_limits = dict(params.team_decide_after)
        if not (params.decide_after or team_limits):
            return {}
        limits = {
            lead.id: team_limits.get(lead.team_id.id) or params.decide_after
            for lead in self
        }
        due = self.filtered(
            lambda lead: (
                limits[lead.id] and len(streaks.get(lead.id, ())) >= limits[lead.id]
            )
        )
        if not due:
            return {}
        # Never the salesperson alone: someone else decides.
        targets = due._followup_leaders(
            self.env["res.users"].browse(params.default_user_id),
            {lead.id: lead.user_id for lead in due},
        )
        # Sudo: the runner's own record, whoever runs it.
        Line = self.env["workflow.log.line"].sudo()
        return {
            lead.id: Decision(
                "decide",
                assignee=targets[lead.id],
                history=Line.browse(streaks[lead.id]),
            )
            for lead in due
            if targets[lead.id]
        }

    def _followup_decision_facts(self, now, past_decisions, rules):
        """What the decision reads of these opportunities in the database, in
        one query: which match each of ``rules`` (domains: rules 1 and 2 of
        ``_followup_decide``), what is open or planned on them and what was
        tried on them (rules 3 and 4).

        :param past_decisions: open Decide activities do not count (the
            leader's *Revive* books the re-engagement they decided)
        :return: ``(ids of those with an open activity, anybody's, {lead id:
            [log line ids]}, {lead id: start of its next meeting}, [ids of
            the active ones matching each rule])``: colleagues'
            activities the running user may not read count too (booking a
            second one would double the work);
            the lines are the re-engagements booked on each in a row with no
            revival since, the oldest first.

        A revival is the customer's: a message or email from them (not an
        auto-reply, not a colleague's note), or a re-engagement's result won
        or advanced (a stage forward). Our own notes and completed activities
        (what makes a result "worked") are not. A decision asked ends the row
        too: the leader's answer starts a new budget.
        """
        if not self:
            return set(), {}, {}, [set() for _rule in rules]
        # The rules as a search would apply them (the active ones only), in
        # SQL: filtered_domain goes record by record and path by path.
        leads, query = self.sudo(), Query(self.env, "lead", SQL.identifier(self._table))
        matches = [
            (Domain("active", "=", True) & rule)
            .optimize_full(leads)
            ._to_sql(leads, "lead", query)
            for rule in rules
        ]
        self.env["mail.activity"].flush_model()
        self.env["workflow.log.line"].flush_model()
        self.env.cr.execute(
            SQL(
                """
                WITH line AS (
                    -- Their re-engagements and what ended a row: read once
                    -- for the chunk, not once per opportunity.
                    SELECT line.id, line.lead_id, line.outcome,
                           line.revival_result, log.date_start
                      FROM workflow_log_line line
                      JOIN workflow_log log ON log.id = line.log_id
                     WHERE line.lead_id IN %(ids)s
                       AND log.dry_run IS NOT TRUE
                       AND (line.outcome IN ('scheduled', 'decide')
                            OR line.revival_result IN %(revived)s)
                )
                SELECT lead.id,
                       EXISTS (
                           SELECT 1 FROM mail_activity open
                            WHERE open.res_model = 'crm.lead'
                              AND open.res_id = lead.id AND open.active IS TRUE
                              AND (open.is_followup_decision IS NOT TRUE
                                   OR NOT %(past_decisions)s)
                       ),
                       ARRAY(
                           SELECT line.id FROM line
                            WHERE line.lead_id = lead.id
                              AND line.outcome = 'scheduled'
                              AND line.date_start > COALESCE(stop.since, '-infinity')
                         ORDER BY line.date_start, line.id
                       ),
                       %(next_meeting)s
                       %(matches)s
                  FROM %(leads)s
                  LEFT JOIN LATERAL (
                      SELECT GREATEST(
                          (SELECT max(message.date) FROM mail_message message
                            WHERE message.model = 'crm.lead'
                              AND message.res_id = lead.id
                              AND message.message_type IN %(types)s
                              AND message.followup_is_auto_reply IS NOT TRUE
                              AND NOT EXISTS (
                                  SELECT 1 FROM res_users colleague
                                   WHERE colleague.partner_id = message.author_id
                                     AND colleague.share IS NOT TRUE)),
                          (SELECT max(line.date_start) FROM line
                            WHERE line.lead_id = lead.id
                              AND (line.outcome = 'decide'
                                   OR line.revival_result IN %(revived)s))
                      ) AS since
                  ) stop ON TRUE
                 WHERE lead.id IN %(ids)s
                """,
                ids=tuple(self.ids),
                past_decisions=bool(past_decisions),
                types=WORK_MESSAGE_TYPES,
                revived=CUSTOMER_REVIVED,
                next_meeting=self.env["opportunity.followup.work"]._next_meeting_sql(
                    SQL("lead.id"), now
                ),
                matches=SQL("").join(SQL(", %s", match) for match in matches),
                leads=query.from_clause,
            )
        )
        pending, streaks, meetings = set(), {}, {}
        matching = [set() for _rule in rules]
        for lead_id, is_pending, line_ids, meeting, *flags in self.env.cr.fetchall():
            if is_pending:
                pending.add(lead_id)
            if meeting:
                meetings[lead_id] = meeting
            streaks[lead_id] = line_ids
            for ids, flag in zip(matching, flags, strict=True):
                if flag:
                    ids.add(lead_id)
        return pending, streaks, meetings, matching

    def _followup_draft_decisions(self, decisions, params):
        """The note of the Decide activity, in the language of whom decides
        (``followup_decision_note``): the re-engagements tried in vain, when,
        of which type, for whom, what became of each and its feedback.

        :param decisions: ``{lead id: Decision}`` (``decide``: its assignee,
            its history of log lines)
        :return: ``{lead id: {"days", "summary", "note", "reason"}}``
        """
        leads, Message = self, self.env["opportunity.followup.message"]
        history, last_work = self.env["opportunity.followup.work"]._history(
            leads, params
        )
        date, type_name = Message._memos()
        # Done re-engagements are archived; sudo: the leader reads what their
        # salespeople were given (the lines and activities of the runs),
        # readable by the one running it or not.
        lines = (
            self.env["workflow.log.line"]
            .sudo()
            .union(*(decisions[lead.id].history for lead in leads))
        )
        activities = {
            activity.id: activity
            for activity in self.env["mail.activity"]
            .sudo()
            .with_context(active_test=False)
            .search_fetch(
                [("id", "in", [ref for ref in lines.mapped("activity_ref") if ref])],
                ["date_done", "feedback", "active"],
            )
        }
        drafts, notes = {}, defaultdict(dict)
        for lead in leads:
            decision = decisions[lead.id]
            lang = decision.assignee.lang or self.env.lang or "en_US"
            values = Message._values(lead, lang, history.get(lead.id), date, type_name)
            env = values["lead"].env
            tried = []
            for line in decision.history:
                activity = activities.get(line.activity_ref)
                done = activity and not activity.active and activity.date_done
                tried.append(
                    {
                        "date": date(lang, lead._followup_today(line.date)),
                        "type": type_name(lang, line.activity_type_id.id),
                        "user": line.assignee_id.name or env._("nobody"),
                        "done": done and date(lang, done),
                        "feedback": done and Message._feedback(activity),
                    }
                )
            since = tried[0]["date"]
            days = (lead._followup_today(params.now) - last_work[lead.id]).days
            values.update(tried=tried, count=len(tried), since=since, days=days)
            drafts[lead.id] = {
                "days": days,
                "summary": env._(
                    "Decide: %(name)s (re-engaged %(count)s times, no answer since "
                    "%(date)s)",
                    name=lead.name,
                    count=len(tried),
                    date=since,
                ),
                # In the language of the log's readers, not the leader's.
                "reason": self.env._(
                    "Re-engaged %(count)s times with no answer since %(date)s: "
                    "%(user)s is asked to decide.",
                    count=len(tried),
                    date=format_date(
                        self.env, lead._followup_today(decision.history[0].date)
                    ),
                    user=decision.assignee.name,
                ),
            }
            notes[lang][lead.id] = values
        Message._render_notes("followup_decision_note", notes, drafts)
        return drafts

    def _followup_ask_decisions(self, decisions, lines, params):
        """One Decide activity for each of these opportunities (decided
        ``decide``), for the one the decision names, due today, its note the
        re-engagements tried; none in a preview. Completes their ``lines``
        (log line values by lead id)."""
        drafts = self._followup_draft_decisions(decisions, params)
        activity_type = (
            self.env.ref(DECIDE_ACTIVITY_TYPE, raise_if_not_found=False)
            or self.env.ref(ESCALATION_ACTIVITY_TYPE, raise_if_not_found=False)
            or self.env["mail.activity.type"].browse(params.activity_type_id)
        )
        vals_list, line_vals = [], []
        for lead in self:
            draft, target = drafts[lead.id], decisions[lead.id].assignee
            vals_list.append(
                lead._followup_activity_values(
                    activity_type.id,
                    lead._followup_today(params.now),
                    draft,
                    target,
                    decision=True,
                )
            )
            lines[lead.id].update(
                assignee_id=target.id,
                days_stale=draft["days"],
                note=draft["note"],
                reason=draft["reason"],
                team_id=lead.team_id.id,
                stage_id=lead.stage_id.id,
            )
            line_vals.append(lines[lead.id])
        if not params.dry_run:
            self.env["mail.activity"]._followup_book(vals_list, line_vals)

    # ------------------------------------------------------------
    # Rule 6: one call per customer
    # ------------------------------------------------------------

    def _followup_groups(self, assignees):
        """``{lead id: the customer's other deals}``: where a customer (the
        commercial partner) has several of these opportunities to book and
        one salesperson owns them all, the one worth most (prorated revenue;
        the first in priority order on a tie) gets the re-engagement, listing
        the others. Deals without a customer are never grouped.

        :param assignees: ``{lead id: who gets it}``; nobody's are left out
        """
        by_customer = defaultdict(list)
        for lead in self:
            if lead.partner_id and assignees[lead.id]:
                by_customer[lead.partner_id.commercial_partner_id.id].append(lead)
        groups = {}
        for leads in by_customer.values():
            if len(leads) < 2 or len({lead.user_id for lead in leads}) > 1:
                continue
            booked = max(leads, key=lambda lead: lead.prorated_revenue)
            groups[booked.id] = self.browse(
                [lead.id for lead in leads if lead != booked]
            )
        return groups

    def _followup_grouped(self, booked, assignee, because=None):
        """Rule 7 of ``_followup_decide`` for this deal: ``grouped`` with
        ``booked``, the deal that stands for its customer (its line points to
        it), which is booked, or held out (``because="held_out"``), or
        deferred by the cap (``because="deferred"``): the reason says which."""
        self.ensure_one()
        args = {
            "customer": self.partner_id.commercial_partner_id.name,
            "deal": booked.name,
        }
        if because == "held_out":
            reason = self.env._(
                "One call per customer: %(customer)s's biggest deal, “%(deal)s”, is "
                "held out to measure the lift; its customer is not called.",
                **args,
            )
        elif because == "deferred":
            reason = self.env._(
                "One call per customer: %(customer)s's re-engagement is on its "
                "biggest deal, “%(deal)s”, which lists this one; the daily cap "
                "deferred it to the next run.",
                **args,
            )
        else:
            reason = self.env._(
                "One call per customer: %(customer)s's re-engagement is on its "
                "biggest deal, “%(deal)s”, which lists this one.",
                **args,
            )
        return Decision("grouped", reason, assignee=assignee, grouped=booked)

    def _followup_deferred_groups(self, groups, decisions):
        """Rule 9 of ``_followup_decide`` for the customers of
        ``_followup_groups``: ``{lead id: Decision}``, where the cap deferred
        the deal that stands for its customer, its other deals wait with it,
        still ``grouped``: the next run books them as one call (and the
        Schedule dialog shows that one call)."""
        return {
            lead.id: lead._followup_grouped(
                self.browse(booked_id), decisions[lead.id].assignee, "deferred"
            )
            for booked_id, others in groups.items()
            if decisions[booked_id].outcome == "deferred"
            for lead in others
        }

    def _followup_chunks(self, size):
        """The ids of these opportunities, in their order, in chunks of about
        ``size``, each customer's deals together at the place of the first
        one: the rule of one call per customer sees them all in one chunk,
        and a chunk is committed whole, so that a run resumed after a kill
        never meets half a customer (a customer with more deals than ``size``
        makes a bigger chunk)."""
        deals = defaultdict(list)
        for lead in self:
            key = lead.partner_id.commercial_partner_id.id or ("deal", lead.id)
            deals[key].append(lead.id)
        chunks, chunk = [], []
        for lead_ids in deals.values():
            if chunk and len(chunk) + len(lead_ids) > size:
                chunks.append(chunk)
                chunk = []
            chunk.extend(lead_ids)
        if chunk:
            chunks.append(chunk)
        return chunks
