import dataclasses
from datetime import timedelta

from odoo import api, fields, models
from odoo.exceptions import UserError
from odoo.tools import SQL, format_date, format_datetime, split_every

from .followup_const import (
    COUNT_FIELDS,
    DIGEST_OUTCOMES,
    LOG_ACTION,
    RESULT_OUTCOMES,
    TRIGGERS,
    WORKFLOW_NAME,
)
from .followup_params import LegacyParamsError, RunParams

PURGE_BATCH = 1000
# Lines deleted per transaction by the purge: a log of a big pipeline holds
# tens of thousands of them.
PURGE_LINE_BATCH = 10000
DIGEST_TEMPLATE = "crm_opportunity_followup.mail_template_followup_digest"
# Lines per INSERT: a chunk of the run's in one statement.
LINE_INSERT_BATCH = 1000
# How many new activities the summary email lists; the log has them all.
DIGEST_SIZE = 50


class WorkflowLog(models.Model):
    """One run of a workflow: who started it, with what, and what came out.

    Its life cycle is here: :meth:`_start`, :meth:`_add_lines` and
    :meth:`_add_counts` chunk by chunk, then :meth:`_close` or :meth:`_fail`;
    :meth:`_result` is what ``run()`` returns. Rows are written by the runner
    only (through ``sudo``); users read them.
    """

    _name = "workflow.log"
    _table = "workflow_log"
    _description = "Workflow Run Log"
    _order = "date_start desc, id desc"
    # The name shown is computed (trigger and date): searching by name looks
    # at the workflow and the trigger.
    _rec_names_search = ["workflow_name", "trigger"]

    # Run identity
    workflow_name = fields.Char(
        required=True, readonly=True, default=WORKFLOW_NAME, index=True
    )
    trigger = fields.Selection(TRIGGERS, required=True, readonly=True, default="manual")
    user_id = fields.Many2one(
        "res.users", string="Started By", readonly=True, index=True
    )
    company_id = fields.Many2one(
        "res.company",
        readonly=True,
        index=True,
        default=lambda self: self.env.company,
    )

    # Parameters used
    stale_days = fields.Integer(readonly=True)
    dry_run = fields.Boolean(string="Preview", readonly=True)
    confirmed_log_id = fields.Many2one(
        "workflow.log",
        string="Confirmed By Run",
        readonly=True,
        # Indexed: deleting logs (the purge) sets it to null on the others.
        index="btree_not_null",
        help="The run that scheduled the activities of this preview.",
    )
    filter_user_id = fields.Many2one(
        "res.users", string="Salesperson Filter", readonly=True
    )
    filter_team_id = fields.Many2one(
        "crm.team", string="Sales Team Filter", readonly=True
    )
    parameters = fields.Json(string="Parameters (JSON)", readonly=True)
    parameters_display = fields.Text(
        string="Parameters", compute="_compute_parameters_display"
    )

    # Outcome
    date_start = fields.Datetime(
        string="Started",
        required=True,
        readonly=True,
        default=fields.Datetime.now,
        # The purge's filter.
        index=True,
    )
    date_end = fields.Datetime(string="Ended", readonly=True)
    duration = fields.Float(
        string="Duration (s)", digits=(16, 1), readonly=True, aggregator="avg"
    )
    state = fields.Selection(
        [
            ("running", "Running"),
            ("done", "Done"),
            ("failed", "Failed"),
            # A daily run given up: started by a version before 19.0.1.1.0,
            # or more than a day ago (its message says which).
            ("interrupted", "Interrupted"),
        ],
        required=True,
        readonly=True,
        default="running",
        index=True,
    )
    steps = fields.Char(string="Steps Executed", readonly=True)
    steps_display = fields.Char(string="Steps", compute="_compute_steps_display")
    message = fields.Text(readonly=True)
    error = fields.Text(readonly=True)

    # Counts
    stale_count = fields.Integer(string="Stale", readonly=True)
    eligible_count = fields.Integer(string="Eligible", readonly=True)
    scheduled_count = fields.Integer(string="Scheduled", readonly=True)
    skipped_won_count = fields.Integer(string="Skipped (Won)", readonly=True)
    skipped_pending_count = fields.Integer(
        string="Skipped (Open Activity)", readonly=True
    )
    skipped_unassigned_count = fields.Integer(
        string="Skipped (No Assignee)", readonly=True
    )
    skipped_paused_count = fields.Integer(string="Skipped (Paused)", readonly=True)
    deferred_count = fields.Integer(string="Deferred (Daily Cap)", readonly=True)
    escalated_count = fields.Integer(
        string="Escalated",
        readonly=True,
        help="Re-engagements left undone past the escalation delay, escalated to "
        "the team leader in this run.",
    )
    decide_count = fields.Integer(
        string="Decisions Asked",
        readonly=True,
        help="Deals re-engaged in vain as many times as the settings allow: their "
        "team leader got a Decide activity instead of a further re-engagement.",
    )
    grouped_count = fields.Integer(
        string="Grouped (Same Customer)",
        readonly=True,
        help="Quiet deals of a customer whose biggest deal got the one "
        "re-engagement of the day, which lists them.",
    )
    held_out_count = fields.Integer(
        string="Held Out",
        readonly=True,
        help="Eligible opportunities drawn to measure the lift: not re-engaged, "
        "their results compared with the re-engaged ones'.",
    )
    skipped_held_out_count = fields.Integer(
        string="Skipped (Held Out)",
        readonly=True,
        help="Opportunities held out by an earlier run, left alone until their "
        "result window closes.",
    )
    error_count = fields.Integer(string="Errors", readonly=True)
    warning_count = fields.Integer(string="Warnings", readonly=True)

    line_ids = fields.One2many(
        "workflow.log.line", "log_id", string="Lines", readonly=True
    )
    details_purged = fields.Boolean(
        string="Only Results Kept",
        readonly=True,
        help="Older than the log retention: only the lines of the re-engagements "
        "this run scheduled are kept, with their results (the Re-engagement "
        "Effectiveness report's history); its other lines were deleted.",
    )

    # What became of this run's re-engagements (the Re-engagement Effectiveness
    # report's figures, for this run only).
    revival_won_count = fields.Integer(string="Won", compute="_compute_revival")
    revival_lost_count = fields.Integer(string="Lost", compute="_compute_revival")
    revival_advanced_count = fields.Integer(
        string="Advanced", compute="_compute_revival"
    )
    revival_worked_count = fields.Integer(string="Worked", compute="_compute_revival")
    revival_ignored_count = fields.Integer(string="Ignored", compute="_compute_revival")
    revival_pending_count = fields.Integer(string="Pending", compute="_compute_revival")
    revival_rate = fields.Float(
        string="Revival Rate (%)", digits=(16, 1), compute="_compute_revival"
    )
    revival_win_rate = fields.Float(
        string="Win Rate (%)", digits=(16, 1), compute="_compute_revival"
    )
    revival_median_days = fields.Float(
        string="Median Days to Revival", digits=(16, 1), compute="_compute_revival"
    )
    # The rates mean nothing while every re-engagement is pending: the form
    # shows them once one has a result, not as 0.0.
    revival_has_results = fields.Boolean(compute="_compute_revival")

    @api.depends("trigger", "date_start", "dry_run")
    @api.depends_context("tz")
    def _compute_display_name(self):
        triggers = dict(self._fields["trigger"]._description_selection(self.env))
        for log in self:
            when = format_datetime(self.env, log.date_start, dt_format="short")
            log.display_name = (
                self.env._(
                    "Preview: %(trigger)s, %(date)s",
                    trigger=triggers.get(log.trigger),
                    date=when,
                )
                if log.dry_run
                else self.env._(
                    "%(trigger)s, %(date)s",
                    trigger=triggers.get(log.trigger),
                    date=when,
                )
            )

    def _compute_revival(self):
        # The report's own figures, as its readers may see them: one query for
        # every log shown.
        Report = self.env["crm.followup.effectiveness.report"]
        counts = ["won", "lost", "advanced", "worked", "ignored", "pending"]
        groups = {
            log: values
            for log, *values in Report._read_group(
                # The run's own re-engagements, not the deals it held out.
                [("log_id", "in", self.ids), ("followup_group", "=", "reengaged")],
                ["log_id"],
                [
                    *(f"{result}_count:sum" for result in counts),
                    "revival_rate:avg",
                    "win_rate:avg",
                    "revival_days:median",
                ],
            )
        }
        for log in self:
            values = groups.get(log) or [0] * (len(counts) + 3)
            for result, count in zip(counts, values, strict=False):
                log[f"revival_{result}_count"] = count
            log.revival_rate, log.revival_win_rate, log.revival_median_days = (
                value or 0.0 for value in values[len(counts) :]
            )
            log.revival_has_results = any(
                count
                for result, count in zip(counts, values, strict=False)
                if result != "pending"
            )

    @api.depends("steps")
    def _compute_steps_display(self):
        """The steps as a sales manager reads them (the technical names are
        the API's, shown in developer mode)."""
        labels = {
            "detect_stale": self.env._("found the stale opportunities"),
            "filter_eligible": self.env._("left out the won, paused and busy ones"),
            "escalate_overdue": self.env._("escalated the ignored re-engagements"),
            "draft_message": self.env._("drafted the briefs"),
            "schedule_activity": self.env._("booked the activities"),
            "log_execution": self.env._("logged the run"),
        }
        for log in self:
            steps = (log.steps or "").split(",")
            words = [labels.get(step, step) for step in steps if step]
            text = ", ".join(words)
            log.steps_display = text[:1].upper() + text[1:] or False

    @api.depends("parameters")
    def _compute_parameters_display(self):
        """The parameters as a sales manager reads them: labelled values,
        records by name, "—" for none (the raw JSON is for developer mode)."""
        clocks = dict(
            self.env["res.config.settings"]
            ._fields["followup_clock"]
            ._description_selection(self.env)
        )
        for log in self:
            try:
                params = log._params()
            except LegacyParamsError:  # a log of a version before 19.0.1.1.0
                log.parameters_display = False
                continue
            users, teams = self.env["res.users"], self.env["crm.team"]

            def name(record):
                return record.exists().display_name or "—"

            lines = [
                (
                    self.env._("Stale after"),
                    self.env._("%(days)s days", days=params.stale_days),
                ),
                (self.env._("Counts as an update"), clocks.get(params.clock)),
                (
                    self.env._("Activity"),
                    name(
                        self.env["mail.activity.type"].browse(params.activity_type_id)
                    ),
                ),
                (
                    self.env._("Due in"),
                    self.env._("%(days)s days", days=params.deadline_days),
                ),
                (self.env._("Salesperson"), name(users.browse(params.user_id))),
                (self.env._("Sales team"), name(teams.browse(params.team_id))),
                (
                    self.env._("Opportunities"),
                    self.env._("%(count)s selected", count=len(params.lead_ids))
                    if params.lead_ids is not None
                    else "—",
                ),
                (
                    self.env._("Default re-engagement user"),
                    name(users.browse(params.default_user_id)),
                ),
            ]
            log.parameters_display = "\n".join(
                f"{label}: {value}" for label, value in lines
            )

    # ------------------------------------------------------------
    # Actions
    # ------------------------------------------------------------

    def action_confirm_preview(self):
        """Schedule exactly the opportunities this preview listed."""
        self.ensure_one()
        if not self.dry_run:
            raise UserError(
                self.env._(
                    "This log is a run, not a preview: there is nothing to confirm."
                )
            )
        if self.confirmed_log_id:
            raise UserError(self.env._("This preview has already been confirmed."))
        try:
            params = self._params()
        except LegacyParamsError:
            # Its list was made by an older version's rules, and it lacks the
            # parameters a run needs to book exactly what it showed.
            raise UserError(
                self.env._(
                    "This preview was made by an older version of Re-engagement, "
                    "before an upgrade: it can no longer be confirmed. Preview "
                    "again, then confirm the new preview."
                )
            ) from None
        leads = self.line_ids.filtered(lambda line: line.outcome == "preview").lead_id
        # The preview's own thresholds: its explicit number of days, else
        # each stage's and team's, as it listed them.
        result = self.env["opportunity.followup.runner"].run(
            stale_days=self.stale_days if params.explicit_days else None,
            lead_ids=leads.ids,
            trigger=self.trigger,
        )
        # The preview is the runner's record: users never write it themselves.
        self.sudo().confirmed_log_id = result["log_id"]
        return self.browse(result["log_id"])._action_notify()

    def action_open_lines(self):
        """Open the per-opportunity lines of this run."""
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "name": self.display_name,
            "res_model": "workflow.log.line",
            "view_mode": "list,form",
            "domain": [("log_id", "=", self.id)],
            "context": {"search_default_group_outcome": 1},
        }

    def _action_notify(self):
        """A notification with the run's message and a link to its log."""
        self.ensure_one()
        ok = self.state == "done"
        kind = "danger" if not ok else "warning" if self.error_count else "success"
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "title": self.env._("Re-engagement"),
                # %s is where the web client puts the link to the log.
                "message": self.message.replace("%", "%%") + " %s",
                "links": [{"label": self.env._("Open the log"), "url": self._url()}],
                # A run with errors says so until it is read.
                "type": kind,
                "sticky": kind != "success",
            },
        }

    def _url(self):
        """Where the run's log opens in the web client."""
        self.ensure_one()
        return f"/odoo/action-{LOG_ACTION}/{self.id}"

    def _action_preview(self):
        """The preview window: what a run would do, with a button to do it."""
        self.ensure_one()
        if self.state != "done":
            return self._action_notify()
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Re-engagement Preview"),
            "res_model": "workflow.log",
            "res_id": self.id,
            "view_mode": "form",
            "views": [
                (
                    self.env.ref(
                        "crm_opportunity_followup.workflow_log_view_form_preview"
                    ).id,
                    "form",
                )
            ],
            "target": "new",
            "context": {"dialog_size": "extra-large"},
        }

    # ------------------------------------------------------------
    # Life cycle of a run
    # ------------------------------------------------------------

    @api.model
    def _start(self, params):
        """The log of a new run (state *running*)."""
        # The log is the runner's own record: users read it, never write it.
        return self.sudo().create(
            {
                "workflow_name": WORKFLOW_NAME,
                "trigger": params.trigger,
                "user_id": self.env.user.id,
                "company_id": self.env.company.id,
                "date_start": params.now,
                "stale_days": params.stale_days,
                "dry_run": params.dry_run,
                "filter_user_id": params.user_id,
                "filter_team_id": params.team_id,
                "parameters": params.to_json(),
                "warning_count": len(params.warnings),
            }
        )

    def _params(self):
        """The run's parameters, as it started (a resumed run uses them)."""
        self.ensure_one()
        return RunParams.from_json(self.parameters)

    def _add_lines(self, vals_list):
        """One line per opportunity considered; the result of a scheduled
        re-engagement (or a held-out deal) is pending until the daily refresh.

        Inserted in one statement per batch, not with ``create()``: a run
        writes a line per opportunity it considers, and the ORM's work per
        record (defaults, cache, inverses) cost a run as much as drafting the
        briefs. Lines have no default, no computed stored field, no constraint
        and nothing depending on them for it to apply; each value goes through
        its field's own conversion to a column, as ``create()`` would."""
        self.ensure_one()
        # The log is the runner's own record (see _start).
        Line = self.env["workflow.log.line"].sudo()
        now = self.env.cr.now()
        rows = [
            dict(
                vals,
                log_id=self.id,
                revival_result="pending"
                if vals["outcome"] in RESULT_OUTCOMES
                else False,
                create_uid=self.env.uid,
                create_date=now,
                write_uid=self.env.uid,
                write_date=now,
            )
            for vals in vals_list
        ]
        columns = [
            Line._fields[name]
            for name in sorted({name for row in rows for name in row})
        ]
        for batch in split_every(LINE_INSERT_BATCH, rows):
            self.env.cr.execute(
                SQL(
                    "INSERT INTO %s (%s) VALUES %s",
                    SQL.identifier(Line._table),
                    SQL(", ").join(SQL.identifier(field.name) for field in columns),
                    # A value missing from a line is null, as create() leaves
                    # it (no column of theirs has a default).
                    SQL(", ").join(
                        tuple(
                            field.convert_to_column_insert(row[field.name], Line, row)
                            if field.name in row
                            else None
                            for field in columns
                        )
                        for row in batch
                    ),
                )
            )
        # What the cache knew of the log's lines is out of date.
        self.invalidate_recordset(["line_ids"])

    def _booked_counts(self):
        """``{assignee id: re-engagements}`` this run booked (or would, in a
        preview) so far: a resumed run's daily cap counts them."""
        self.ensure_one()
        return {
            user.id: count
            for user, count in self.env["workflow.log.line"]
            .sudo()
            ._read_group(
                [("log_id", "=", self.id), ("outcome", "in", ("scheduled", "preview"))],
                ["assignee_id"],
                ["__count"],
            )
        }

    def _considered_leads(self):
        """The opportunities this run has a line for (a query): a resumed run
        leaves them out."""
        self.ensure_one()
        return (
            self.env["workflow.log.line"]
            .sudo()
            ._search([("log_id", "=", self.id), ("lead_id", "!=", False)])
            .subselect("lead_id")
        )

    def _add_counts(self, counts):
        """Add a chunk's counts (``{result key: number}``) to the run's."""
        self.ensure_one()
        self.sudo().write(
            {
                COUNT_FIELDS[key]: self[COUNT_FIELDS[key]] + number
                for key, number in counts.items()
                if number
            }
        )

    def _counts(self):
        self.ensure_one()
        return {key: self[fname] for key, fname in COUNT_FIELDS.items()}

    def _close(self, duration, warning=None):
        """The run is over: state *done*, its steps and its message."""
        self.ensure_one()
        self.sudo().write(
            {
                "state": "done",
                "date_end": fields.Datetime.now(),
                "duration": self.duration + duration,
                "steps": ",".join(self._steps()),
                "message": " ".join(filter(None, [self._result_message(), warning])),
            }
        )

    def _fail(self, error, duration):
        """The run failed: state *failed* and the error, readable by people."""
        self.ensure_one()
        self.sudo().write(
            {
                "state": "failed",
                "date_end": fields.Datetime.now(),
                "duration": self.duration + duration,
                "message": self.env._(
                    "The re-engagement run failed: %(error)s", error=error
                ),
                "error": error,
            }
        )

    def _interrupt(self, reason):
        """The run will not go on (the daily job gave it up): state
        *interrupted*, and why in its message."""
        self.ensure_one()
        self.sudo().write(
            {
                "state": "interrupted",
                "date_end": fields.Datetime.now(),
                "message": reason,
            }
        )

    def _result(self):
        """What ``run()`` returns, the workflow document's output shape; with
        ``"error": False`` when there is none, which XML-RPC can send (it has
        no null). ``POST /workflows/run`` answers the document's null."""
        self.ensure_one()
        ok = self.state == "done"
        return {
            "success": ok,
            "steps_executed": self._steps() if ok else [],
            "message": self.message,
            "error": False if ok else self.error,
            "log_id": self.id,
            "counts": self._counts() if ok else dict.fromkeys(COUNT_FIELDS, 0),
        }

    def _steps(self):
        """The steps that ran, which the counts tell."""
        steps = ["detect_stale"]
        if self.stale_count:
            steps.append("filter_eligible")
        # The escalation looks at the opportunities skipped for an open
        # activity, when it is on.
        if (
            not self.dry_run
            and (self.skipped_pending_count or self.escalated_count)
            and self._params().escalate_after_days
        ):
            steps.append("escalate_overdue")
        # A held-out deal is eligible, and gets no brief.
        if self.eligible_count - self.held_out_count:
            steps.append("draft_message")
            if not self.dry_run:
                steps.append("schedule_activity")
        return [*steps, "log_execution"]

    def _result_message(self):
        """The run's outcome in a sentence or two, singular and plural right
        (each form a whole sentence, for the translators)."""
        counts, days = self._counts(), self.stale_days
        params = self._params()
        own_days = not params.explicit_days and (params.stage_days or params.team_days)
        stale, scheduled = counts["stale"], counts["scheduled"]
        if not stale:
            parts = [
                self.env._(
                    "No stale opportunity older than %(days)s days (or their stage's "
                    "or team's own number): nothing to do.",
                    days=days,
                )
                if own_days
                else self.env._(
                    "No stale opportunity older than %(days)s days: nothing to do.",
                    days=days,
                )
            ]
        else:
            parts = [
                self.env._(
                    "Found 1 stale opportunity older than %(days)s days.", days=days
                )
                if stale == 1
                else self.env._(
                    "Found %(count)s stale opportunities older than %(days)s days.",
                    count=stale,
                    days=days,
                )
            ]
            if own_days:
                parts.append(
                    self.env._("Stages and teams with their own number used theirs.")
                )
            if scheduled and self.dry_run:
                parts.append(
                    self.env._("Preview: 1 re-engagement would be scheduled.")
                    if scheduled == 1
                    else self.env._(
                        "Preview: %(count)s re-engagements would be scheduled.",
                        count=scheduled,
                    )
                )
            elif scheduled:
                parts.append(
                    self.env._("1 re-engagement scheduled.")
                    if scheduled == 1
                    else self.env._(
                        "%(count)s re-engagements scheduled.", count=scheduled
                    )
                )
            else:
                parts.append(self.env._("No re-engagement scheduled."))
            if counts["skipped_won"] or counts["skipped_pending"]:
                parts.append(
                    self.env._(
                        "Skipped: %(won)s won, %(pending)s with an open activity.",
                        won=counts["skipped_won"],
                        pending=counts["skipped_pending"],
                    )
                )
            escalated = counts["escalated"]
            if escalated:
                parts.append(
                    self.env._("1 ignored re-engagement escalated to the team leader.")
                    if escalated == 1
                    else self.env._(
                        "%(count)s ignored re-engagements escalated to their team "
                        "leader.",
                        count=escalated,
                    )
                )
            if counts["decide"]:
                parts.append(
                    self.env._(
                        "%(count)s re-engaged in vain: their team leader is asked to "
                        "decide.",
                        count=counts["decide"],
                    )
                )
            if counts["grouped"]:
                parts.append(
                    self.env._(
                        "%(count)s grouped with another deal of the same customer.",
                        count=counts["grouped"],
                    )
                )
            if counts["skipped_unassigned"]:
                parts.append(
                    self.env._(
                        "%(count)s not scheduled: no one to assign them to (choose a "
                        "default re-engagement user in the settings).",
                        count=counts["skipped_unassigned"],
                    )
                )
            if counts["skipped_paused"]:
                parts.append(
                    self.env._("%(count)s paused.", count=counts["skipped_paused"])
                )
            if counts["deferred"]:
                parts.append(
                    self.env._(
                        "%(count)s deferred by the daily cap: they come first next "
                        "time.",
                        count=counts["deferred"],
                    )
                )
            if counts["held_out"]:
                parts.append(
                    self.env._(
                        "%(count)s held out to measure the lift: not re-engaged.",
                        count=counts["held_out"],
                    )
                )
            if counts["skipped_held_out"]:
                parts.append(
                    self.env._(
                        "%(count)s held out earlier, left alone until their result "
                        "is known.",
                        count=counts["skipped_held_out"],
                    )
                )
            if counts["errors"]:
                parts.append(
                    self.env._("1 could not be scheduled: see the log.")
                    if counts["errors"] == 1
                    else self.env._(
                        "%(count)s could not be scheduled: see the log.",
                        count=counts["errors"],
                    )
                )
        parts += self._params().warnings
        return " ".join(parts)

    # ------------------------------------------------------------
    # The daily job's cycle
    # ------------------------------------------------------------

    @api.model
    def _cron_cycle(self):
        """The daily runs of this call of the job (it runs every hour): those
        still *running* (an earlier call stopped by the time budget, or a
        killed worker), and a new run for each company switched on whose time
        has come today where it is and which has no daily run yet today. A
        run is done when its log is: the cycle ends when none is running."""
        Log = self.sudo()
        now = fields.Datetime.now()
        running = Log.search(
            [("trigger", "=", "cron"), ("state", "=", "running")], order="id"
        )
        resumed = Log
        for company_logs in running.grouped("company_id").values():
            for log in company_logs[:-1]:
                log._fail(self.env._("Superseded by a later run."), 0)
            log = company_logs[-1]
            if log.date_start < now - timedelta(days=1):
                # Its moment is more than a day old: resumed, it would count
                # days and deadlines from then. Today's run starts afresh.
                log._interrupt(
                    self.env._(
                        "Interrupted: it started more than a day ago and never "
                        "finished; a new run replaces it."
                    )
                )
                continue
            try:
                log._params()
            except (KeyError, TypeError):
                log._interrupt(
                    self.env._(
                        "Interrupted: started by an older version of the "
                        "module, it cannot resume."
                    )
                )
                continue
            resumed |= log
        # Each company decides: only those switched on in the settings.
        companies = self.env["res.company"].search(
            [("active", "=", True), ("followup_active", "=", True)], order="id"
        )
        due = (companies - resumed.company_id)._followup_due(now)
        logs = resumed
        for company in due:
            company_env = self.with_company(company).with_context(
                allowed_company_ids=company.ids
            )
            params = dataclasses.replace(
                RunParams.from_call(company_env.env, trigger="cron"),
                now=now,
                # Opportunities without a company belong to the first
                # company's run, so that they are considered exactly once.
                company_ids=(company.id, False)
                if company == companies[:1]
                else (company.id,),
            )
            logs |= company_env._start(params).sudo()
        return logs

    def _cron_failed(self):
        """The companies' runs of the cycle of these logs that failed, in
        this call of the job or an earlier one."""
        return self.sudo().search(
            [
                ("trigger", "=", "cron"),
                ("state", "=", "failed"),
                ("date_start", "in", list(set(self.mapped("date_start")))),
            ]
        )

    # ------------------------------------------------------------
    # Summary emails
    # ------------------------------------------------------------

    def _digest_lines(self, Line, assignee, outcome):
        """The first lines of ``assignee``'s ``outcome`` in this run, by the
        expected revenue the email shows, highest first, then the longest
        quiet: sorted by what the reader sees (the run's own priority, the
        prorated revenue, would list $8,400 above $12,000)."""
        query = Line._search(
            [
                ("log_id", "=", self.id),
                ("outcome", "=", outcome),
                ("assignee_id", "=", assignee.id),
            ],
            limit=DIGEST_SIZE,
        )
        # One query, as the search it replaces: the ORM orders by the line's
        # own fields only.
        lead = query.left_join(query.table, "lead_id", "crm_lead", "id", "lead_id")
        query.order = SQL(
            "%s DESC NULLS LAST, %s DESC, %s",
            SQL.identifier(lead, "expected_revenue"),
            SQL.identifier(query.table, "days_stale"),
            SQL.identifier(query.table, "id"),
        )
        return Line.browse(query.get_result_ids())

    def _send_digests(self):
        """One e-mail per salesperson listing their new activities, in their
        language, instead of Odoo's one "assigned to you" e-mail per activity;
        the escalations a team leader gets are listed apart. None for a
        preview, a run that booked nothing, or when the settings say so."""
        self.ensure_one()
        params = self._params()
        if params.dry_run or not params.send_digest:
            return
        if not (self.scheduled_count or self.escalated_count or self.decide_count):
            return
        template = self.env.ref(DIGEST_TEMPLATE, raise_if_not_found=False)
        if not template:
            return
        # The log is the runner's own record (see _start).
        Line = self.env["workflow.log.line"].sudo()
        counts = {
            (assignee, outcome): count
            for assignee, outcome, count in Line._read_group(
                [("log_id", "=", self.id), ("outcome", "in", DIGEST_OUTCOMES)],
                ["assignee_id", "outcome"],
                ["__count"],
            )
        }
        recipients = [
            assignee
            for assignee in {assignee for assignee, _outcome in counts}
            if assignee.partner_id.email
            # Who ran it by hand has just seen the outcome.
            and (self.trigger == "cron" or assignee != self.user_id)
        ]
        # A long list belongs in the app, not in an email.
        listed = {
            (assignee, outcome): self._digest_lines(Line, assignee, outcome)
            if counts.get((assignee, outcome))
            else Line
            for assignee in recipients
            for outcome in DIGEST_OUTCOMES
        }
        # Every email's lines, their opportunities and activities are read
        # together, not once per email.
        prefetch = Line.union(*listed.values())._prefetch_ids
        for assignee in recipients:
            lines = {
                outcome: listed[assignee, outcome].with_prefetch(prefetch)
                for outcome in DIGEST_OUTCOMES
            }
            count = counts.get((assignee, "scheduled"), 0)
            escalation_count = counts.get((assignee, "escalated"), 0)
            decision_count = counts.get((assignee, "decide"), 0)
            # Rendered and sent as the one who runs it, not as the log's sudo.
            template.sudo(False).with_context(
                followup_subject=self._digest_subject(
                    assignee,
                    count,
                    escalation_count,
                    lines["scheduled"],
                    decision_count=decision_count,
                ),
                followup_count=count,
                followup_lines=lines["scheduled"],
                followup_more=count - len(lines["scheduled"]),
                followup_escalation_count=escalation_count,
                followup_escalations=lines["escalated"],
                followup_escalations_more=escalation_count - len(lines["escalated"]),
                followup_decision_count=decision_count,
                followup_decisions=lines["decide"],
                followup_decisions_more=decision_count - len(lines["decide"]),
                followup_log=self,
            ).send_mail(assignee.id, email_layout_xmlid="mail.mail_notification_light")

    @api.model
    def _digest_subject(
        self, assignee, count, escalation_count, lines, decision_count=0
    ):
        """The summary email's subject, in the assignee's language, singular
        and plural right, with the day the re-engagements are due."""
        env = self.with_context(lang=assignee.lang or self.env.lang).env
        deadlines = [
            deadline
            for deadline in lines.activity_id.mapped("date_deadline")
            if deadline
        ]
        due = format_date(env, min(deadlines)) if deadlines else None
        parts = []
        if count == 1:
            parts.append(
                env._("1 stale opportunity to re-engage by %(date)s", date=due)
                if due
                else env._("1 stale opportunity to re-engage")
            )
        elif count:
            parts.append(
                env._(
                    "%(count)s stale opportunities to re-engage by %(date)s",
                    count=count,
                    date=due,
                )
                if due
                else env._("%(count)s stale opportunities to re-engage", count=count)
            )
        if escalation_count == 1:
            parts.append(env._("1 re-engagement escalated to you"))
        elif escalation_count:
            parts.append(
                env._(
                    "%(count)s re-engagements escalated to you", count=escalation_count
                )
            )
        if decision_count == 1:
            parts.append(env._("1 deal to decide on"))
        elif decision_count:
            parts.append(env._("%(count)s deals to decide on", count=decision_count))
        return ", ".join(parts)

    # ------------------------------------------------------------
    # Housekeeping
    # ------------------------------------------------------------

    @api.model
    def _cron_purge_old_logs(self):
        """Past the retention setting (0 keeps them all), a run keeps only the
        lines of the re-engagements it scheduled and of the deals it held out:
        their results are the
        Re-engagement Effectiveness report's history, which the retention
        must not cut. A run without any (a preview, a run that booked
        nothing) is deleted.

        Lines go in batches, each batch its own transaction in the cron: a big
        backlog never holds one long transaction.
        """
        days = self.env["res.config.settings"]._followup_settings()[
            "log_retention_days"
        ]
        if days <= 0:
            return
        in_cron = bool(self.env.context.get("cron_id"))
        # Runs already reduced to their results are not read again.
        domain = [
            ("date_start", "<", fields.Datetime.now() - timedelta(days=days)),
            ("details_purged", "=", False),
        ]
        Line = self.env["workflow.log.line"]
        # Until nothing is left (another process may delete logs meanwhile), or
        # until the cron's time budget is spent: the scheduler calls again.
        while logs := self.search(domain, limit=PURGE_BATCH):
            while lines := Line.search(
                [("log_id", "in", logs.ids), ("outcome", "not in", RESULT_OUTCOMES)],
                limit=PURGE_LINE_BATCH,
            ):
                lines.unlink()
                if in_cron and not self.env["ir.cron"]._commit_progress(
                    len(lines), remaining=self.search_count(domain)
                ):
                    return
            # Every line left counts, of whichever company (a run may book
            # deals of several): a run is deleted only with no result left.
            with_results = self.browse(
                log.id
                for [log] in Line.sudo()._read_group(
                    [("log_id", "in", logs.ids)], ["log_id"]
                )
            )
            (logs - with_results).unlink()
            # The log is the runner's record: nobody may write it, the
            # purge's cron user included (it may only delete).
            with_results.sudo().details_purged = True
            if in_cron and not self.env["ir.cron"]._commit_progress(
                len(logs), remaining=self.search_count(domain)
            ):
                return
