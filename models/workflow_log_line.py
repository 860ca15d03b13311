from collections import defaultdict
from datetime import datetime, time, timedelta

from odoo import SUPERUSER_ID, api, fields, models
from odoo.tools import SQL

from .followup_const import (
    DECISIONS,
    OUTCOMES,
    RESULT_OUTCOMES,
    REVIVAL_RESULTS,
    REVIVED,
    WORK_MESSAGE_TYPES,
)

# Lines whose result is refreshed per query (and per transaction in the cron).
REVIVAL_BATCH = 2000
# Messages that show somebody worked on the opportunity after its
# re-engagement: the stale clock's work, and the notifications a person's
# change posts (a tracked edit, a completed activity).
REVIVAL_MESSAGE_TYPES = (*WORK_MESSAGE_TYPES, "notification")

# The outcomes' labels, as declared once in followup_const.
OUTCOME_SELECTION = [(key, label) for key, (label, *_rest) in OUTCOMES.items()]


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
    # one more entry to write with each line.
    outcome = fields.Selection(OUTCOME_SELECTION, required=True, readonly=True)
    # The activity booked, by its id, without a foreign key (as mail.activity
    # refers to its record): deleting activities anywhere in the database
    # (cancelled, on a deleted record, Odoo's cleanup of old overdue ones)
    # must not rewrite the lines of millions of runs. activity_id shows it
    # while it exists.
    activity_ref = fields.Integer(string="Activity ID", readonly=True)
    activity_id = fields.Many2one("mail.activity", compute="_compute_activity_id")
    # Indexed: the salespeople's record rule filters on it.
    assignee_id = fields.Many2one(
        "res.users", string="Assigned To", readonly=True, index="btree_not_null"
    )
    days_stale = fields.Integer(readonly=True)
    # Expected revenue x probability when it was considered: the priority.
    prorated_revenue = fields.Float(readonly=True)
    # Written by the runner only (users never write lines), from escaped values
    # and the sanitized wording of a stage's template: not sanitized again.
    note = fields.Html(string="Brief", readonly=True, sanitize=False)
    warning = fields.Char(readonly=True)
    reason = fields.Text(readonly=True)
    # One call per customer: the deal of the same customer that got the
    # re-engagement instead of this one (outcome "grouped").
    grouped_lead_id = fields.Many2one(
        "crm.lead",
        string="Grouped With",
        readonly=True,
        index="btree_not_null",
        ondelete="set null",
    )
    # What the team leader decided from the Decide activity this line booked
    # (outcome "decide"): written by the decision's own action only.
    followup_decision = fields.Selection(
        DECISIONS, string="Leader's Decision", readonly=True
    )
    date = fields.Datetime(related="log_id.date_start")
    state = fields.Selection(related="log_id.state")

    # What the opportunity was when it was considered, for the report: copied
    # at creation, so that later changes do not rewrite the past. Indexed
    # where set (the lines of assigned opportunities only): deleting a stage,
    # a team, an activity type or a template sets its lines' link to null,
    # which would otherwise scan the whole table.
    stage_id = fields.Many2one("crm.stage", readonly=True, index="btree_not_null")
    team_id = fields.Many2one(
        "crm.team", string="Sales Team", readonly=True, index="btree_not_null"
    )
    activity_type_id = fields.Many2one(
        "mail.activity.type", readonly=True, index="btree_not_null"
    )
    wording_template_id = fields.Many2one(
        "mail.template",
        string="Customer Email Offered",
        readonly=True,
        index="btree_not_null",
        help="The stage's own email to the customer offered with the "
        "re-engagement; empty: the default Re-engagement Email.",
    )
    # What was sent, which may not be what was offered: written when a person
    # sends the customer an email while the re-engagement is open (see
    # mail.compose.message._followup_record_sent_email).
    email_template_id = fields.Many2one(
        "mail.template",
        string="Customer Email Sent",
        readonly=True,
        index="btree_not_null",
        help="The template of the first email sent to the customer while this "
        "re-engagement was open (Send Now, or Preview and the composer); empty "
        "with a date: written without a template.",
    )
    email_date = fields.Datetime(string="Customer Email Sent On", readonly=True)

    # Did it work? Set on scheduled re-engagements, and on the held-out deals
    # they are compared with, by the daily refresh (see
    # _cron_followup_refresh_revival), never by hand.
    revival_result = fields.Selection(
        REVIVAL_RESULTS,
        string="Result",
        readonly=True,
        help="The best that happened to the opportunity within the result window "
        "after this re-engagement: won, lost, advanced (a later stage), worked (a "
        "person updated it, wrote on it or completed an activity on it, or the "
        "customer wrote) or ignored (pending while the re-engagement is open "
        "and not overdue). Provisional until the window closes.",
    )
    revival_date = fields.Datetime(
        string="Revived On",
        readonly=True,
        help="The first sign of life after the re-engagement.",
    )
    revival_days = fields.Integer(string="Days to Revival", readonly=True)
    revival_closed = fields.Boolean(
        string="Result Final",
        readonly=True,
        help="The result window is over: the result no longer changes.",
    )
    revival_checked = fields.Date(string="Result Checked On", readonly=True)
    # Set when the re-engagement ended itself (see crm.lead._followup_resolve):
    # what revived the deal, also where the refresh cannot see it (a quotation
    # sent or answered, on another document).
    resolved_result = fields.Selection(
        REVIVAL_RESULTS, string="Resolved By", readonly=True
    )
    resolved_date = fields.Datetime(string="Resolved On", readonly=True)

    # The daily refresh reads the open results only: without this index it
    # scans every line the log ever kept.
    _revival_open_index = models.Index(
        "(id) WHERE outcome IN ('scheduled', 'held_out') AND revival_closed IS NOT TRUE"
    )

    @api.depends("activity_ref")
    def _compute_activity_id(self):
        refs = {line.activity_ref for line in self if line.activity_ref}
        # Done activities are archived: they still show.
        existing = set(
            self.env["mail.activity"]
            .with_context(active_test=False)
            .browse(refs)
            .exists()
            .ids
        )
        for line in self:
            line.activity_id = (
                line.activity_ref if line.activity_ref in existing else False
            )

    # ------------------------------------------------------------
    # Revival results
    # ------------------------------------------------------------

    @api.model
    def _cron_followup_refresh_revival(self):
        """Daily: the result of every re-engagement whose window is still
        open, in batches, each its own transaction in the cron, within the
        cron's time budget (the scheduler calls again while work is left).
        Only reads what exists (the opportunity, its messages, tracking and
        activities); never writes the opportunity."""
        window = self.env["res.config.settings"]._followup_settings()[
            "revival_window_days"
        ]
        now = fields.Datetime.now()
        in_cron = bool(self.env.context.get("cron_id"))
        domain = self._revival_open_domain(now.date())
        remaining = self.search_count(domain)
        while lines := self.search(domain, order="id", limit=REVIVAL_BATCH):
            lines._followup_refresh_revival(window, now)
            remaining = max(remaining - len(lines), 0)
            # Refreshed lines are not read again: memory stays flat.
            self.env.flush_all()
            self.env.invalidate_all()
            if in_cron and not self.env["ir.cron"]._commit_progress(
                len(lines), remaining=remaining
            ):
                return

    @api.model
    def _followup_refresh_revival_of(self, activities):
        """The results of the re-engagements ``activities`` at once, e.g.
        when they are completed, rather than at the next daily refresh."""
        # Sudo: whoever completes a re-engagement refreshes the result of its
        # line, the runner's record, which they may not write.
        lines = self.sudo().search(
            [
                # By opportunity first: activity_ref has no index.
                ("lead_id", "in", activities.mapped("res_id")),
                ("activity_ref", "in", activities.ids),
                ("outcome", "=", "scheduled"),
                ("revival_closed", "=", False),
            ]
        )
        if lines:
            window = self.env["res.config.settings"]._followup_settings()[
                "revival_window_days"
            ]
            lines._followup_refresh_revival(window, fields.Datetime.now())

    @api.model
    def _revival_open_domain(self, today):
        """Scheduled re-engagements and held-out deals whose window is open,
        not refreshed today."""
        return [
            ("outcome", "in", RESULT_OUTCOMES),
            ("revival_closed", "=", False),
            "|",
            ("revival_checked", "=", False),
            ("revival_checked", "<", today),
        ]

    @api.model
    def _followup_holdout_history(self, leads, now):
        """What the runs before ``now`` did with ``leads`` that the lift's
        rules need: ``{lead id: (the outcome of its latest run, when it was
        last held out or None, the deal it was held out with or None)}``
        (previews left out), in one query. A deal grouped with a held-out one
        (one call per customer) was held out with it: its customer was not
        called."""
        if not leads:
            return {}
        self.env.flush_all()
        # One query per chunk, over the lines' own index on lead_id: the ORM
        # has no "latest line per opportunity" to read this with.
        self.env.cr.execute(
            SQL(
                """
                SELECT DISTINCT ON (line.lead_id) line.lead_id, line.outcome,
                       held.date_start, held.with_lead_id
                  FROM workflow_log_line line
                  JOIN workflow_log log ON log.id = line.log_id
                  LEFT JOIN LATERAL (
                      SELECT held_log.date_start, NULL::int AS with_lead_id
                        FROM workflow_log_line held
                        JOIN workflow_log held_log ON held_log.id = held.log_id
                       WHERE held.lead_id = line.lead_id
                         AND held.outcome = 'held_out'
                         AND held_log.date_start < %(now)s
                      UNION ALL
                      SELECT held_log.date_start, held.lead_id
                        FROM workflow_log_line grouped
                        JOIN workflow_log_line held
                          ON held.log_id = grouped.log_id
                         AND held.lead_id = grouped.grouped_lead_id
                        JOIN workflow_log held_log ON held_log.id = held.log_id
                       WHERE grouped.lead_id = line.lead_id
                         AND grouped.outcome = 'grouped'
                         AND held.outcome = 'held_out'
                         AND held_log.date_start < %(now)s
                    ORDER BY 1 DESC
                       LIMIT 1
                  ) held ON TRUE
                 WHERE line.lead_id IN %(ids)s
                   AND log.dry_run IS NOT TRUE
                   AND log.date_start < %(now)s
                 ORDER BY line.lead_id, log.date_start DESC, line.id DESC
                """,
                ids=tuple(leads.ids),
                now=now,
            )
        )
        return {
            lead_id: (outcome, held, with_lead_id)
            for lead_id, outcome, held, with_lead_id in self.env.cr.fetchall()
        }

    def _followup_refresh_revival(self, window_days, now):
        """Compute the result of these lines from what happened to their
        opportunity from the re-engagement's moment (its run's start; a
        held-out deal's: the moment it was not re-engaged) to the end of the
        window, in one query for the whole batch."""
        if not self:
            return
        self.env.flush_all()
        window = timedelta(days=window_days)
        # One query for the batch: a query per line would not refresh a big
        # log in a night, and the ORM has no "first event after a date per
        # record" to read these with.
        self.env.cr.execute(
            SQL(
                """
                SELECT line.id, log.date_start,
                       lead.won_status, lead.date_closed,
                       CASE WHEN lead.write_uid IS DISTINCT FROM %(root_user)s
                            THEN lead.write_date END,
                       (SELECT min(message.date) FROM mail_message message
                         WHERE message.model = 'crm.lead'
                           AND message.res_id = line.lead_id
                           AND message.date >= log.date_start
                           AND message.date < log.date_start + %(window)s
                           AND message.message_type IN %(types)s
                           AND message.author_id IS DISTINCT FROM %(odoobot)s
                           AND message.followup_is_auto_reply IS NOT TRUE),
                       (SELECT min(done.date_done) FROM mail_activity done
                         WHERE done.res_model = 'crm.lead'
                           AND done.res_id = line.lead_id
                           AND done.active IS NOT TRUE
                           AND done.date_done >= log.date_start::date
                           AND done.date_done <= (log.date_start + %(window)s)::date
                           -- marked done by itself (crm.lead._followup_resolve):
                           -- nobody's work, what revived the deal is its result
                           AND NOT (line.resolved_result IS NOT NULL
                                    AND (done.id = line.activity_ref
                                         OR done.is_followup_escalation IS TRUE))),
                       (SELECT min(message.date)
                          FROM mail_message message
                          JOIN mail_tracking_value tracking
                            ON tracking.mail_message_id = message.id
                          JOIN crm_stage new_stage
                            ON new_stage.id = tracking.new_value_integer
                          LEFT JOIN crm_stage old_stage
                            ON old_stage.id = tracking.old_value_integer
                         WHERE message.model = 'crm.lead'
                           AND message.res_id = line.lead_id
                           AND message.date >= log.date_start
                           AND message.date < log.date_start + %(window)s
                           AND tracking.field_id = %(stage_field)s
                           AND CASE
                               WHEN line_stage.id IS NOT NULL
                               THEN (new_stage.sequence, new_stage.id)
                                    > (line_stage.sequence, line_stage.id)
                               -- a line of a version before 19.0.1.2.0
                               ELSE (new_stage.sequence, new_stage.id)
                                    > (old_stage.sequence, old_stage.id)
                           END),
                       line.resolved_result, line.resolved_date,
                       %(linked_message)s,
                       CASE WHEN activity.active THEN activity.date_deadline END
                  FROM workflow_log_line line
                  JOIN workflow_log log ON log.id = line.log_id
                  LEFT JOIN crm_lead lead ON lead.id = line.lead_id
                  LEFT JOIN crm_stage line_stage ON line_stage.id = line.stage_id
                  LEFT JOIN mail_activity activity ON activity.id = line.activity_ref
                 WHERE line.id IN %(ids)s
                """,
                root_user=SUPERUSER_ID,
                odoobot=self.env.ref("base.partner_root").id,
                window=window,
                types=REVIVAL_MESSAGE_TYPES,
                stage_field=self.env["ir.model.fields"]._get("crm.lead", "stage_id").id,
                ids=tuple(self.ids),
                # A message by a person or the customer on a quotation (any
                # document linked to the deal) is work on the deal too.
                linked_message=self.env["opportunity.followup.work"]._first_message_sql(
                    SQL("line.lead_id"),
                    SQL("log.date_start"),
                    SQL("log.date_start + %s", window),
                ),
            )
        )
        today = now.date()
        # Lines with the same values are written at once (most are ignored).
        updates = defaultdict(list)
        for (
            line_id,
            start,
            won_status,
            date_closed,
            write_date,
            message_date,
            done_day,
            advance_date,
            resolved_result,
            resolved_date,
            linked_message_date,
            open_deadline,
        ) in self.env.cr.fetchall():
            end = start + window

            def within(moment, start=start, end=end):
                return moment if moment and start <= moment < end else None

            closed = within(date_closed)
            # A day done: its start, or the re-engagement's moment that day.
            done_date = done_day and max(start, datetime.combine(done_day, time.min))
            events = {
                "won": closed if won_status == "won" else None,
                "lost": closed if won_status == "lost" else None,
                "advanced": advance_date,
                "worked": min(
                    filter(
                        None,
                        [
                            message_date,
                            linked_message_date,
                            done_date,
                            within(write_date),
                        ],
                    ),
                    default=None,
                ),
            }
            # What ended the re-engagement by itself, as it was recorded.
            if resolved_result in events and within(resolved_date):
                events[resolved_result] = min(
                    filter(None, [events[resolved_result], resolved_date])
                )
            # Nothing happened yet: pending while the window is open and the
            # re-engagement still open and not overdue; ignored once it is
            # overdue, gone undone, or the window closed.
            waiting = now < end and open_deadline and open_deadline >= today
            result = next(
                (key for key, when in events.items() if when),
                "pending" if waiting else "ignored",
            )
            first = min(filter(None, events.values()), default=None)
            days = (first - start).days if first and result in REVIVED else 0
            updates[result, first, days, now >= end].append(line_id)
        for (result, first, days, closed), line_ids in updates.items():
            self.browse(line_ids).write(
                {
                    "revival_result": result,
                    "revival_date": first,
                    "revival_days": days,
                    "revival_closed": closed,
                    "revival_checked": today,
                }
            )
