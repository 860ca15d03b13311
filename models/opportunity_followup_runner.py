import contextlib
import contextvars
import dataclasses
import logging
import time
from collections import Counter
from datetime import timedelta

import psycopg2.errors

from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError
from odoo.fields import Domain
from odoo.tools import format_date, split_every

from .followup_const import (
    ESCALATION_ACTIVITY_TYPE,
    STALE_DAYS_MAX,
    STALE_DAYS_MIN,
    TRIGGERS,
    FollowupParameterError,
)
from .followup_params import RunParams, RunState

_logger = logging.getLogger(__name__)

UNIQUE_INDEX = "mail_activity_followup_open_unique"
ESCALATION_UNIQUE_INDEX = "mail_activity_followup_escalation_open_unique"
UNIQUE_INDEXES = (UNIQUE_INDEX, ESCALATION_UNIQUE_INDEX)
DIGEST_TEMPLATE = "crm_opportunity_followup.mail_template_followup_digest"
# Big enough for one INSERT per few hundred activities, small enough that a
# crash loses little and memory stays flat on a 50k pipeline.
CHUNK_SIZE = 500
# How many new activities the digest e-mail lists; the log has them all.
DIGEST_SIZE = 50
# What the digest lists, each apart.
DIGEST_OUTCOMES = ("scheduled", "escalated")
OUTCOME_COUNTS = {
    "scheduled": "scheduled",
    "preview": "scheduled",
    "skipped_won": "skipped_won",
    "skipped_pending": "skipped_pending",
    "skipped_unassigned": "skipped_unassigned",
    "skipped_paused": "skipped_paused",
    "deferred": "deferred",
    "escalated": "escalated",
    "error": "errors",
}
# How long a deferral puts an opportunity first in the queue.
DEFERRED_PRIORITY_DAYS = 30

# Set while the runner inserts a batch of activities that a concurrent run may
# have booked first (see _ConcurrentBookingFilter).
_booking = contextvars.ContextVar("followup_booking", default=False)


class _ConcurrentBookingFilter(logging.Filter):
    """Keeps ``odoo.sql_db``'s "bad query" ERROR out of the log for the one
    expected race: this thread's insert of a re-engagement (or escalation)
    that a concurrent run booked a moment before, which a unique index refuses
    and the runner logs as skipped. Only in the thread doing it, only for those
    indexes: every
    other error, and every other thread's, is logged as usual."""

    def filter(self, record):
        if not _booking.get():
            return True
        error = record.args[-1] if isinstance(record.args, tuple) else None
        return not (
            isinstance(error, psycopg2.errors.UniqueViolation)
            and error.diag.constraint_name in UNIQUE_INDEXES
        )


if not any(
    isinstance(f, _ConcurrentBookingFilter)
    for f in logging.getLogger("odoo.sql_db").filters
):
    logging.getLogger("odoo.sql_db").addFilter(_ConcurrentBookingFilter())


