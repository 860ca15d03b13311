import contextlib
import logging
import time
from collections import defaultdict
from datetime import timedelta

import psycopg2.errors
import pytz
from markupsafe import Markup

from odoo import api, fields, models
from odoo.exceptions import AccessError, LockError, UserError
from odoo.fields import Domain
from odoo.tools import format_date, mute_logger, split_every

from .followup_const import (
    CLOCK_WORK,
    CLOCKS,
    DEFAULT_ACTIVITY_TYPE,
    INT_SETTINGS,
    LOG_ACTION,
    PARAM_PREFIX,
    STALE_DAYS_MAX,
    STALE_DAYS_MIN,
    TRIGGERS,
    WORKFLOW_NAME,
)

_logger = logging.getLogger(__name__)

UNIQUE_INDEX = "mail_activity_followup_open_unique"
DIGEST_TEMPLATE = "crm_opportunity_followup.mail_template_followup_digest"
# Big enough for one INSERT per few hundred activities, small enough that a
# crash loses little and memory stays flat on a 50k pipeline.
CHUNK_SIZE = 500
# How many completed activities the drafted message mentions.
HISTORY_SIZE = 3
# How many new activities the digest e-mail lists; the log has them all.
DIGEST_SIZE = 50
OUTCOME_COUNTS = {
    "scheduled": "scheduled",
    "preview": "scheduled",
    "skipped_won": "skipped_won",
    "skipped_pending": "skipped_pending",
    "skipped_unassigned": "skipped_unassigned",
    "error": "errors",
}
COUNT_KEYS = (
    "stale",
    "eligible",
    "scheduled",
    "skipped_won",
    "skipped_pending",
    "skipped_unassigned",
    "errors",
    "warnings",
)


