import re
from collections import defaultdict
from datetime import datetime, timedelta

import pytz

from odoo import SUPERUSER_ID, api, fields, models
from odoo.exceptions import UserError
from odoo.fields import Domain
from odoo.tools import SQL

from .followup_const import (
    ALL_LEADS_GROUP,
    CLOCK_WORK,
    CUSTOMER_TEMPLATE,
    SALES_MANAGER_GROUP,
    WORK_MESSAGE_TYPES,
)

# "Re: ", "Fwd: ", "AW: ", "TR : " and the like, repeated, before a subject.
REPLY_PREFIX = re.compile(r"^(\s*(re|fwd?|aw|wg|tr|rv|sv)\s?:\s*)+", re.IGNORECASE)


class CrmLead(models.Model):
    """What "stale" means, and who a re-engagement goes to: one definition
    for the runner, the *Stale* marker and its filter."""

    _inherit = "crm.lead"

    followup_is_stale = fields.Boolean(
        string="Stale",
        compute="_compute_followup_is_stale",
        search="_search_followup_is_stale",
        help="Open opportunity nobody worked on for the re-engagement settings' "
        "number of days, with no activity planned and not paused: a run books it "
        "(the daily job only where its team has Daily Re-engagement on). Unlike "
        "Odoo's rotting marker (days in the same stage), this counts days without "
        "any work on it.",
    )
    followup_stale_hint = fields.Char(
        string="Stale Since", compute="_compute_followup_days_stale"
    )
    followup_days_stale = fields.Integer(
        string="Days Without Work",
        compute="_compute_followup_days_stale",
        help="Days since somebody last worked on this opportunity: an edit, a "
        "message or note, an e-mail, a completed activity (or only edits, if the "
        "re-engagement settings say so), counted in its company's timezone.",
    )
    # The customer's own words for the deal, for the re-engagement email.
    followup_customer_subject = fields.Char(
        string="Customer's Latest Subject",
        compute="_compute_followup_customer_subject",
        help="The subject of the latest email the customer sent about this "
        "opportunity, without reply or forward prefixes (Re:, Fwd:, AW:...).",
    )
    followup_count = fields.Integer(
        string="Re-engagements", compute="_compute_followup_count"
    )
    # A deal the customer asked to revisit later: no re-engagement until then.
    followup_paused_until = fields.Date(
        string="Re-engagement Paused Until",
        tracking=True,
        copy=False,
        help="No re-engagement is booked for this opportunity until this day, "
        "included; it wakes up by itself the day after.",
    )
    followup_pause_reason = fields.Char(
        string="Re-engagement Pause Reason", tracking=True, copy=False
    )

    # The follow-up's detect query: without it PostgreSQL scans every lead.
    _followup_stale_index = models.Index(
        "(write_date) WHERE type = 'opportunity' AND active IS TRUE"
    )

    @api.depends_context("uid", "allowed_company_ids")
    @api.depends(
        "write_date",
        "type",
        "active",
        "won_status",
        "stage_id",
        "followup_paused_until",
        "activity_ids",
    )
    def _compute_followup_is_stale(self):
        stale = self.filtered_domain(self._search_followup_is_stale("in", [True]))
        stale.followup_is_stale = True
        (self - stale).followup_is_stale = False

    def _search_followup_is_stale(self, operator, value):
        if operator != "in":
            return NotImplemented
        settings = self.env["res.config.settings"]._followup_settings()
        now = fields.Datetime.now()
        domain = (
            self._followup_stale_domain(
                settings["stale_days"],
                settings["clock"],
                now,
                stage_days=self._followup_stage_days(),
                team_days=self._followup_team_days(),
            )
            # A team's switch is the daily job's only: a manager may still
            # pick its stale deals here and book them (Schedule Re-engagement).
            & ~self._followup_won_domain()
            & ~self._followup_paused_domain(now)
            # Booked already (or any other activity planned): nothing to do.
            & ~self._followup_open_activity_domain()
        )
        return domain if True in value else ~domain

    @api.depends_context("allowed_company_ids")
    @api.depends("write_date", "stage_id")
    def _compute_followup_days_stale(self):
        settings = self.env["res.config.settings"]._followup_settings()
        stage_days = self._followup_stage_days()
        team_days = self._followup_team_days()
        # An opportunity being created (a form's onchange) has no history yet.
        saved = self.filtered("write_date")
        last = saved._followup_last_work_dates(settings["clock"])
        now = fields.Datetime.now()
        for lead in self:
            today = lead._followup_today(now)
            days = (today - last[lead.id]).days if lead.id in last else 0
            lead.followup_days_stale = days
            lead.followup_stale_hint = self.env._(
                "Nobody worked on it for %(days)s days; a re-engagement is due after "
                "%(limit)s.",
                days=days,
                limit=stage_days.get(lead.stage_id.id)
                or team_days.get(lead.team_id.id)
                or settings["stale_days"],
            )

    def _compute_followup_customer_subject(self):
        # An email from anybody but the company's own users: the customer.
        messages = (
            self.env["mail.message"]
            .sudo()
            .search_fetch(
                [
                    ("model", "=", "crm.lead"),
                    ("res_id", "in", self.ids),
                    ("message_type", "=", "email"),
                    ("subject", "!=", False),
                    "|",
                    ("author_id", "=", False),
                    ("author_id.user_ids", "not any", [("share", "=", False)]),
                ],
                ["res_id", "subject"],
                order="date desc, id desc",
            )
        )
        subjects = {}
        for message in messages:
            subjects.setdefault(message.res_id, message.subject)
        for lead in self:
            subject = subjects.get(lead.id) or ""
            lead.followup_customer_subject = REPLY_PREFIX.sub("", subject) or False

    def _compute_followup_count(self):
        # A salesperson may not read every log line; the count is not secret.
        counts = dict(
            self.env["workflow.log.line"]
            .sudo()
            ._read_group(
                [("lead_id", "in", self.ids), ("outcome", "=", "scheduled")],
                ["lead_id"],
                ["__count"],
            )
        )
        for lead in self:
            lead.followup_count = counts.get(lead, 0)

    def mail_allowed_qweb_expressions(self):
        # Placeholders that anybody allowed to edit a template may use in a
        # stage's re-engagement wording (Odoo's rules for the others). The
        # languages are plain field reads, as safe: the stage form's *Create
        # and Edit* pre-fills the first, so that sales managers who are not
        # template editors can create the stage's email.
        return (
            *super().mail_allowed_qweb_expressions(),
            "object.followup_days_stale",
            "object.followup_customer_subject",
            "object.stage_id.name",
            "object.lang_id.code",
            "object.partner_id.lang",
        )

    def _merge_get_fields_specific(self):
        # Odoo keeps the most likely deal's value, else the first one set: a
        # customer's "not before March" on the duplicate would be lost, or a
        # shorter pause kept. The pause that lasts longest wins, with its
        # reason.
        def latest_pause(leads):
            return max(
                leads.filtered("followup_paused_until"),
                key=lambda lead: lead.followup_paused_until,
                default=leads.browse(),
            )

        return {
            **super()._merge_get_fields_specific(),
            "followup_paused_until": lambda fname, leads: (
                latest_pause(leads).followup_paused_until
            ),
            "followup_pause_reason": lambda fname, leads: (
                latest_pause(leads).followup_pause_reason
            ),
        }

    # ------------------------------------------------------------
    # Actions
    # ------------------------------------------------------------

    def activity_send_mail(self, template_id):
        """*Send Now* on an activity's email template of opportunities. Odoo
        posts it as an automatic notification; sent by a person, it is work on
        the deal (and resets the stale clock), as the same email sent from the
        composer. Refused where it would reach nobody: posted anyway, it would
        look sent and hide the deal from the next runs."""
        template = self.env["mail.template"].browse(template_id).exists()
        if not template or template.model != self._name:
            return super().activity_send_mail(template_id)
        unreachable = self.filtered(
            lambda lead: template.use_default_to and not lead.email_from
        )
        if unreachable:
            raise UserError(
                self.env._(
                    "%(names)s has no email address: add the customer's email on "
                    "the opportunity, then send it.",
                    names=", ".join(unreachable.mapped("name")),
                )
            )
        self.message_post_with_source(
            template, message_type="comment", subtype_xmlid="mail.mt_comment"
        )
        return True

    def action_open_followup_history(self):
        """The smart button: every re-engagement scheduled on this opportunity."""
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Re-engagement History"),
            "res_model": "workflow.log.line",
            "view_mode": "list,form",
            "domain": [("lead_id", "=", self.id)],
        }

    def action_followup_pause(self):
        """*Pause follow-up*: the wizard asking until when, and why."""
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Pause Re-engagement"),
            "res_model": "crm.lead.followup.pause",
            "view_mode": "form",
            "target": "new",
            "context": {"default_lead_ids": self.ids},
        }

    def action_followup_resume(self):
        """*Resume follow-up*: the next run considers it again."""
        self.write({"followup_paused_until": False, "followup_pause_reason": False})

    def action_followup_run(self):
        """Actions > Run Re-engagement, on the selected opportunities."""
        result = self.env["opportunity.followup.runner"].run(
            lead_ids=self.ids, trigger="server_action"
        )
        return self.env["workflow.log"].browse(result["log_id"])._action_notify()

    def action_followup_schedule(self):
        """*Schedule Re-engagement* on the ticked opportunities: the wizard
        to review, untick or reassign before booking."""
        return self.env["crm.lead.followup.schedule"]._open_for(self)

    def action_followup_team_settings(self):
        """*Team Settings* on the Stale Opportunities list, with or without
        opportunities ticked: the re-engagement settings of the team in the
        context if the user may change them, else of the first team they
        lead; a sales manager who leads none chooses one."""
        Team = self.env["crm.team"]
        tunable = Domain("use_opportunities", "=", True) & Domain(
            "followup_can_tune", "=", True
        )
        team = Team.browse()
        if team_id := self.env.context.get("default_team_id"):
            team = Team.search(tunable & Domain("id", "=", team_id))
        if not team:
            team = Team.search(tunable & Domain("user_id", "=", self.env.uid), limit=1)
        if not team and not self.env.user.has_group(SALES_MANAGER_GROUP):
            raise UserError(
                self.env._(
                    "You lead no sales team: only the team's leader or a sales "
                    "manager can change its re-engagement settings."
                )
            )
        return self.env["crm.team.followup.settings"]._open_for(team)

    # ------------------------------------------------------------
    # The stale clock
    # ------------------------------------------------------------

    @api.model
    def _followup_tz(self, company):
        """The timezone a company's days are counted in."""
        return pytz.timezone(
            company.resource_calendar_id.tz or company.partner_id.tz or "UTC"
        )

    @api.model
    def _followup_tz_today(self, company, now):
        """The day it is at ``now`` (naive UTC) where ``company`` is."""
        return pytz.utc.localize(now).astimezone(self._followup_tz(company)).date()

    def _followup_today(self, now):
        """Today where this opportunity's company is (the current company's
        for an opportunity without one)."""
        self.ensure_one()
        return self._followup_tz_today(self.company_id or self.env.company, now)

    @api.model
    def _followup_stale_domain(
        self, stale_days, clock, now, stage_days=None, team_days=None
    ):
        """Active opportunities nobody worked on since midnight, in their
        company's timezone, of today minus their number of days: their
        stage's own, else their team's, else ``stale_days``.

        Within the companies of the environment; an opportunity without a
        company counts in the current company's timezone.

        :param clock: ``"work"``: an edit, a message written by a person or the
            customer, or a completed activity is work; ``"write_date"``: only an
            edit of the record is (the workflow document's literal rule).
        :param now: the run's moment (naive UTC), so that one run uses one date.
        :param stage_days: ``{stage id: days}`` of the stages with their own
            threshold; None or empty: none.
        :param team_days: ``{team id: days}`` of the teams with their own
            threshold; None or empty: none.
        """
        stage_days = dict(stage_days or {})
        team_days = dict(team_days or {})
        not_staged = (
            Domain("stage_id", "not in", list(stage_days))
            if stage_days
            else Domain.TRUE
        )
        thresholds = [
            *(
                (days, Domain("stage_id", "in", ids))
                for days, ids in self._followup_group_by_days(stage_days)
            ),
            *(
                (days, not_staged & Domain("team_id", "in", ids))
                for days, ids in self._followup_group_by_days(team_days)
            ),
            (
                stale_days,
                not_staged
                & (
                    Domain("team_id", "not in", list(team_days))
                    if team_days
                    else Domain.TRUE
                ),
            ),
        ]
        parts = []
        for tz, company_ids in self._followup_companies_by_tz().items():
            today = pytz.utc.localize(now).astimezone(tz).date()
            for days, scope in thresholds:
                cutoff_day = today - timedelta(days=days)
                cutoff = (
                    tz.localize(datetime.combine(cutoff_day, datetime.min.time()))
                    .astimezone(pytz.utc)
                    .replace(tzinfo=None)
                )
                part = (
                    Domain("company_id", "in", company_ids)
                    & scope
                    & Domain("write_date", "<", cutoff)
                )
                if clock == CLOCK_WORK:
                    part &= ~self._followup_worked_since(cutoff, cutoff_day)
                parts.append(part)
        return Domain(
            [("type", "=", "opportunity"), ("active", "=", True)]
        ) & Domain.OR(parts)

    @api.model
    def _followup_paused_domain(self, now):
        """Paused: its pause lasts until today or later, in its company's
        timezone."""
        return Domain.OR(
            Domain("company_id", "in", company_ids)
            & Domain(
                "followup_paused_until",
                ">=",
                pytz.utc.localize(now).astimezone(tz).date(),
            )
            for tz, company_ids in self._followup_companies_by_tz().items()
        )

    @api.model
    def _followup_companies_by_tz(self):
        """``{timezone: company ids}`` of the environment's companies; False
        (no company) counts in the current company's timezone."""
        companies_by_tz = defaultdict(list)
        for company in self.env.companies:
            companies_by_tz[self._followup_tz(company)].append(company.id)
        companies_by_tz[self._followup_tz(self.env.company)].append(False)
        return companies_by_tz

    @api.model
    def _followup_group_by_days(self, days_by_id):
        """``[(days, [ids])]`` of ``{id: days}``."""
        ids_by_days = defaultdict(list)
        for record_id, days in days_by_id.items():
            ids_by_days[days].append(record_id)
        return sorted(ids_by_days.items())

    @api.model
    def _followup_team_days(self):
        """``{team id: days}`` of the teams with their own stale threshold."""
        return {
            team.id: team.followup_stale_days
            for team in self.env["crm.team"]
            .with_context(active_test=False)
            .search([("followup_stale_days", ">", 0)])
        }

    @api.model
    def _followup_teams_off(self):
        """Ids of the teams that switched the daily job off."""
        return (
            self.env["crm.team"]
            .with_context(active_test=False)
            .search([("followup_active", "=", False)])
            .ids
        )

    @api.model
    def _followup_stage_days(self):
        """``{stage id: days}`` of the stages with their own stale threshold."""
        return {
            stage.id: stage.followup_stale_days
            for stage in self.env["crm.stage"].search([("followup_stale_days", ">", 0)])
        }

    @api.model
    def _followup_open_activity_domain(self):
        """Opportunities with an open activity, whoever it is for (the
        runner's rule: colleagues' activities the user may not read count)."""

        def to_sql(model, alias, query):
            return SQL(
                """EXISTS (
                    SELECT 1 FROM mail_activity open
                     WHERE open.res_model = 'crm.lead'
                       AND open.res_id = %s AND open.active IS TRUE
                )""",
                SQL.identifier(alias, "id"),
            )

        return Domain.custom(to_sql=to_sql)

    @api.model
    def _followup_won_domain(self):
        """Won: in a won stage, or marked won."""
        return Domain("stage_id.is_won", "=", True) | Domain("won_status", "=", "won")

    @api.model
    def _followup_worked_since(self, cutoff, cutoff_day):
        """Opportunities with a completed activity on or after ``cutoff_day``
        or a message by a person or the customer after ``cutoff`` (UTC)."""
        odoobot = self.env.ref("base.partner_root").id

        def to_sql(model, alias, query):
            lead_id = SQL.identifier(alias, "id")
            return SQL(
                """(EXISTS (
                    SELECT 1 FROM mail_activity done
                     WHERE done.res_model = 'crm.lead' AND done.res_id = %(lead_id)s
                       AND done.active IS NOT TRUE AND done.date_done >= %(day)s
                ) OR EXISTS (
                    SELECT 1 FROM mail_message message
                     WHERE message.model = 'crm.lead' AND message.res_id = %(lead_id)s
                       AND message.date >= %(cutoff)s
                       AND message.message_type IN %(types)s
                       AND message.author_id IS DISTINCT FROM %(odoobot)s
                ))""",
                lead_id=lead_id,
                day=cutoff_day,
                cutoff=cutoff,
                types=WORK_MESSAGE_TYPES,
                odoobot=odoobot,
            )

        return Domain.custom(to_sql=to_sql)

    def _followup_last_work_messages(self):
        """``{lead id: (id, date)}`` of the latest message a person or the
        customer wrote on each (a note, a message, an email; not OdooBot's),
        in one query. Colleagues' messages count, readable or not."""
        if not self:
            return {}
        self.env.cr.execute(
            SQL(
                """SELECT DISTINCT ON (res_id) res_id, id, date FROM mail_message
                    WHERE model = 'crm.lead' AND res_id IN %(ids)s
                      AND message_type IN %(types)s
                      AND author_id IS DISTINCT FROM %(odoobot)s
                 ORDER BY res_id, date DESC, id DESC""",
                ids=tuple(self.ids),
                types=WORK_MESSAGE_TYPES,
                odoobot=self.env.ref("base.partner_root").id,
            )
        )
        return {
            res_id: (message_id, date)
            for res_id, message_id, date in self.env.cr.fetchall()
        }

    def _followup_last_work_dates(self, clock, messages=None):
        """``{lead id: day of the last work on it}``, in its company's
        timezone, in two queries for the whole recordset.

        :param messages: ``_followup_last_work_messages()``, if the caller has
            them already
        """
        last = {}
        for lead in self:
            tz = self._followup_tz(lead.company_id or self.env.company)
            last[lead.id] = pytz.utc.localize(lead.write_date).astimezone(tz).date()
        if clock != CLOCK_WORK or not self:
            return last
        # Work of colleagues the current user may not read counts too.
        done = (
            self.env["mail.activity"]
            .sudo()
            .with_context(active_test=False)
            ._read_group(
                [
                    ("res_model", "=", "crm.lead"),
                    ("res_id", "in", self.ids),
                    ("active", "=", False),
                    ("date_done", "!=", False),
                ],
                ["res_id"],
                ["date_done:max"],
            )
        )
        for res_id, day in done:
            last[res_id] = max(last[res_id], day)
        if messages is None:
            messages = self._followup_last_work_messages()
        for lead in self.browse(list(messages)):
            day = self._followup_tz_today(
                lead.company_id or self.env.company, messages[lead.id][1]
            )
            last[lead.id] = max(last[lead.id], day)
        return last

    def _followup_stage_templates(self):
        """``{lead id: its stage's own email to the customer}``, empty where
        the stage has none."""
        templates = {}
        for lead in self:
            template = lead.stage_id.followup_template_id
            # Set before crm.stage's check existed: never rendered on a lead's id.
            if template and template.sudo().model != "crm.lead":
                template = self.env["mail.template"]
            templates[lead.id] = template
        return templates

    def _followup_customer_templates(self):
        """``{lead id: the email to the customer offered with its
        re-engagement}``: the stage's own, else the addon's (none if an
        administrator deleted it)."""
        default = (
            self.env.ref(CUSTOMER_TEMPLATE, raise_if_not_found=False)
            or (self.env["mail.template"])
        )
        return {
            lead_id: template or default
            for lead_id, template in self._followup_stage_templates().items()
        }

    # ------------------------------------------------------------
    # The assignee
    # ------------------------------------------------------------

    def _followup_assignee(self, default_user, chosen_id=None):
        """Who gets the re-engagement: the user a manager chose for it (the
        scheduling wizard), else the salesperson, else the team leader, else
        the settings' default re-engagement user; never an archived, portal or
        system user. An empty recordset when there is nobody."""
        self.ensure_one()
        chosen = self.env["res.users"].browse(chosen_id or [])
        for user in (chosen, self.user_id, self.team_id.user_id, default_user):
            if self._followup_can_be_assigned(user, self):
                return user
        return self.env["res.users"]

    @api.model
    def _followup_can_be_assigned(self, user, lead=None):
        """An active internal user, never OdooBot; for ``lead``, one who may
        open it (crm's own rules hide a colleague's deals from "own documents"
        salespeople), in its company."""
        # Portal and public users are share users; OdooBot is the superuser.
        if not (user and user.active and not user.share and user.id != SUPERUSER_ID):
            return False
        if lead is None:
            return True
        if lead.company_id and lead.company_id not in user.company_ids:
            return False
        # Crm's own rules, checked with a query only for a user who sees their
        # own opportunities alone (an unassigned one is theirs to see too).
        return (
            user == lead.user_id
            or user.has_group(ALL_LEADS_GROUP)
            or lead.with_user(user).has_access("read")
        )
