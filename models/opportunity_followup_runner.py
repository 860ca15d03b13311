import contextlib
import dataclasses
import logging
import time
from collections import Counter

import psycopg2.errors

from odoo import api, models
from odoo.exceptions import AccessError, UserError

from .followup_const import (
    ESCALATION_ACTIVITY_TYPE,
    OUTCOMES,
    PER_DEAL_MODELS,
    SALES_MANAGER_GROUP,
    error_text,
)
from .followup_params import RunParams, RunState

_logger = logging.getLogger(__name__)

# The batch the ORM fetches records in (odoo.tools.constants.PREFETCH_MAX):
# big enough that a chunk's fixed costs (its queries, QWeb's set-up, its
# commit) weigh little, 6 to 13 % of the bench's run against 500; small enough
# that a crash loses little, a chunk takes about a second, and memory stays
# flat on a 50k pipeline.
CHUNK_SIZE = 1000
# The outcomes of opportunities a re-engagement is drafted for: booked, or
# held back past the decision (nobody to take it, the daily cap).
DRAFTED = ("scheduled", "preview", "skipped_unassigned", "deferred")


class OpportunityFollowupRunner(models.AbstractModel):
    """The stale-opportunity re-engagement workflow: the conductor.

    :meth:`run` takes the parameters (:meth:`RunParams.from_call`), checks who
    may run it, then works chunk by chunk through the workflow document's
    steps, in this order: :meth:`_detect_stale`, :meth:`_filter_eligible`
    (``crm.lead._followup_decide``: one decision per deal),
    :meth:`_escalate_overdue` (and ``crm.lead._followup_ask_decisions``),
    :meth:`_draft_message`,
    :meth:`_schedule_activity`, :meth:`_log_execution`. The rules live on the
    models they are about: what "stale" means and what a run does with a deal
    on ``crm.lead``, booking under the unique indexes on ``mail.activity``,
    the run's log and its summary emails on ``workflow.log``. The runner holds
    the steps' order and the transactions. It never writes on ``crm.lead``:
    a write would bump ``write_date`` and reset the very clock it measures.
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
            RunParams.from_call(
                self.env,
                stale_days=stale_days,
                user_id=user_id,
                team_id=team_id,
                lead_ids=lead_ids,
                trigger=trigger,
                dry_run=dry_run,
            )
        )

    @api.model
    def plan(self, lead_ids):
        """What a run on these opportunities would do, as the current user,
        booking and logging nothing: the scheduling dialog's content.

        :return: ``{"stale": the stale ones, "decisions": {lead id:
            Decision}, "drafts": {lead id: draft}}``; drafts of those a
            re-engagement would be drafted for
        """
        params = RunParams.from_call(
            self.env, lead_ids=list(lead_ids), trigger="menu", dry_run=True
        )
        self._check_run_access(params)
        stale = self._detect_stale(params)
        decisions = self._filter_eligible(stale, params, RunState())
        drafted = stale.filtered(lambda lead: decisions[lead.id].outcome in DRAFTED)
        drafts = self._draft_message(drafted, params, decisions) if drafted else {}
        return {"stale": stale, "decisions": decisions, "drafts": drafts}

    @api.model
    def run_plan(self, assignees, revive=False):
        """Book a plan as a manager confirmed it (the scheduling dialog):
        exactly these opportunities, each for the user chosen, past the
        daily cap; a run of the current user, its log and rights as any.

        :param assignees: ``{lead id: user id}``
        :param revive: a leader's *Revive* from a Decide activity: booked
            stale or not, the open Decide no obstacle (logged as by hand)
        :return: as :meth:`run`
        """
        params = RunParams.from_call(
            self.env,
            lead_ids=list(assignees),
            trigger="manual" if revive else "menu",
            assignees=tuple(assignees.items()),
        )
        return self._run(dataclasses.replace(params, revive=revive))

    @api.model
    def _run(self, params):
        """Run with validated parameters (a :class:`RunParams`), as the
        current user, in one transaction: a failure undoes all of it but its
        log."""
        self._check_run_access(params)
        log = self.env["workflow.log"]._start(params)
        started = time.monotonic()
        try:
            with self.env.cr.savepoint():
                self._process(log, params)
        except psycopg2.errors.TransactionRollbackError:
            # Serialization failures and deadlocks: let Odoo retry the request.
            raise
        except Exception as exc:
            _logger.exception("Opportunity follow-up run %s failed", log.id)
            log._fail(error_text(exc), time.monotonic() - started)
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
        its log, the other companies still run, and the call that ends the
        cycle then fails, so that ``ir.cron`` counts it and notifies. (The job
        runs every hour: the calls in between succeed, so Odoo does not
        deactivate a job whose company fails every day; its logs say so.)
        """
        in_cron = bool(self.env.context.get("cron_id"))
        # The scheduler calls a job again and again within one round of 10 s.
        # A call that starts with that time spent ends the round at once, with
        # work left: the scheduler then starts a new round. Even one chunk more
        # could outlast a short limit_time_real_cron.
        if self._commit_progress(0, remaining=1) <= 0:
            return
        # Which runs: workflow.log's cycle (resumed, and each company due).
        logs = self.env["workflow.log"]._cron_cycle()
        # Shows the runs as running while they work, and keeps them if the
        # process dies: the next call resumes them.
        self._commit_progress(0)
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
                log._fail(error_text(exc), time.monotonic() - started)
                self._commit_progress(0)
                continue
            if not finished:
                log.sudo().duration += time.monotonic() - started
                self._commit_progress(0)
                return
        self._commit_progress(0, remaining=0)
        if failed := logs._cron_failed():
            raise UserError(
                self.env._(
                    "The daily re-engagement failed for %(companies)s: see the "
                    "Re-engagement Logs.",
                    companies=", ".join(failed.company_id.mapped("name")),
                )
            )

    # ------------------------------------------------------------
    # Access
    # ------------------------------------------------------------

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
        elif not self.env.user.has_group(SALES_MANAGER_GROUP):
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
        state.booked.update(log._booked_counts())
        remaining = len(stale)
        # A customer's deals in one chunk: one call per customer (crm.lead).
        for lead_ids in stale._followup_chunks(self._chunk_size):
            self._process_chunk(log, params, lead_ids, state)
            remaining -= len(lead_ids)
            budget = self._commit_progress(len(lead_ids), remaining=remaining)
            if remaining and budget <= 0:
                return False
        return True

    @api.model
    def _process_chunk(self, log, params, lead_ids, state):
        """One chunk, in its own savepoint: decided in the chunk's own
        transaction, so that work done by people while earlier chunks ran
        counts. ``state`` is what the run learnt in its earlier chunks (a
        :class:`RunState`)."""
        with self.env.cr.savepoint():
            leads = self.env["crm.lead"].browse(lead_ids)
            decisions = self._filter_eligible(leads, params, state)
            lines = {lead.id: decisions[lead.id].line_values(lead) for lead in leads}

            def having(*outcomes):
                return leads.filtered(
                    lambda lead: decisions[lead.id].outcome in outcomes
                )

            if escalating := having("escalated"):
                self._escalate_overdue(escalating, decisions, lines, params)
            if deciding := having("decide"):
                deciding._followup_ask_decisions(decisions, lines, params)
            if drafted := having(*DRAFTED):
                drafts = self._draft_message(drafted, params, decisions)
                self._schedule_activity(
                    drafted, decisions, drafts, lines, params, state
                )
            log._add_lines(list(lines.values()))
            counts = Counter(OUTCOMES[vals["outcome"]][1] for vals in lines.values())
            counts["eligible"] = len(drafted) + counts["held_out"]
            counts["warnings"] = sum(bool(vals["warning"]) for vals in lines.values())
            log._add_counts(counts)
        # Logged lines, and the leads they were drafted from, are not read
        # again: forgetting them keeps memory flat on a big pipeline. What
        # every chunk shares stays: the next chunk does not read it again.
        self.env.flush_all()
        for model in PER_DEAL_MODELS:
            if model in self.env:
                self.env[model].invalidate_model(flush=False)

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
    def _detect_stale(self, params, log=None):
        """Step 1: active opportunities nobody worked on since the cutoff,
        within the run's scope, in priority order (``crm.lead``'s rules); when
        the run resumes, those it has not considered yet."""
        return self.env["crm.lead"]._followup_search_stale(
            params, exclude=log._considered_leads() if log and log.stale_count else None
        )

    # ------------------------------------------------------------
    # Step 2: filter (the decision per deal) and escalate
    # ------------------------------------------------------------

    @api.model
    def _filter_eligible(self, leads, params, state):
        """Step 2: what the run does with each stale opportunity (see
        ``crm.lead._followup_decide``: won, paused, an open activity or its
        escalation, re-engaged in vain (a decision), nobody to take it, grouped
        with the customer's biggest deal, the daily cap, else scheduled).

        :return: ``{lead id: Decision}``
        """
        return leads._followup_decide(params, state)

    @api.model
    def _escalate_overdue(self, leads, decisions, lines, params):
        """Step 2b: one escalation activity for each of ``leads`` (decided
        ``escalated``), for the one the decision names, due today; its
        re-engagement is marked, never to be escalated again. Completes their
        ``lines`` (log line values by lead id)."""
        followups = {lead.id: decisions[lead.id].followup for lead in leads}
        targets = {lead.id: decisions[lead.id].assignee for lead in leads}
        drafts = self.env["opportunity.followup.message"]._draft_escalation(
            leads, followups, targets, params
        )
        activity_type = self.env.ref(
            ESCALATION_ACTIVITY_TYPE, raise_if_not_found=False
        ) or self.env["mail.activity.type"].browse(params.activity_type_id)
        vals_list, line_vals = [], []
        for lead in leads:
            draft, line = drafts[lead.id], lines[lead.id]
            vals_list.append(
                lead._followup_activity_values(
                    activity_type.id,
                    lead._followup_today(params.now),
                    draft,
                    targets[lead.id],
                    escalation=True,
                )
            )
            line.update(
                assignee_id=targets[lead.id].id,
                days_stale=draft["days"],
                note=draft["note"],
                reason=draft["reason"],
            )
            line_vals.append(line)
        self.env["mail.activity"]._followup_book(vals_list, line_vals)
        escalated = self.env["mail.activity"].union(
            *(
                followups[line["lead_id"]]
                for line in line_vals
                if line["outcome"] == "escalated" and line.get("activity_ref")
            )
        )
        # Sudo: the runner's own mark on the salesperson's activity, which the
        # manager running it may not edit; it is never escalated again.
        escalated.sudo().followup_escalated = True

    # ------------------------------------------------------------
    # Step 3: draft
    # ------------------------------------------------------------

    @api.model
    def _draft_message(self, leads, params, decisions):
        """Step 3: a personal message per opportunity, in its assignee's
        language, listing the customer's other quiet deals grouped with it
        (see ``opportunity.followup.message``).

        :param decisions: ``{lead id: Decision}``: who gets it, what it groups
        :return: ``{lead id: {"days", "summary", "note"}}``
        """
        return self.env["opportunity.followup.message"]._draft(
            leads,
            params,
            {lead_id: decisions[lead_id].assignee for lead_id in leads.ids},
            {lead_id: decisions[lead_id].grouped for lead_id in leads.ids},
        )

    # ------------------------------------------------------------
    # Step 4: schedule
    # ------------------------------------------------------------

    @api.model
    def _schedule_activity(self, leads, decisions, drafts, lines, params, state):
        """Step 4: one activity per opportunity decided ``scheduled``, of its
        team's type (else the settings'), due in ``deadline_days`` working
        days of its assignee (or calendar days, per the settings), created in
        one batch (``mail.activity._followup_book``). Completes the ``lines``
        of ``leads`` (log line values by lead id): what the effectiveness
        report reads, and the deferred and unassigned ones' days."""
        team_types = dict(params.team_activity_types)
        stage_templates = leads._followup_stage_templates()
        assignees = self.env["res.users"].union(
            *(decisions[lead_id].assignee for lead_id in leads.ids)
        )
        overloaded = assignees._followup_overdue_counts(
            self.env.company._followup_today(params.now), params.overdue_threshold
        )
        vals_list, line_vals = [], []
        for lead in leads:
            decision, draft, line = decisions[lead.id], drafts[lead.id], lines[lead.id]
            # The team's own type, else the settings': booked and reported.
            activity_type_id = team_types.get(lead.team_id.id, params.activity_type_id)
            line.update(
                days_stale=draft["days"],
                # What it was then, for the effectiveness report.
                stage_id=lead.stage_id.id,
                team_id=lead.team_id.id,
                activity_type_id=activity_type_id,
                wording_template_id=stage_templates[lead.id].id,
            )
            if decision.outcome == "skipped_unassigned":
                continue
            assignee = decision.assignee
            line.update(assignee_id=assignee.id, prorated_revenue=lead.prorated_revenue)
            if decision.outcome == "deferred":
                continue
            deadline, away = lead._followup_deadline(assignee, params, state)
            warnings = [away] if away else []
            if assignee.id in overloaded:
                warnings.append(
                    self.env._(
                        "%(user)s already has %(count)s overdue activities.",
                        user=assignee.name,
                        count=overloaded[assignee.id],
                    )
                )
            line.update(note=draft["note"], warning=" ".join(warnings) or False)
            vals_list.append(
                lead._followup_activity_values(
                    activity_type_id, deadline, draft, assignee
                )
            )
            line_vals.append(line)
        if not params.dry_run and vals_list:
            self.env["mail.activity"]._followup_book(vals_list, line_vals)

    # ------------------------------------------------------------
    # Step 5: log
    # ------------------------------------------------------------

    @api.model
    def _log_execution(self, log, duration):
        """Step 5: close the run's ``workflow_log`` row, once every chunk is
        done, and send the summary emails."""
        warning = None
        try:
            with self.env.cr.savepoint():
                log._send_digests()
        except psycopg2.errors.TransactionRollbackError:
            raise
        except Exception as exc:  # the run itself succeeded
            _logger.exception("Follow-up digest of run %s failed", log.id)
            warning = self.env._(
                "The digest e-mails could not be sent: %(error)s",
                error=error_text(exc),
            )
        log._close(duration, warning)