class OpportunityFollowupRunner(models.AbstractModel):
    """The stale-opportunity follow-up workflow.

    :meth:`run` validates the parameters once (:meth:`_prepare_params`),
    checks who may run it, then works chunk by chunk through the workflow
    document's steps, in this order: :meth:`_detect_stale`,
    :meth:`_filter_eligible`, :meth:`_escalate_overdue`, :meth:`_draft_message`,
    :meth:`_schedule_activity`, :meth:`_log_execution`. What "stale" means is
    ``crm.lead``'s; the run's log keeps its own life cycle (``workflow.log``).
    The runner never writes on ``crm.lead``: a write would bump ``write_date``
    and reset the very clock it measures.
    """

    _name = "opportunity.followup.runner"
    _description = "Re-engagement Runner"

    _chunk_size = CHUNK_SIZE

    # ------------------------------------------------------------
    # Entry points
    # ------------------------------------------------------------

    @api.model
    def run(
        self,
        stale_days=None,
        user_id=None,
        team_id=None,
        lead_ids=None,
        trigger="manual",
        dry_run=False,
    ):
        """Run the follow-up workflow once and return its outcome.

        :param stale_days: days without work before an opportunity is stale
            (1 to 3650); ``None`` takes the value from the settings.
        :param user_id: only this salesperson's opportunities (id); a user that
            does not exist or cannot be seen is ignored with a warning.
        :param team_id: only this sales team's opportunities (id); same rule.
        :param lead_ids: only these opportunities (ids), e.g. a list selection.
        :param trigger: what started the run, stored on its log (one of
            ``workflow.log``'s triggers).
        :param dry_run: detect, filter and draft only: the log lists what would
            be scheduled (a preview) and no activity is created.
        :return: ``{"success", "steps_executed", "message", "error", "log_id",
            "counts"}``
        :raise UserError: on a malformed parameter; nothing is created then.
        :raise AccessError: when the user may not run it on that scope.
        """
        return self._run(
            self._prepare_params(
                stale_days, user_id, team_id, lead_ids, trigger, dry_run
            )
        )

    @api.model
    def _run(self, params):
        """Run with validated parameters (a :class:`RunParams`), as the
        current user: what :meth:`run` and the scheduling wizard do."""
        self._check_run_access(params)
        log = self.env["workflow.log"]._start(params)
        started = time.monotonic()
        try:
            # One transaction: a failure undoes all of it but its log.
            with self.env.cr.savepoint():
                self._process(log, params)
        except psycopg2.errors.TransactionRollbackError:
            # Serialization failures and deadlocks: let Odoo retry the request.
            raise
        except Exception as exc:
            _logger.exception("Opportunity follow-up run %s failed", log.id)
            log._fail(self._error_text(exc), time.monotonic() - started)
        else:
            self._log_execution(log, time.monotonic() - started)
        return log._result()

    @api.model
    def _cron_run_followup(self):
        """The daily scheduled action: one run per company switched on in the
        settings, in that company's timezone, within the cron's time budget.

        When the budget is spent, the run's log stays *running* and the
        scheduler calls again at once: the next call resumes that run where it
        stopped (a killed worker's run too). A company's failure is recorded on
        its log, the other companies still run, and the job then fails, so that
        ``ir.cron`` counts it (and deactivates a job failing every day).
        """
        in_cron = bool(self.env.context.get("cron_id"))
        # The scheduler calls a job again and again within one round of 10 s.
        # A call that starts with that time spent ends the round at once, with
        # work left: the scheduler then starts a new round. Even one chunk more
        # could outlast a short limit_time_real_cron.
        if self._commit_progress(0, remaining=1) <= 0:
            return
        logs = self._cron_cycle()
        for log in logs:
            company = log.company_id
            runner = self.with_company(company).with_context(
                allowed_company_ids=company.ids
            )
            started = time.monotonic()
            try:
                with contextlib.nullcontext() if in_cron else self.env.cr.savepoint():
                    finished = runner._process(log, log._params())
                    if finished:
                        runner._log_execution(log, time.monotonic() - started)
            except psycopg2.errors.TransactionRollbackError:
                raise
            except Exception as exc:
                _logger.exception("Opportunity follow-up run %s failed", log.id)
                if in_cron:
                    # Back to the last committed chunk: what failed is undone,
                    # the transaction is usable again to record the failure.
                    self.env.cr.rollback()
                log._fail(self._error_text(exc), time.monotonic() - started)
                self._commit_progress(0)
                continue
            if not finished:
                log.sudo().duration += time.monotonic() - started
                self._commit_progress(0)
                return
        self._commit_progress(0, remaining=0)
        # Every company of the cycle, failed in this call or an earlier one.
        failed = (
            self.env["workflow.log"]
            .sudo()
            .search(
                [
                    ("trigger", "=", "cron"),
                    ("state", "=", "failed"),
                    ("date_start", "in", list(set(logs.mapped("date_start")))),
                ]
            )
        )
        if failed:
            raise UserError(
                self.env._(
                    "The daily re-engagement failed for %(companies)s: see the "
                    "Re-engagement Logs.",
                    companies=", ".join(failed.company_id.mapped("name")),
                )
            )

    @api.model
    def _cron_cycle(self):
        """The daily runs of this call of the job (it runs every hour): those
        still *running* (an earlier call stopped by the time budget, or a
        killed worker), and a new run for each company switched on whose time
        has come today where it is and which has no daily run yet today. A
        run is done when its log is: the cycle ends when none is running."""
        Log = self.env["workflow.log"].sudo()
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
            runner = self.with_company(company).with_context(
                allowed_company_ids=company.ids
            )
            params = dataclasses.replace(
                runner._prepare_params(None, None, None, None, "cron"),
                now=now,
                # Opportunities without a company belong to the first
                # company's run, so that they are considered exactly once.
                company_ids=(company.id, False)
                if company == companies[:1]
                else (company.id,),
            )
            logs |= runner.env["workflow.log"]._start(params).sudo()
        if due:
            # Shows the runs as running while they work, and keeps them if
            # the process dies: the next call resumes them.
            self._commit_progress(0)
        return logs

    # ------------------------------------------------------------
    # Parameters and access
    # ------------------------------------------------------------

    @api.model
    def _prepare_params(
        self, stale_days, user_id, team_id, lead_ids, trigger, dry_run=False
    ):
        """Validate the parameters of a run and complete them from the settings.

        :return: a :class:`RunParams`
        """
        if trigger not in dict(TRIGGERS):
            raise FollowupParameterError(
                self.env._(
                    "trigger must be one of %(triggers)s; received %(value)r.",
                    triggers=", ".join(dict(TRIGGERS)),
                    value=trigger,
                ),
                "trigger",
            )
        settings = self.env["res.config.settings"]._followup_settings()
        values = {
            key: settings[key]
            for key in (
                "stale_days",
                "deadline_days",
                "overdue_threshold",
                "activity_type_id",
                "default_user_id",
                "clock",
                "send_digest",
                "working_days",
                "daily_cap",
                "escalate_after_days",
            )
        }
        warnings = []
        if stale_days is not None:
            if (
                not isinstance(stale_days, int)
                or isinstance(stale_days, bool)
                or not STALE_DAYS_MIN <= stale_days <= STALE_DAYS_MAX
            ):
                raise FollowupParameterError(
                    self.env._(
                        "stale_days must be a whole number from %(min)s to %(max)s; "
                        "received %(value)r.",
                        min=STALE_DAYS_MIN,
                        max=STALE_DAYS_MAX,
                        value=stale_days,
                    ),
                    "stale_days",
                )
            values["stale_days"] = stale_days
            values["explicit_days"] = True
        else:
            # Each stage its own threshold, unless the run was given a number.
            # Each stage, else each team, its own threshold, unless the run
            # was given a number.
            values["stage_days"] = tuple(
                sorted(self.env["crm.lead"]._followup_stage_days().items())
            )
            values["team_days"] = tuple(
                sorted(self.env["crm.lead"]._followup_team_days().items())
            )
        values["team_activity_types"] = tuple(
            (team.id, team.followup_activity_type_id.id)
            for team in self.env["crm.team"]
            .with_context(active_test=False)
            .search([("followup_activity_type_id", "!=", False)])
        )
        if trigger == "cron":
            values["teams_off"] = tuple(self.env["crm.lead"]._followup_teams_off())
        for key, model, record_id in (
            ("user_id", "res.users", user_id),
            ("team_id", "crm.team", team_id),
        ):
            if record_id in (None, False, 0):
                continue
            if not isinstance(record_id, int) or isinstance(record_id, bool):
                raise FollowupParameterError(
                    self.env._(
                        "%(parameter)s must be the id of a record (a whole number); "
                        "received %(value)r.",
                        parameter=key,
                        value=record_id,
                    ),
                    key,
                )
            record = self.env[model].browse(record_id).exists()
            if record and record.has_access("read"):
                values[key] = record.id
            else:
                warnings.append(
                    self.env._(
                        "%(parameter)s %(value)s does not exist or is not visible to "
                        "you: filter ignored, all eligible opportunities processed.",
                        parameter=key,
                        value=record_id,
                    )
                )
        if lead_ids is not None:
            if not isinstance(lead_ids, (list, tuple)) or not all(
                isinstance(i, int) and not isinstance(i, bool) for i in lead_ids
            ):
                raise FollowupParameterError(
                    self.env._(
                        "lead_ids must be a list of opportunity ids; "
                        "received %(value)r.",
                        value=lead_ids,
                    ),
                    "lead_ids",
                )
            values["lead_ids"] = tuple(lead_ids)
        if not isinstance(dry_run, bool):
            raise FollowupParameterError(
                self.env._(
                    "dry_run must be true or false; received %(value)r.", value=dry_run
                ),
                "dry_run",
            )
        return RunParams(
            trigger=trigger,
            now=fields.Datetime.now(),
            dry_run=dry_run,
            warnings=tuple(warnings),
            **values,
        )

    @api.model
    def _check_run_access(self, params):
        """Least privilege: the whole pipeline for sales managers, a selection
        of opportunities for whoever may change all of them."""
        if self.env.su:
            return
        own_pipeline = params.user_id == self.env.uid
        if params.lead_ids is not None or own_pipeline:
            if not self.env.user.has_group("sales_team.group_sale_salesman"):
                raise AccessError(
                    self.env._("Only salespeople can schedule re-engagements.")
                )
            if params.lead_ids is not None:
                self.env["crm.lead"].browse(params.lead_ids).exists().check_access(
                    "write"
                )
        elif not self.env.user.has_group("sales_team.group_sale_manager"):
            raise AccessError(
                self.env._(
                    "Only sales managers can schedule re-engagements on the whole "
                    "pipeline. Select opportunities in the list and use the action "
                    "there instead."
                )
            )

    # ------------------------------------------------------------
    # The run, chunk by chunk
    # ------------------------------------------------------------

    @api.model
    def _process(self, log, params):
        """Detect, then every chunk of stale opportunities through the other
        steps. In the cron, each chunk is committed, and the run stops once
        the cron's time budget is spent (at least one chunk per call).

        :return: whether every chunk was processed
        """
        resuming = bool(log.stale_count)
        stale = self._detect_stale(params, log)
        if not resuming:
            log._add_counts({"stale": len(stale)})
        # The assignees' new re-engagements so far in this run, for the cap.
        state = RunState()
        state.booked.update(
            dict(
                (user.id, count)
                for user, count in self.env["workflow.log.line"]
                .sudo()
                ._read_group(
                    [
                        ("log_id", "=", log.id),
                        ("outcome", "in", ("scheduled", "preview")),
                    ],
                    ["assignee_id"],
                    ["__count"],
                )
            )
        )
        remaining = len(stale)
        for lead_ids in split_every(self._chunk_size, stale.ids):
            self._process_chunk(log, params, lead_ids, state)
            remaining -= len(lead_ids)
            budget = self._commit_progress(len(lead_ids), remaining=remaining)
            if remaining and budget <= 0:
                return False
        return True

    @api.model
    def _process_chunk(self, log, params, lead_ids, state):
        """One chunk, in its own savepoint: eligibility decided in the chunk's
        own transaction, so that work done by people while earlier chunks ran
        counts. ``state`` is what the run learnt in its earlier chunks (a
        :class:`RunState`)."""
        with self.env.cr.savepoint():
            leads = self.env["crm.lead"].browse(lead_ids)
            eligible, lines = self._filter_eligible(leads, params)
            if params.escalate_after_days and not params.dry_run:
                self._escalate_overdue(lines, params, state)
            if eligible:
                drafts = self._draft_message(eligible, params)
                lines += self._schedule_activity(eligible, drafts, params, state)
            log._add_lines(lines)
            counts = Counter(OUTCOME_COUNTS[vals["outcome"]] for vals in lines)
            counts["eligible"] = len(eligible)
            counts["warnings"] = sum(bool(vals.get("warning")) for vals in lines)
            log._add_counts(counts)
        # Logged lines, and the leads they were drafted from, are not read
        # again: forgetting them keeps memory flat on a big pipeline.
        self.env.invalidate_all()

    @api.model
    def _commit_progress(self, processed, remaining=None):
        """In the cron, commit and return the time left; elsewhere the run is
        one transaction and its budget is unlimited."""
        if not self.env.context.get("cron_id"):
            return float("inf")
        return self.env["ir.cron"]._commit_progress(processed, remaining=remaining)

    # ------------------------------------------------------------
    # Step 1: detect
    # ------------------------------------------------------------

    @api.model
    def _detect_stale(self, params, log):
        """Step 1: active opportunities nobody worked on since the cutoff,
        within the run's scope (salesperson, team, selected records, company);
        when the run resumes, those it has not considered yet."""
        Lead = self.env["crm.lead"]
        domain = Lead._followup_stale_domain(
            params.stale_days,
            params.clock,
            params.now,
            dict(params.stage_days),
            dict(params.team_days),
        )
        if params.teams_off:
            domain &= Domain("team_id", "not in", params.teams_off)
        if params.user_id:
            domain &= Domain("user_id", "=", params.user_id)
        if params.team_id:
            domain &= Domain("team_id", "=", params.team_id)
        if params.lead_ids is not None:
            domain &= Domain("id", "in", params.lead_ids)
        if params.company_ids is not None:
            domain &= Domain("company_id", "in", params.company_ids)
        if log.stale_count:
            # A resumed run: the opportunities it has not considered yet.
            done = (
                self.env["workflow.log.line"]
                .sudo()
                ._search([("log_id", "=", log.id), ("lead_id", "!=", False)])
            )
            domain &= Domain("id", "not in", done.subselect("lead_id"))
        # Priority order, for the daily cap: prorated revenue first, then the
        # longest quiet; those a cap deferred lately come before all others.
        stale = Lead.search(domain, order="prorated_revenue desc, write_date, id")
        if not params.daily_cap:
            return stale
        deferred = {
            lead.id
            for [lead] in self.env["workflow.log.line"]
            .sudo()
            ._read_group(
                [
                    ("lead_id", "in", stale.ids),
                    ("outcome", "=", "deferred"),
                    ("log_id.dry_run", "=", False),
                    (
                        "log_id.date_start",
                        ">=",
                        params.now - timedelta(days=DEFERRED_PRIORITY_DAYS),
                    ),
                ],
                ["lead_id"],
            )
        }
        return stale.browse(sorted(stale.ids, key=lambda i: i not in deferred))

    # ------------------------------------------------------------
    # Step 2: filter
    # ------------------------------------------------------------

    @api.model
    def _filter_eligible(self, leads, params):
        """Step 2: drop won opportunities and those with an open activity.

        :return: ``(eligible leads, log line values of the skipped ones)``
        """
        # Every open activity counts, including colleagues' ones the running
        # user may not read: booking a second one would double the work.
        pending_ids = {
            res_id
            for [res_id] in self.env["mail.activity"]
            .sudo()
            ._read_group(
                [("res_model", "=", "crm.lead"), ("res_id", "in", leads.ids)],
                ["res_id"],
            )
        }
        Lead = self.env["crm.lead"]
        in_leads = Domain("id", "in", leads.ids)
        won_ids = set(Lead.search(in_leads & Lead._followup_won_domain()).ids)
        paused_ids = set(
            Lead.search(in_leads & Lead._followup_paused_domain(params.now)).ids
        )
        reasons = {
            "skipped_won": self.env._("Won: already closed."),
            "skipped_pending": self.env._("Already has an open activity."),
        }
        eligible, skipped = Lead, []
        for lead in leads:
            outcome = (
                "skipped_won"
                if lead.id in won_ids
                else "skipped_pending"
                if lead.id in pending_ids
                else "skipped_paused"
                if lead.id in paused_ids
                else None
            )
            if outcome:
                skipped.append(
                    {
                        "lead_id": lead.id,
                        # Each line belongs to its opportunity's company.
                        "company_id": lead.company_id.id,
                        "outcome": outcome,
                        "reason": reasons.get(outcome)
                        or self.env._(
                            "Paused until %(date)s: %(reason)s",
                            date=format_date(self.env, lead.followup_paused_until),
                            reason=lead.followup_pause_reason or "—",
                        ),
                    }
                )
            else:
                eligible |= lead
        return eligible, skipped

    # ------------------------------------------------------------
    # Step 2b: escalate
    # ------------------------------------------------------------

    @api.model
    def _escalate_overdue(self, lines, params, state):
        """Step 2b: the skipped opportunities whose re-engagement is still open
        more than ``params.escalate_after_days`` working days (of its
        salesperson) past its deadline get one escalation activity for their
        team leader, else the default re-engagement user. They are stale (step 1
        found them): nobody worked on them since.

        Updates ``lines`` (the skipped ones' log line values) in place: an
        escalated opportunity's line becomes ``escalated``; one with nobody to
        escalate to says so.
        """
        pending = {
            vals["lead_id"]: vals
            for vals in lines
            if vals["outcome"] == "skipped_pending"
        }
        if not pending:
            return
        # Colleagues' activities count too, readable or not.
        open_activities = (
            self.env["mail.activity"]
            .sudo()
            .search_fetch(
                [
                    ("res_model", "=", "crm.lead"),
                    ("res_id", "in", list(pending)),
                    "|",
                    ("is_followup", "=", True),
                    ("is_followup_escalation", "=", True),
                ],
                ["res_id", "user_id", "date_deadline", "is_followup_escalation"],
            )
        )
        escalated_ids = {
            act.res_id for act in open_activities if act.is_followup_escalation
        }
        Lead = self.env["crm.lead"]
        followups, days_left = {}, state.escalation_days
        for followup in open_activities:
            if followup.is_followup_escalation or followup.res_id in escalated_ids:
                continue
            salesperson, deadline = followup.user_id, followup.date_deadline
            # The same working-day calendar as the deadline itself, read once
            # per salesperson and deadline in a run.
            if (salesperson.id, deadline) not in days_left:
                days_left[salesperson.id, deadline] = (
                    salesperson._followup_deadline(
                        deadline, params.escalate_after_days
                    )[0]
                    if salesperson
                    else deadline + timedelta(days=params.escalate_after_days)
                )
            lead = Lead.browse(followup.res_id)
            if lead._followup_today(params.now) > days_left[salesperson.id, deadline]:
                followups[lead.id] = followup.sudo(False)
        if not followups:
            return
        leads = Lead.browse(list(followups))
        default_user = self.env["res.users"].browse(params.default_user_id)
        targets = {}
        for lead in leads:
            salesperson, leader = followups[lead.id].user_id, lead.team_id.user_id
            line = pending[lead.id]
            target = next(
                (
                    user
                    for user in (leader, default_user)
                    if Lead._followup_can_be_assigned(user, lead)
                    and user != salesperson
                ),
                None,
            )
            if target and leader == salesperson:
                line["warning"] = self.env._(
                    "The team leader is the salesperson: escalated to the default "
                    "re-engagement user, %(user)s.",
                    user=target.name,
                )
            if target:
                targets[lead.id] = target
                continue
            line["warning"] = (
                self.env._(
                    "Re-engagement overdue, not escalated: the team leader is the "
                    "salesperson and there is no other default re-engagement user."
                )
                if leader and leader == salesperson
                else self.env._(
                    "Re-engagement overdue, not escalated: nobody to escalate to (no "
                    "team leader, no default re-engagement user)."
                )
            )
        if not targets:
            return
        escalating = leads.browse(list(targets))
        drafts = self.env["opportunity.followup.message"]._draft_escalation(
            escalating, followups, targets, params
        )
        activity_type = self.env.ref(
            ESCALATION_ACTIVITY_TYPE, raise_if_not_found=False
        ) or self.env["mail.activity.type"].browse(params.activity_type_id)
        model_id = self.env["ir.model"]._get_id("crm.lead")
        vals_list, line_vals = [], []
        for lead in escalating:
            draft, line = drafts[lead.id], pending[lead.id]
            vals_list.append(
                {
                    "res_model_id": model_id,
                    "res_id": lead.id,
                    "activity_type_id": activity_type.id,
                    "date_deadline": lead._followup_today(params.now),
                    "summary": draft["summary"],
                    "note": draft["note"],
                    "user_id": targets[lead.id].id,
                    "automated": True,
                    "is_followup_escalation": True,
                }
            )
            line.update(
                outcome="escalated",
                assignee_id=targets[lead.id].id,
                days_stale=draft["days"],
                note=draft["note"],
                reason=draft["reason"],
            )
            line_vals.append(line)
        self._create_activities(
            vals_list,
            line_vals,
            concurrent={
                "outcome": "skipped_pending",
                "reason": self.env._("Escalated meanwhile by a concurrent run."),
                "note": False,
                "assignee_id": False,
                "warning": False,
            },
        )

    # ------------------------------------------------------------
    # Step 3: draft
    # ------------------------------------------------------------

    @api.model
    def _draft_message(self, leads, params):
        """Step 3: a personal message per opportunity, in its assignee's
        language (see ``opportunity.followup.message``).

        :return: ``{lead id: {"assignee", "days", "summary", "note", "warning"}}``
        """
        return self.env["opportunity.followup.message"]._draft(leads, params)

    # ------------------------------------------------------------
    # Step 4: schedule
    # ------------------------------------------------------------

    @api.model
    def _schedule_activity(self, leads, drafts, params, state=None):
        """Step 4: one activity per opportunity, created in one batch; if the
        batch fails, one by one so that a bad opportunity only spoils itself.
        Due in working days of the assignee (or calendar days, per the
        settings); past the daily cap of an assignee (``state.booked`` counts
        theirs in this run), deferred.

        :return: the log line values, one per opportunity
        """
        state = RunState() if state is None else state
        booked, deadlines = state.booked, state.deadlines
        assignees = self.env["res.users"].union(
            *(draft["assignee"] for draft in drafts.values())
        )
        overloaded = self._overloaded_assignees(set(assignees.ids), params)
        model_id = self.env["ir.model"]._get_id("crm.lead")
        team_types = dict(params.team_activity_types)
        # vals_list and line_vals go in pairs; unassigned_lines (nobody to
        # assign it to, or deferred) have no activity.
        vals_list, line_vals, unassigned_lines = [], [], []
        outcome = "preview" if params.dry_run else "scheduled"
        stage_templates = leads._followup_stage_templates()
        for lead in leads:
            draft = drafts[lead.id]
            line = {
                "lead_id": lead.id,
                "company_id": lead.company_id.id,
                "days_stale": draft["days"],
                # What it was then, for the effectiveness report.
                "stage_id": lead.stage_id.id,
                "team_id": lead.team_id.id,
                "activity_type_id": params.activity_type_id,
                "wording_template_id": stage_templates[lead.id].id,
            }
            if not draft["assignee"]:
                unassigned_lines.append(
                    {
                        **line,
                        "outcome": "skipped_unassigned",
                        "reason": self.env._(
                            "No one to assign it to: it has no active salesperson "
                            "or team leader, and the settings name no default "
                            "re-engagement user."
                        ),
                    }
                )
                continue
            assignee = draft["assignee"]
            line["prorated_revenue"] = lead.prorated_revenue
            if params.daily_cap and booked[assignee.id] >= params.daily_cap:
                unassigned_lines.append(
                    {
                        **line,
                        "outcome": "deferred",
                        "assignee_id": assignee.id,
                        "reason": self.env._(
                            "Deferred: %(user)s already gets %(cap)s new "
                            "re-engagements in this run (the daily cap); it comes "
                            "first next time.",
                            user=assignee.name,
                            cap=params.daily_cap,
                        ),
                    }
                )
                continue
            booked[assignee.id] += 1
            today = lead._followup_today(params.now)
            if not params.working_days:
                deadline, away = today + timedelta(days=params.deadline_days), None
            else:
                if (assignee.id, today) not in deadlines:
                    deadlines[assignee.id, today] = assignee._followup_deadline(
                        today, params.deadline_days
                    )
                deadline, away = deadlines[assignee.id, today]
            warnings = [away] if away else []
            if draft["assignee"].id in overloaded:
                warnings.append(
                    self.env._(
                        "%(user)s already has %(count)s overdue activities.",
                        user=draft["assignee"].name,
                        count=overloaded[draft["assignee"].id],
                    )
                )
            vals_list.append(
                {
                    "res_model_id": model_id,
                    "res_id": lead.id,
                    "activity_type_id": team_types.get(
                        lead.team_id.id, params.activity_type_id
                    ),
                    "date_deadline": deadline,
                    "summary": draft["summary"],
                    "note": draft["note"],
                    "user_id": draft["assignee"].id,
                    "automated": True,
                    "is_followup": True,
                }
            )
            line_vals.append(
                {
                    **line,
                    "outcome": outcome,
                    "assignee_id": draft["assignee"].id,
                    "note": draft["note"],
                    "warning": " ".join(warnings) or False,
                }
            )
        if not params.dry_run and vals_list:
            self._create_activities(vals_list, line_vals)
        return line_vals + unassigned_lines

    @api.model
    def _create_activities(self, vals_list, line_vals, concurrent=None):
        """Create the activities and note them on their lines (pairs).

        :param concurrent: the line's values when a concurrent run booked the
            same opportunity first (default: skipped, scheduled meanwhile).
        """
        if concurrent is None:
            concurrent = {
                "outcome": "skipped_pending",
                "reason": self.env._("Scheduled meanwhile by a concurrent run."),
                "note": False,
                "assignee_id": False,
                "warning": False,
            }
        # The assignment e-mail of each activity is not sent: a run may book
        # hundreds of them.
        Activity = self.env["mail.activity"].with_context(
            mail_activity_quick_update=True
        )
        token = _booking.set(True)
        try:
            try:
                with self.env.cr.savepoint():
                    activities = Activity.create(vals_list)
            except psycopg2.errors.TransactionRollbackError:
                raise
            except Exception:  # retried one by one below
                activities = None
            if activities is not None:
                for line, activity in zip(line_vals, activities, strict=True):
                    line["activity_ref"] = activity.id
                return
            for vals, line in zip(vals_list, line_vals, strict=True):
                try:
                    with self.env.cr.savepoint():
                        line["activity_ref"] = Activity.create(vals).id
                except psycopg2.errors.TransactionRollbackError:
                    raise
                except psycopg2.errors.UniqueViolation as exc:
                    if exc.diag.constraint_name not in UNIQUE_INDEXES:
                        line.update(outcome="error", reason=self._error_text(exc))
                        continue
                    # Another run booked it between our filter and our insert.
                    _logger.info(
                        "Opportunity %s was booked meanwhile by a concurrent run",
                        vals["res_id"],
                    )
                    line.update(concurrent)
                except Exception as exc:  # logged on its line
                    line.update(outcome="error", reason=self._error_text(exc))
        finally:
            _booking.reset(token)

    @api.model
    def _overloaded_assignees(self, user_ids, params):
        """``{user id: overdue count}`` of the users over the warning threshold."""
        today = self.env["crm.lead"]._followup_tz_today(self.env.company, params.now)
        # Colleagues' activities count too, readable or not.
        groups = (
            self.env["mail.activity"]
            .sudo()
            ._read_group(
                [("user_id", "in", list(user_ids)), ("date_deadline", "<", today)],
                ["user_id"],
                ["__count"],
            )
        )
        return {
            user.id: count for user, count in groups if count > params.overdue_threshold
        }

    # ------------------------------------------------------------
    # Step 5: log
    # ------------------------------------------------------------

    @api.model
    def _log_execution(self, log, duration):
        """Step 5: close the run's ``workflow_log`` row, once every chunk is
        done, and send the digest e-mails."""
        params = log._params()
        warning = None
        if (
            (log.scheduled_count or log.escalated_count)
            and not params.dry_run
            and params.send_digest
        ):
            try:
                with self.env.cr.savepoint():
                    self._send_digests(log)
            except psycopg2.errors.TransactionRollbackError:
                raise
            except Exception as exc:  # the run itself succeeded
                _logger.exception("Follow-up digest of run %s failed", log.id)
                warning = self.env._(
                    "The digest e-mails could not be sent: %(error)s",
                    error=self._error_text(exc),
                )
        log._close(duration, warning)

    @api.model
    def _send_digests(self, log):
        """One e-mail per salesperson listing their new activities, in their
        language, instead of Odoo's one "assigned to you" e-mail per activity;
        the escalations a team leader gets are listed apart."""
        template = self.env.ref(DIGEST_TEMPLATE, raise_if_not_found=False)
        if not template:
            return
        # The log is the runner's own record (see workflow.log._start).
        Line = self.env["workflow.log.line"].sudo()
        counts = {
            (assignee, outcome): count
            for assignee, outcome, count in Line._read_group(
                [("log_id", "=", log.id), ("outcome", "in", DIGEST_OUTCOMES)],
                ["assignee_id", "outcome"],
                ["__count"],
            )
        }
        for assignee in {assignee for assignee, _outcome in counts}:
            if not assignee.partner_id.email:
                continue
            if log.trigger != "cron" and assignee == log.user_id:
                continue  # who ran it by hand has just seen the outcome
            # A long list belongs in the app, not in an email.
            # The most valuable first.
            lines = {
                outcome: Line.search(
                    [
                        ("log_id", "=", log.id),
                        ("outcome", "=", outcome),
                        ("assignee_id", "=", assignee.id),
                    ],
                    order="prorated_revenue desc, days_stale desc, id",
                    limit=DIGEST_SIZE,
                )
                if counts.get((assignee, outcome))
                else Line
                for outcome in DIGEST_OUTCOMES
            }
            count = counts.get((assignee, "scheduled"), 0)
            escalation_count = counts.get((assignee, "escalated"), 0)
            template.with_context(
                followup_subject=self._digest_subject(
                    assignee, count, escalation_count, lines["scheduled"]
                ),
                followup_count=count,
                followup_lines=lines["scheduled"],
                followup_more=count - len(lines["scheduled"]),
                followup_escalation_count=escalation_count,
                followup_escalations=lines["escalated"],
                followup_escalations_more=escalation_count - len(lines["escalated"]),
                followup_log=log,
            ).send_mail(assignee.id, email_layout_xmlid="mail.mail_notification_light")

    @api.model
    def _digest_subject(self, assignee, count, escalation_count, lines):
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
        return ", ".join(parts)

    @api.model
    def _error_text(self, exc):
        if isinstance(exc, psycopg2.Error):
            return (exc.pgerror or str(exc)).strip()
        return str(exc.args[0]) if getattr(exc, "args", None) else repr(exc)