class OpportunityFollowupRunner(models.AbstractModel):
    """The stale-opportunity follow-up workflow.

    One method per step of the workflow document, called in this order by
    :meth:`run`: :meth:`_detect_stale`, :meth:`_filter_eligible`,
    :meth:`_draft_message`, :meth:`_schedule_activity`, :meth:`_log_execution`.
    The runner never writes on ``crm.lead``: a write would bump ``write_date``
    and reset the very clock it measures.
    """

    _name = "opportunity.followup.runner"
    _description = "Opportunity Follow-up Runner"

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

        :param stale_days: days without update before an opportunity is stale
            (1 to 3650); ``None`` takes the value from the settings.
        :param user_id: only this salesperson's opportunities (id); a user that
            does not exist or cannot be seen is ignored with a warning.
        :param team_id: only this sales team's opportunities (id); same rule.
        :param lead_ids: only these opportunities (ids), e.g. a list selection.
        :param trigger: what started the run, stored on its log.
        :param dry_run: detect, filter and draft only: the log lists what would
            be scheduled (a preview) and no activity is created.
        :return: ``{"success", "steps_executed", "message", "error", "log_id",
            "counts"}``
        :raise UserError: on a malformed parameter; nothing is created then.
        :raise AccessError: when the user may not run it on that scope.
        """
        params = self._prepare_params(
            stale_days, user_id, team_id, lead_ids, trigger, dry_run
        )
        self._check_run_access(params)
        return self._execute(params)

    @api.model
    def _cron_run_followup(self):
        """Daily scheduled action: one run per company, in that company's timezone."""
        companies = self.env["res.company"].search([("active", "=", True)], order="id")
        for company in companies:
            runner = self.with_company(company).with_context(
                allowed_company_ids=company.ids
            )
            params = runner._prepare_params(None, None, None, None, "cron")
            # Opportunities without a company belong to the first company's run,
            # so that they are considered exactly once.
            params["company_ids"] = company.ids + (
                [False] if company == companies[:1] else []
            )
            runner._execute(params)

    @api.model
    def action_run_from_settings(self):
        """The "Run follow-up" button in the CRM settings."""
        return self._notify_result(self.run(trigger="settings_button"))

    @api.model
    def action_preview_from_settings(self):
        """The "Preview" button in the CRM settings."""
        return self._open_preview(self.run(trigger="settings_button", dry_run=True))

    @api.model
    def action_preview_from_menu(self):
        """CRM > Sales > Re-engage Stale Opportunities: the preview, to confirm.
        For sales managers, who may not open the Settings."""
        return self._open_preview(self.run(trigger="menu", dry_run=True))

    # ------------------------------------------------------------
    # Parameters and access
    # ------------------------------------------------------------

    @api.model
    def _get_settings(self):
        """The configured values, with the workflow document's defaults.

        A malformed value (set by hand in the system parameters) falls back to
        its default with a warning in the server log, never a crash.
        """
        # Settings are system parameters, readable by administrators only; every
        # user allowed to run the workflow must still read its configuration.
        icp = self.env["ir.config_parameter"].sudo()

        def get(key):
            return icp.get_param(PARAM_PREFIX + key)

        def invalid(key, value):
            _logger.warning("Ignoring invalid setting %s=%r", PARAM_PREFIX + key, value)

        settings = {}
        for key, default, minimum in INT_SETTINGS.values():
            value = get(key)
            try:
                number = int(value) if value not in (None, False, "") else default
            except ValueError:
                invalid(key, value)
                number = default
            if number < minimum:
                invalid(key, value)
                number = default
            settings[key] = number
        activity_type = self._get_setting_record(
            "mail.activity.type", get("activity_type_id")
        )
        default_user = self._get_setting_record("res.users", get("default_user_id"))
        clock = get("clock") or CLOCK_WORK
        if clock not in dict(CLOCKS):
            invalid("clock", clock)
            clock = CLOCK_WORK
        return {
            **settings,
            "activity_type_id": (
                activity_type or self.env.ref(DEFAULT_ACTIVITY_TYPE)
            ).id,
            "default_user_id": default_user.id,
            "clock": clock,
            # Stored inverted: Odoo deletes a system parameter set to False.
            "send_digest": not get("digest_disabled"),
        }

    @api.model
    def _get_setting_record(self, model, value):
        try:
            record_id = int(value or 0)
        except ValueError:
            return self.env[model]
        # The setting is the administrator's choice, not the running user's.
        return self.env[model].sudo().browse(record_id).exists().sudo(False)

    @api.model
    def _prepare_params(
        self, stale_days, user_id, team_id, lead_ids, trigger, dry_run=False
    ):
        """Validate the parameters of a run and complete them from the settings."""
        if trigger not in dict(TRIGGERS):
            raise UserError(
                self.env._(
                    "trigger must be one of %(triggers)s; received %(value)r.",
                    triggers=", ".join(dict(TRIGGERS)),
                    value=trigger,
                )
            )
        params = self._get_settings()
        params.update(
            # One moment for the whole run: its days, cutoffs and deadlines.
            now=fields.Datetime.now(),
            trigger=trigger,
            user_id=False,
            team_id=False,
            lead_ids=None,
            company_ids=None,
            dry_run=bool(dry_run),
            warnings=[],
        )
        if stale_days is not None:
            if (
                not isinstance(stale_days, int)
                or isinstance(stale_days, bool)
                or not STALE_DAYS_MIN <= stale_days <= STALE_DAYS_MAX
            ):
                raise UserError(
                    self.env._(
                        "stale_days must be a whole number from %(min)s to %(max)s; "
                        "received %(value)r.",
                        min=STALE_DAYS_MIN,
                        max=STALE_DAYS_MAX,
                        value=stale_days,
                    )
                )
            params["stale_days"] = stale_days
        for key, model, record_id in (
            ("user_id", "res.users", user_id),
            ("team_id", "crm.team", team_id),
        ):
            if record_id in (None, False, 0):
                continue
            if not isinstance(record_id, int) or isinstance(record_id, bool):
                raise UserError(
                    self.env._(
                        "%(parameter)s must be the id of a record (a whole number); "
                        "received %(value)r.",
                        parameter=key,
                        value=record_id,
                    )
                )
            record = self.env[model].browse(record_id).exists()
            if record and record.has_access("read"):
                params[key] = record.id
            else:
                params["warnings"].append(
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
                raise UserError(
                    self.env._(
                        "lead_ids must be a list of opportunity ids; "
                        "received %(value)r.",
                        value=lead_ids,
                    )
                )
            params["lead_ids"] = list(lead_ids)
        return params

    @api.model
    def _check_run_access(self, params):
        """Least privilege: the whole pipeline for sales managers, a selection
        of opportunities for whoever may change all of them."""
        if self.env.su:
            return
        own_pipeline = params["user_id"] == self.env.uid
        if params["lead_ids"] is not None or own_pipeline:
            if not self.env.user.has_group("sales_team.group_sale_salesman"):
                raise AccessError(self.env._("Only salespeople can run the follow-up."))
            if params["lead_ids"] is not None:
                self.env["crm.lead"].browse(params["lead_ids"]).exists().check_access(
                    "write"
                )
        elif not self.env.user.has_group("sales_team.group_sale_manager"):
            raise AccessError(
                self.env._(
                    "Only sales managers can run the follow-up on the whole pipeline. "
                    "Select opportunities in the list and use the action there instead."
                )
            )

    # ------------------------------------------------------------
    # The run
    # ------------------------------------------------------------

    @api.model
    def _execute(self, params):
        started = time.monotonic()
        log = self._log_start(params)
        in_cron = bool(self.env.context.get("cron_id"))
        if in_cron:
            # Show the run as "running" while it works, and keep its log even
            # if the process dies before the end.
            self._commit_progress(log, 0)
        try:
            # Outside the cron the run is one transaction: a failure undoes all
            # of it. In the cron each chunk commits and only the failing one is
            # undone (see _process_chunks).
            with contextlib.nullcontext() if in_cron else self.env.cr.savepoint():
                return self._run_steps(params, log, started, in_cron)
        except psycopg2.errors.TransactionRollbackError:
            # Serialization failures and deadlocks: let Odoo retry the request.
            raise
        except Exception as exc:
            _logger.exception("Opportunity follow-up run %s failed", log.id)
            return self._log_failure(log, exc, started)

    @api.model
    def _run_steps(self, params, log, started, in_cron):
        counts = dict.fromkeys(COUNT_KEYS, 0)
        counts["warnings"] = len(params["warnings"])
        steps = ["detect_stale"]
        stale = self._detect_stale(params)
        counts["stale"] = len(stale)
        if stale:
            steps.append("filter_eligible")
            eligible, skipped_lines = self._filter_eligible(stale, params)
            counts["eligible"] = len(eligible)
            for vals in skipped_lines:
                counts[OUTCOME_COUNTS[vals["outcome"]]] += 1
            self._create_lines(log, skipped_lines)
            if eligible:
                steps.append("draft_message")
                if not params["dry_run"]:
                    steps.append("schedule_activity")
                self._process_chunks(eligible, params, log, counts, in_cron)
        if counts["scheduled"] and not params["dry_run"] and params["send_digest"]:
            self._send_digests(log)
        steps.append("log_execution")
        return self._log_execution(log, params, counts, steps, started)

    def _process_chunks(self, eligible, params, log, counts, in_cron):
        remaining = len(eligible)
        for chunk_ids in split_every(CHUNK_SIZE, eligible.ids):
            with self.env.cr.savepoint():
                leads = eligible.browse(chunk_ids)
                drafts = self._draft_message(leads, params)
                line_vals = self._schedule_activity(leads, drafts, params)
                self._create_lines(log, line_vals)
                for vals in line_vals:
                    counts[OUTCOME_COUNTS[vals["outcome"]]] += 1
                    counts["warnings"] += bool(vals.get("warning"))
            if in_cron:
                remaining -= len(chunk_ids)
                # The log is the runner's own record (see _log_start).
                log.sudo().write(self._count_vals(counts))
                self._commit_progress(log, len(chunk_ids), remaining=remaining)

    @api.model
    def _commit_progress(self, log, processed, remaining=None):
        """Commit a chunk (cron only) and lock the run's log row again at once:
        a live run always holds that lock, which is how the next run tells a
        dead run (see _mark_interrupted_runs) from a running one."""
        self.env["ir.cron"]._commit_progress(processed, remaining=remaining)
        # The log is the runner's own record (see _log_start).
        log.sudo().lock_for_update(allow_referencing=True)

    # ------------------------------------------------------------
    # Step 1: detect
    # ------------------------------------------------------------

    @api.model
    def _detect_stale(self, params):
        """Step 1: active opportunities nobody worked on since the cutoff,
        within the run's scope (salesperson, team, selected records, company).
        What "stale" means is ``crm.lead``'s: the *Stale* marker agrees."""
        Lead = self.env["crm.lead"]
        domain = Lead._followup_stale_domain(
            params["stale_days"], params["clock"], params["now"]
        )
        if params["user_id"]:
            domain &= Domain("user_id", "=", params["user_id"])
        if params["team_id"]:
            domain &= Domain("team_id", "=", params["team_id"])
        if params["lead_ids"] is not None:
            domain &= Domain("id", "in", params["lead_ids"])
        if params["company_ids"] is not None:
            domain &= Domain("company_id", "in", params["company_ids"])
        return Lead.search(domain, order="id")

    @api.model
    def _today(self, params):
        """Today in the run's company, from the run's one moment."""
        tz = self.env["crm.lead"]._followup_tz(self.env.company)
        return pytz.utc.localize(params["now"]).astimezone(tz).date()

    # ------------------------------------------------------------
    # Step 2: filter
    # ------------------------------------------------------------

    @api.model
    def _filter_eligible(self, stale, params):
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
                [("res_model", "=", "crm.lead"), ("res_id", "in", stale.ids)],
                ["res_id"],
            )
        }
        # Decided in SQL on ids: loading every stale lead into memory would
        # make the footprint grow with the pipeline.
        Lead = self.env["crm.lead"]
        won_ids = set(
            Lead.search(Domain("id", "in", stale.ids) & Lead._followup_won_domain()).ids
        )
        # Each line belongs to its opportunity's company (see _create_lines).
        company_of = {
            lead_id: company.id
            for company, ids in Lead._read_group(
                [("id", "in", stale.ids)], ["company_id"], ["id:array_agg"]
            )
            for lead_id in ids
        }
        won_reason = self.env._("Won: already closed.")
        pending_reason = self.env._("Already has an open activity.")
        eligible_ids, skipped = [], []
        for lead_id in stale.ids:
            if lead_id in won_ids:
                skipped.append(
                    {
                        "lead_id": lead_id,
                        "company_id": company_of[lead_id],
                        "outcome": "skipped_won",
                        "reason": won_reason,
                    }
                )
            elif lead_id in pending_ids:
                skipped.append(
                    {
                        "lead_id": lead_id,
                        "company_id": company_of[lead_id],
                        "outcome": "skipped_pending",
                        "reason": pending_reason,
                    }
                )
            else:
                eligible_ids.append(lead_id)
        return stale.browse(eligible_ids), skipped

    # ------------------------------------------------------------
    # Step 3: draft
    # ------------------------------------------------------------

    @api.model
    def _draft_message(self, leads, params):
        """Step 3: a personal message per opportunity, in its salesperson's
        language.

        :return: ``{lead id: {"assignee", "days", "summary", "note", "warning"}}``
        """
        history = self._completed_history(leads)
        stage_tones = self._stage_tones()
        last_work = leads._followup_last_work_dates(params["clock"])
        default_user = self.env["res.users"].browse(params["default_user_id"])
        assignees = {lead.id: lead._followup_assignee(default_user) for lead in leads}
        langs = {
            lead.id: assignees[lead.id].lang or self.env.lang or "en_US"
            for lead in leads
        }
        stage_texts = self._stage_template_texts(leads, langs)
        drafts = {}
        for lead in leads:
            assignee, lang = assignees[lead.id], langs[lead.id]
            lead_lang = lead.with_context(lang=lang)
            env = lead_lang.env
            # The day of the last work on it where its company counts days.
            last_update = last_work[lead.id]
            days = (lead._followup_today(params["now"]) - last_update).days
            body, warning = stage_texts.get(lead.id) or (None, None)
            if body is None:
                body = Markup("<p>%s</p>") % self._default_wording(
                    lead_lang, stage_tones
                )
            note = Markup("<p>%s</p>") % env._(
                "“%(name)s” has had no update for %(days)s days (last update on "
                "%(date)s). Stage: %(stage)s.",
                name=lead.name,
                days=days,
                date=format_date(env, last_update, lang_code=lang),
                stage=lead_lang.stage_id.name or env._("none"),
            )
            note += body
            done = history.get(lead.id)
            if done:
                note += Markup("<p>%s</p><ul>%s</ul>") % (
                    env._("Completed so far:"),
                    Markup().join(
                        Markup("<li>%s</li>") % self._history_item(env, lang, activity)
                        for activity in done
                    ),
                )
            else:
                note += Markup("<p>%s</p>") % env._(
                    "No activity has been completed on it yet."
                )
            drafts[lead.id] = {
                "assignee": assignee,
                "days": days,
                "summary": env._(
                    "Re-engage: %(name)s (stale %(days)s days)",
                    name=lead.name,
                    days=days,
                ),
                "note": note,
                "warning": warning,
            }
        return drafts

    @api.model
    def _history_item(self, env, lang, activity):
        kind = activity.with_context(lang=lang).activity_type_id.name or env._(
            "Activity"
        )
        date = format_date(env, activity.date_done, lang_code=lang)
        if activity.summary:
            return env._(
                "%(date)s: %(type)s (%(summary)s)",
                date=date,
                type=kind,
                summary=activity.summary,
            )
        return env._("%(date)s: %(type)s", date=date, type=kind)

    @api.model
    def _completed_history(self, leads):
        """The latest completed activities of each lead, in one query."""
        # Done activities are archived; the running user may not read all of
        # them, yet the salesperson must see the whole story.
        done = (
            self.env["mail.activity"]
            .sudo()
            .with_context(active_test=False)
            .search_fetch(
                [
                    ("res_model", "=", "crm.lead"),
                    ("res_id", "in", leads.ids),
                    ("active", "=", False),
                    ("date_done", "!=", False),
                ],
                ["res_id", "activity_type_id", "summary", "date_done"],
                order="date_done desc, id desc",
            )
        )
        history = defaultdict(list)
        for activity in done:
            if len(history[activity.res_id]) < HISTORY_SIZE:
                history[activity.res_id].append(activity)
        return history

    @api.model
    def _stage_tones(self):
        """Map each open stage to an early / middle / late tone by its position
        in the pipeline."""
        stages = self.env["crm.stage"].search([("is_won", "=", False)])
        last = len(stages) - 1
        return {
            stage.id: "early" if index == 0 else "late" if index == last else "middle"
            for index, stage in enumerate(stages)
        }

    @api.model
    def _stage_template_texts(self, leads, langs):
        """The wording of the stages that have their own template, rendered
        per template and language in one call each.

        The template is a ``mail.template``: Odoo checks who may write which
        placeholders when it is saved, so rendering it here, even as the
        cron's superuser, gives nobody more rights than Odoo's template rules.

        :return: ``{lead id: (html or None, warning or None)}``; None falls
            back to the default wording.
        """
        groups = defaultdict(list)
        for lead in leads:
            template = lead.stage_id.followup_template_id
            if template:
                groups[template, langs[lead.id]].append(lead.id)
        texts = {}
        for (template, lang), lead_ids in groups.items():
            try:
                with self.env.cr.savepoint():
                    rendered = template._render_field(
                        "body_html", lead_ids, set_lang=lang
                    )
            except Exception as exc:  # any failure falls back to the default
                env = self.with_context(lang=lang).env
                warning = env._(
                    "The wording template of stage %(stage)s failed (%(error)s); the "
                    "default wording was used.",
                    stage=leads.browse(lead_ids[0])
                    .stage_id.with_context(lang=lang)
                    .name,
                    error=self._error_text(exc),
                )
                texts.update(dict.fromkeys(lead_ids, (None, warning)))
                continue
            texts.update(
                (lead_id, (Markup(rendered[lead_id]), None)) for lead_id in lead_ids
            )
        return texts

    @api.model
    def _default_wording(self, lead, stage_tones):
        """The default wording for the tone of the opportunity's stage."""
        env = lead.env
        contact = lead.contact_name or lead.partner_id.name or lead.partner_name
        greeting = (
            env._("Hello %(contact)s,", contact=contact) if contact else env._("Hello,")
        )
        tone = stage_tones.get(lead.stage_id.id, "early")
        if tone == "late":
            body = env._(
                "we are close to a decision on %(name)s. Is anything still missing on "
                "your side? I can make time this week to settle the last points.",
                name=lead.name,
            )
        elif tone == "middle":
            body = env._(
                "I wanted to follow up on our proposal for %(name)s. Did it answer "
                "your questions? I am happy to adjust it or walk you through it on "
                "a call.",
                name=lead.name,
            )
        else:
            body = env._(
                "it has been a while since we last talked about %(name)s. Is it "
                "still a priority for you? A short call would help us see where "
                "things stand.",
                name=lead.name,
            )
        return f"{greeting} {body}"

    # ------------------------------------------------------------
    # Step 4: schedule
    # ------------------------------------------------------------

    @api.model
    def _schedule_activity(self, leads, drafts, params):
        """Step 4: one activity per opportunity, created in one batch; if the
        batch fails, one by one so that a bad opportunity only spoils itself.

        :return: the log line values, one per opportunity
        """
        overloaded = self._overloaded_assignees(
            {draft["assignee"].id for draft in drafts.values()} - {False}, params
        )
        model_id = self.env["ir.model"]._get_id("crm.lead")
        # vals_list and line_vals go in pairs; unassigned_lines have no activity.
        vals_list, line_vals, unassigned_lines = [], [], []
        outcome = "preview" if params["dry_run"] else "scheduled"
        for lead in leads:
            draft = drafts[lead.id]
            company_id = lead.company_id.id
            if not draft["assignee"]:
                unassigned_lines.append(
                    {
                        "lead_id": lead.id,
                        "company_id": company_id,
                        "outcome": "skipped_unassigned",
                        "days_stale": draft["days"],
                        "reason": self.env._(
                            "No one to assign it to: it has no active salesperson "
                            "or team leader, and the settings name no default "
                            "follow-up user."
                        ),
                    }
                )
                continue
            deadline = lead._followup_today(params["now"]) + timedelta(
                days=params["deadline_days"]
            )
            warnings = [w for w in [draft["warning"]] if w]
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
                    "activity_type_id": params["activity_type_id"],
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
                    "lead_id": lead.id,
                    "company_id": company_id,
                    "outcome": outcome,
                    "assignee_id": draft["assignee"].id,
                    "days_stale": draft["days"],
                    "note": draft["note"],
                    "warning": " ".join(warnings) or False,
                }
            )
        if params["dry_run"] or not vals_list:
            return line_vals + unassigned_lines
        # The assignment e-mail of each activity is not sent: a run may book
        # hundreds of them.
        activity_model = self.env["mail.activity"].with_context(
            mail_activity_quick_update=True
        )
        # Failures are reported on their log line, not as "bad query" noise.
        try:
            with self.env.cr.savepoint(), mute_logger("odoo.sql_db"):
                activities = activity_model.create(vals_list)
            for vals, activity in zip(line_vals, activities, strict=True):
                vals["activity_id"] = activity.id
        except Exception:
            for vals, line in zip(vals_list, line_vals, strict=True):
                try:
                    with self.env.cr.savepoint(), mute_logger("odoo.sql_db"):
                        line["activity_id"] = activity_model.create(vals).id
                except psycopg2.errors.UniqueViolation as exc:
                    if UNIQUE_INDEX not in (exc.diag.constraint_name or ""):
                        line.update(outcome="error", reason=self._error_text(exc))
                        continue
                    # Another run booked it between our filter and our insert.
                    line.update(
                        outcome="skipped_pending",
                        reason=self.env._("Scheduled meanwhile by a concurrent run."),
                        note=False,
                    )
                except Exception as exc:
                    line.update(outcome="error", reason=self._error_text(exc))
        return line_vals + unassigned_lines

    @api.model
    def _send_digests(self, log):
        """One e-mail per salesperson listing their new activities, in their
        language, instead of Odoo's one "assigned to you" e-mail per activity."""
        template = self.env.ref(DIGEST_TEMPLATE, raise_if_not_found=False)
        if not template:
            return
        # The log is the runner's own record (see _log_start).
        Line = self.env["workflow.log.line"].sudo()
        domain = [("log_id", "=", log.id), ("outcome", "=", "scheduled")]
        for assignee, count in Line._read_group(domain, ["assignee_id"], ["__count"]):
            if not assignee.partner_id.email:
                continue
            # A long list belongs in the log, not in an e-mail.
            lines = Line.search(
                domain + [("assignee_id", "=", assignee.id)], limit=DIGEST_SIZE
            )
            template.with_context(
                followup_count=count,
                followup_lines=lines,
                followup_more=count - len(lines),
                followup_log=log,
            ).send_mail(assignee.id)

    @api.model
    def _overloaded_assignees(self, user_ids, params):
        """``{user id: overdue count}`` of the users over the warning threshold."""
        # Colleagues' activities count too, readable or not.
        groups = (
            self.env["mail.activity"]
            .sudo()
            ._read_group(
                [
                    ("user_id", "in", list(user_ids)),
                    ("date_deadline", "<", self._today(params)),
                ],
                ["user_id"],
                ["__count"],
            )
        )
        return {
            user.id: count
            for user, count in groups
            if count > params["overdue_threshold"]
        }

    @api.model
    def _error_text(self, exc):
        if isinstance(exc, psycopg2.Error):
            return (exc.pgerror or str(exc)).strip()
        return str(exc.args[0]) if getattr(exc, "args", None) else repr(exc)

    # ------------------------------------------------------------
    # Step 5: log
    # ------------------------------------------------------------

    @api.model
    def _mark_interrupted_runs(self):
        """Runs still "running" whose process died: a live run holds a lock on
        its log row, a dead one cannot."""
        # Any user's run may find a dead run of someone else's.
        running = (
            self.env["workflow.log"]
            .sudo()
            .search([("workflow_name", "=", WORKFLOW_NAME), ("state", "=", "running")])
        )
        for log in running:
            try:
                log.lock_for_update(allow_referencing=True)
            except LockError:
                continue  # still alive
            log.write(
                {
                    "state": "interrupted",
                    "message": self.env._(
                        "Interrupted: the process running it stopped before the end. "
                        "The activities of its committed chunks are kept; the next run "
                        "completes the rest."
                    ),
                }
            )

    @api.model
    def _log_start(self, params):
        self._mark_interrupted_runs()
        # The log is the runner's own record: users read it, never write it.
        return (
            self.env["workflow.log"]
            .sudo()
            .create(
                {
                    "workflow_name": WORKFLOW_NAME,
                    "trigger": params["trigger"],
                    "user_id": self.env.user.id,
                    "company_id": self.env.company.id,
                    "stale_days": params["stale_days"],
                    "dry_run": params["dry_run"],
                    "filter_user_id": params["user_id"],
                    "filter_team_id": params["team_id"],
                    "parameters": {
                        key: params[key]
                        for key in (
                            "stale_days",
                            "user_id",
                            "team_id",
                            "lead_ids",
                            "deadline_days",
                            "overdue_threshold",
                            "activity_type_id",
                            "default_user_id",
                            "clock",
                            "dry_run",
                        )
                    },
                }
            )
        )

    @api.model
    def _create_lines(self, log, line_vals):
        for batch in split_every(CHUNK_SIZE, line_vals):
            # The log is the runner's own record (see _log_start).
            self.env["workflow.log.line"].sudo().create(
                [dict(vals, log_id=log.id) for vals in batch]
            )
            # Logged lines, and the leads they were drafted from, are not read
            # again: forgetting them keeps memory flat on a big pipeline.
            self.env.invalidate_all()

    @api.model
    def _count_vals(self, counts):
        return {
            "stale_count": counts["stale"],
            "eligible_count": counts["eligible"],
            "scheduled_count": counts["scheduled"],
            "skipped_won_count": counts["skipped_won"],
            "skipped_pending_count": counts["skipped_pending"],
            "skipped_unassigned_count": counts["skipped_unassigned"],
            "error_count": counts["errors"],
            "warning_count": counts["warnings"],
        }

    @api.model
    def _log_execution(self, log, params, counts, steps, started):
        """Step 5: close the run's ``workflow_log`` row and build the result."""
        message = self._result_message(params, counts)
        # The log is the runner's own record (see _log_start).
        log.sudo().write(
            {
                **self._count_vals(counts),
                "state": "done",
                "date_end": fields.Datetime.now(),
                "duration": time.monotonic() - started,
                "steps": ",".join(steps),
                "message": message,
            }
        )
        return {
            "success": True,
            "steps_executed": steps,
            "message": message,
            "error": None,
            "log_id": log.id,
            "counts": counts,
        }

    @api.model
    def _log_failure(self, log, exc, started):
        error = self._error_text(exc)
        message = self.env._("The follow-up run failed: %(error)s", error=error)
        # The log is the runner's own record (see _log_start).
        log.sudo().write(
            {
                "state": "failed",
                "date_end": fields.Datetime.now(),
                "duration": time.monotonic() - started,
                "message": message,
                "error": error,
            }
        )
        return {
            "success": False,
            "steps_executed": [],
            "message": message,
            "error": error,
            "log_id": log.id,
            "counts": dict.fromkeys(COUNT_KEYS, 0),
        }

    @api.model
    def _result_message(self, params, counts):
        days = params["stale_days"]
        if not counts["stale"]:
            parts = [
                self.env._(
                    "No stale opportunities older than %(days)s days: nothing to do.",
                    days=days,
                )
            ]
        else:
            parts = [
                self.env._(
                    "Found %(count)s stale opportunities older than %(days)s days.",
                    count=counts["stale"],
                    days=days,
                )
            ]
            if counts["scheduled"] and params["dry_run"]:
                parts.append(
                    self.env._(
                        "Preview: %(count)s follow-up activities would be scheduled.",
                        count=counts["scheduled"],
                    )
                )
            elif counts["scheduled"]:
                parts.append(
                    self.env._(
                        "%(count)s follow-up activities scheduled.",
                        count=counts["scheduled"],
                    )
                )
            else:
                parts.append(self.env._("No follow-up activity scheduled."))
            if counts["skipped_won"] or counts["skipped_pending"]:
                parts.append(
                    self.env._(
                        "Skipped: %(won)s won, %(pending)s with an open activity.",
                        won=counts["skipped_won"],
                        pending=counts["skipped_pending"],
                    )
                )
            if counts["skipped_unassigned"]:
                parts.append(
                    self.env._(
                        "%(count)s not scheduled: no one to assign them to (choose a "
                        "default follow-up user in the settings).",
                        count=counts["skipped_unassigned"],
                    )
                )
            if counts["errors"]:
                parts.append(
                    self.env._(
                        "%(count)s could not be scheduled: see the log.",
                        count=counts["errors"],
                    )
                )
        parts += params["warnings"]
        return " ".join(parts)

    # ------------------------------------------------------------
    # UI
    # ------------------------------------------------------------

    @api.model
    def _open_preview(self, result):
        """The preview window: what a run would do, with a button to do it."""
        if not result["success"]:
            return self._notify_result(result)
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Follow-up Preview"),
            "res_model": "workflow.log",
            "res_id": result["log_id"],
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
        }

    @api.model
    def _notify_result(self, result):
        """A notification with the run's message and a link to its log."""
        log = self.env["workflow.log"].browse(result["log_id"])
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "title": self.env._("Opportunity follow-up"),
                # %s is where the web client puts the link to the log.
                "message": result["message"].replace("%", "%%") + " %s",
                "links": [
                    {
                        "label": self.env._("Open the log"),
                        "url": f"/odoo/action-{LOG_ACTION}/{log.id}",
                    }
                ],
                "type": "success" if result["success"] else "danger",
                "sticky": not result["success"],
            },
        }
