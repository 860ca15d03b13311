import re
from collections import defaultdict
from datetime import datetime, timedelta

import pytz

from odoo import SUPERUSER_ID, api, fields, models
from odoo.exceptions import UserError, ValidationError
from odoo.fields import Domain
from odoo.tools import SQL, format_date

from .followup_const import (
    ALL_LEADS_GROUP,
    CLOCK_WORK,
    CUSTOMER_TEMPLATE,
    DEFERRED_PRIORITY_DAYS,
    SALES_MANAGER_GROUP,
    WORK_MESSAGE_TYPES,
)
from .followup_params import Decision

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
    # The banner and *Resume*: a pause that has ended is no pause, though its
    # date stays (the chatter's tracking tells the story).
    followup_is_paused = fields.Boolean(
        string="Re-engagement Paused",
        compute="_compute_followup_is_paused",
        help="Paused until today or later, in the opportunity's company's timezone.",
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
                stage_days=self.env["crm.stage"]._followup_days(),
                team_days=self.env["crm.team"]._followup_days(),
            )
            # A team's switch is the daily job's only: a manager may still
            # pick its stale deals here and book them (Schedule Re-engagement).
            & ~self._followup_won_domain()
            & ~self._followup_paused_domain(now)
            # Booked already (or any other activity planned): nothing to do.
            & ~self._followup_open_activity_domain(now)
        )
        return domain if True in value else ~domain

    @api.depends_context("allowed_company_ids")
    @api.depends("write_date", "stage_id")
    def _compute_followup_days_stale(self):
        settings = self.env["res.config.settings"]._followup_settings()
        stage_days = self.env["crm.stage"]._followup_days()
        team_days = self.env["crm.team"]._followup_days()
        # An opportunity being created (a form's onchange) has no history yet.
        saved = self.filtered("write_date")
        last = saved._followup_last_work_dates(settings["clock"])
        now = fields.Datetime.now()
        for lead in self:
            today = lead._followup_today(now)
            days = (today - last[lead.id]).days if lead.id in last else 0
            lead.followup_days_stale = days
            # No promise of a re-engagement while the daily job is off.
            if not (lead.company_id or self.env.company).followup_active:
                lead.followup_stale_hint = self.env._(
                    "Nobody worked on it for %(days)s days; the daily re-engagement "
                    "job is off in the CRM Settings, so none is booked by itself.",
                    days=days,
                )
                continue
            lead.followup_stale_hint = self.env._(
                "Nobody worked on it for %(days)s days; a re-engagement is due after "
                "%(limit)s.",
                days=days,
                limit=stage_days.get(lead.stage_id.id)
                or team_days.get(lead.team_id.id)
                or settings["stale_days"],
            )

    @api.depends("followup_paused_until", "company_id")
    def _compute_followup_is_paused(self):
        now = fields.Datetime.now()
        for lead in self:
            until = lead.followup_paused_until
            lead.followup_is_paused = bool(until) and until >= lead._followup_today(now)

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
                    # "Out of office: <subject>" is not the customer's words.
                    ("followup_is_auto_reply", "!=", True),
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

    @api.constrains("followup_paused_until")
    def _check_followup_paused_until(self):
        self._followup_check_pause_end(
            {lead: lead.followup_paused_until for lead in self}
        )

    def _merge_get_fields_specific(self):
        # Odoo keeps the most likely deal's value, else the first one set: a
        # customer's "not before March" on the duplicate would be lost, or a
        # shorter pause kept. The pause that lasts longest wins, with its
        # reason; one that has ended is no pause to keep.
        def latest_pause(leads):
            return max(
                leads.filtered("followup_is_paused"),
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
    # CRUD
    # ------------------------------------------------------------

    def write(self, vals):
        before = self._followup_revival_watch(vals)
        result = super().write(vals)
        if vals.get("followup_paused_until"):
            self._followup_pause_open_activities()
        if before:
            self._followup_resolve_revived(before)
        return result

    def _followup_open_reminders(self, *flags):
        """The open activities this addon booked on these opportunities, of
        the kinds ``flags`` (``is_followup``, ``is_followup_escalation``,
        ``is_followup_decision``), whoever they are for (sudo: the callers
        say why colleagues' count)."""
        return (
            self.env["mail.activity"]
            .sudo()
            .search(
                Domain("res_model", "=", self._name)
                & Domain("res_id", "in", self.ids)
                & Domain.OR(Domain(flag, "=", True) for flag in flags)
            )
        )

    def _followup_pause_open_activities(self):
        """A pause decides what becomes of what the re-engagement left open:
        the re-engagement is due the day after the pause, and an escalation of
        it is closed (the leader has nothing to chase), said in the chatter.
        A pause that has already ended changes nothing."""
        # Sudo: the user may edit the deal (the write above checked it); its
        # re-engagement and the leader's escalation go with that decision.
        open_activities = self._followup_open_reminders(
            "is_followup", "is_followup_escalation"
        ).grouped("res_id")
        now = fields.Datetime.now()
        for lead in self:
            activities = open_activities.get(lead.id)
            until = lead.followup_paused_until
            if not activities or until < lead._followup_today(now):
                continue
            # Due during the pause: the day after it. One due later keeps its day.
            followups = activities.filtered(
                lambda act, until=until: act.is_followup and act.date_deadline <= until
            )
            escalations = activities.filtered("is_followup_escalation")
            if not (followups or escalations):
                continue
            due = until + timedelta(days=1)
            args = {
                "date": format_date(self.env, until),
                "due": format_date(self.env, due),
                "users": ", ".join(escalations.user_id.mapped("name")),
            }
            followups.date_deadline = due
            # The escalation the pause closes was no leader's dismissal: the
            # re-engagement, ignored again after the pause, is escalated again.
            if escalations:
                activities.filtered("is_followup").followup_escalated = False
                escalations.unlink()
            # Whole sentences, for the translators' word order.
            if followups and escalations:
                body = self.env._(
                    "Re-engagement paused until %(date)s: its re-engagement is now "
                    "due on %(due)s and the escalation to %(users)s is closed.",
                    **args,
                )
            elif followups:
                body = self.env._(
                    "Re-engagement paused until %(date)s: its re-engagement is now "
                    "due on %(due)s.",
                    **args,
                )
            else:
                body = self.env._(
                    "Re-engagement paused until %(date)s: the escalation to "
                    "%(users)s is closed.",
                    **args,
                )
            # A notification, not a note: the pause is no work on the deal.
            lead.message_post(
                body=body, message_type="notification", subtype_xmlid="mail.mt_note"
            )

    # ------------------------------------------------------------
    # Actions
    # ------------------------------------------------------------

    def activity_send_mail(self, template_id):
        """*Send Now* on an activity's email template of opportunities. Odoo
        posts it as an automatic notification; sent by a person, it is work on
        the deal (and resets the stale clock), as the same email sent from the
        composer; the email a re-engagement offers completes it ("Email
        sent"). Refused where it would reach nobody: posted anyway, it would
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
        self.env["mail.activity"]._followup_done_by_email(self, template)
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
    def _followup_work_sources(self):
        """``{model: its Many2one field to crm.lead}``: the documents linked to
        a deal whose work is work on the deal (see ``opportunity.followup.work``
        for what counts): its meetings, and its quotations where ``sale_crm``
        is installed. Models absent from the database are left out. A module
        that links other documents to deals adds its own::

            def _followup_work_sources(self):
                return {**super()._followup_work_sources(),
                        "helpdesk.ticket": "lead_id"}
        """
        sources = {"calendar.event": "opportunity_id"}
        if "sale.order" in self.env and "opportunity_id" in self.env["sale.order"]:
            sources["sale.order"] = "opportunity_id"
        return sources

    def _followup_check_pause_end(self, ends):
        """Refuse a pause that would end before today where its opportunity
        is: it would pause nothing, yet look paused.

        :param ends: ``{lead: the day its pause ends}`` (False: no pause)
        """
        now = fields.Datetime.now()
        for lead, until in ends.items():
            if until and until < lead._followup_today(now):
                raise ValidationError(
                    self.env._(
                        "A re-engagement pause must last until today or later: "
                        "%(date)s is in the past (%(name)s).",
                        date=format_date(self.env, until),
                        name=lead.display_name,
                    )
                )

    def _followup_today(self, now):
        """Today where this opportunity's company is (the current company's
        for an opportunity without one)."""
        self.ensure_one()
        return (self.company_id or self.env.company)._followup_today(now)

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
        for tz, today, company_ids in self._followup_local_days(now):
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
                    part &= ~self._followup_worked_since(cutoff, cutoff_day, now)
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
            & Domain("followup_paused_until", ">=", today)
            for _tz, today, company_ids in self._followup_local_days(now)
        )

    @api.model
    def _followup_local_days(self, now):
        """``[(timezone, its day at now, company ids)]`` of the environment's
        companies; False (no company) counts in the current company's."""
        # The day is the company's own (res.company._followup_today).
        companies_by_day = defaultdict(list)
        for company, company_id in [
            *((company, company.id) for company in self.env.companies),
            (self.env.company, False),
        ]:
            key = company._followup_tz(), company._followup_today(now)
            companies_by_day[key].append(company_id)
        return [
            (tz, today, company_ids)
            for (tz, today), company_ids in companies_by_day.items()
        ]

    @api.model
    def _followup_group_by_days(self, days_by_id):
        """``[(days, [ids])]`` of ``{id: days}``."""
        ids_by_days = defaultdict(list)
        for record_id, days in days_by_id.items():
            ids_by_days[days].append(record_id)
        return sorted(ids_by_days.items())

    @api.model
    def _followup_open_activity_domain(self, now=None):
        """Opportunities with an open activity, whoever it is for (the
        runner's rule: colleagues' activities the user may not read count),
        or a meeting still to come (a plan as well)."""
        now = now or fields.Datetime.now()

        def to_sql(model, alias, query):
            lead_id = SQL.identifier(alias, "id")
            open_activity = SQL(
                """EXISTS (
                    SELECT 1 FROM mail_activity open
                     WHERE open.res_model = 'crm.lead'
                       AND open.res_id = %s AND open.active IS TRUE
                )""",
                lead_id,
            )
            meeting = self.env["opportunity.followup.work"]._planned_meeting_sql(
                lead_id, now
            )
            return SQL("(%s OR %s)", open_activity, meeting)

        return Domain.custom(to_sql=to_sql)

    @api.model
    def _followup_won_domain(self):
        """Won: in a won stage, or marked won."""
        return Domain("stage_id.is_won", "=", True) | Domain("won_status", "=", "won")

    @api.model
    def _followup_worked_since(self, cutoff, cutoff_day, now):
        """Opportunities with a completed activity on or after ``cutoff_day``
        or a message by a person or the customer after ``cutoff`` (UTC), on
        themselves or on a linked document (its work too: see
        ``opportunity.followup.work``); an auto-responder's answer is
        nobody's work."""
        odoobot = self.env.ref("base.partner_root").id
        Work = self.env["opportunity.followup.work"]

        def to_sql(model, alias, query):
            lead_id = SQL.identifier(alias, "id")
            own = SQL(
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
                       AND message.followup_is_auto_reply IS NOT TRUE
                ))""",
                lead_id=lead_id,
                day=cutoff_day,
                cutoff=cutoff,
                types=WORK_MESSAGE_TYPES,
                odoobot=odoobot,
            )
            linked = Work._worked_since_sql(lead_id, cutoff, cutoff_day, now)
            return SQL("(%s OR %s)", own, linked) if linked else own

        return Domain.custom(to_sql=to_sql)

    def _followup_last_work_messages(self):
        """``{lead id: (id, date)}`` of the latest message a person or the
        customer wrote on each (a note, a message, an email; not OdooBot's,
        not an auto-reply), in one query. Colleagues' messages count,
        readable or not."""
        if not self:
            return {}
        self.env.cr.execute(self._followup_last_work_messages_sql())
        return {
            res_id: (message_id, date)
            for res_id, _model, message_id, date, _kind in self.env.cr.fetchall()
        }

    def _followup_last_work_messages_sql(self):
        # Rows as opportunity.followup.work._last_work_sql's, to go with them.
        return SQL(
            """SELECT DISTINCT ON (res_id) res_id, 'crm.lead', id, date, 'own'
                 FROM mail_message
                WHERE model = 'crm.lead' AND res_id IN %(ids)s
                  AND message_type IN %(types)s
                  AND author_id IS DISTINCT FROM %(odoobot)s
                  AND followup_is_auto_reply IS NOT TRUE
             ORDER BY res_id, date DESC, id DESC""",
            ids=tuple(self.ids),
            types=WORK_MESSAGE_TYPES,
            odoobot=self.env.ref("base.partner_root").id,
        )

    def _followup_last_traces(self, now):
        """``(_followup_last_work_messages(), the latest work on their linked
        documents)`` (see ``opportunity.followup.work._last_work``), in one
        query."""
        Work = self.env["opportunity.followup.work"]
        linked = Work._last_work_sql(self, now)
        if not self or not linked:
            return self._followup_last_work_messages(), {}
        self.env.cr.execute(
            SQL("(%s) UNION ALL (%s)", self._followup_last_work_messages_sql(), linked)
        )
        rows = self.env.cr.fetchall()
        messages = {
            lead_id: (message_id, date)
            for lead_id, _model, message_id, date, kind in rows
            if kind == "own"
        }
        return messages, Work._read_last_work(row for row in rows if row[4] != "own")

    def _followup_last_work_dates(
        self, clock, messages=None, done_days=None, linked=None
    ):
        """``{lead id: day of the last work on it}``, in its company's
        timezone, in two queries for the whole recordset and one per work
        source (its linked documents: see ``_followup_work_sources``).

        :param messages: ``_followup_last_work_messages()``, if the caller has
            them already
        :param done_days: ``{lead id: day of its latest completed activity}``
            (none: no entry), if the caller has them already
        :param linked: ``opportunity.followup.work._last_work()``, if the
            caller has it already
        """
        last = {}
        for lead in self:
            last[lead.id] = lead._followup_today(lead.write_date)
        if clock != CLOCK_WORK or not self:
            return last
        if done_days is None:
            # Work of colleagues the current user may not read counts too.
            done_days = dict(
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
        for res_id, day in done_days.items():
            last[res_id] = max(last[res_id], day)
        if messages is None and linked is None:
            messages, linked = self._followup_last_traces(fields.Datetime.now())
        elif messages is None:
            messages = self._followup_last_work_messages()
        for lead in self.browse(list(messages)):
            day = lead._followup_today(messages[lead.id][1])
            last[lead.id] = max(last[lead.id], day)
        if linked is None:
            linked = self.env["opportunity.followup.work"]._last_work(
                self, fields.Datetime.now()
            )
        for lead in self.browse(list(linked)):
            last[lead.id] = max(last[lead.id], lead._followup_linked_day(linked))
        return last

    def _followup_linked_day(self, linked):
        """The day of the latest work on a linked document of this deal, in
        its company's timezone (a completed activity's day as it is).

        :param linked: ``opportunity.followup.work._last_work()``
        """
        self.ensure_one()
        moment, kind, _document = linked[self.id]
        return moment.date() if kind == "done" else self._followup_today(moment)

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
    # The stale search and the decision per deal
    # ------------------------------------------------------------

    @api.model
    def _followup_search_stale(self, params, exclude=None):
        """The stale opportunities of a run (:class:`RunParams`): within its
        scope (salesperson, team, selected records, company, teams switched
        off), in priority order for the daily cap: those a cap deferred lately
        first, then by prorated revenue, then the longest quiet.

        :param exclude: opportunities to leave out (a query of ids: those a
            resumed run considered already)
        """
        domain = (
            # The leader's *Revive*: the deal they chose, stale or not.
            Domain([("type", "=", "opportunity"), ("active", "=", True)])
            if params.revive
            else self._followup_stale_domain(
                params.stale_days,
                params.clock,
                params.now,
                dict(params.stage_days),
                dict(params.team_days),
            )
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
        if exclude is not None:
            domain &= Domain("id", "not in", exclude)
        # Their customers, read with them: the chunks keep each one's together.
        stale = self.search_fetch(
            domain, ["partner_id"], order="prorated_revenue desc, write_date, id"
        )
        if not params.daily_cap:
            return stale
        # The runs' own record of what they deferred.
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

    def _followup_decide(self, params, state):
        """What a run does with each of these stale opportunities: one
        decision per deal, the first of these that applies, in this order:

        1. ``skipped_won``: won (a won stage, or marked won);
        2. ``skipped_paused``: paused until today or later, whatever is open
           on it;
        3. ``skipped_pending``: an activity is open on it, anybody's, or a
           meeting is still to come: nothing to book (an open Decide too, but
           in the leader's *Revive*).
           ``escalated`` instead when it is its re-engagement,
           ignored more than *Escalate after* working days past its deadline,
           never escalated before, no meeting is to come, and someone may
           take the escalation (see
           :meth:`_followup_escalations`);
        4. ``decide``: re-engaged *Re-engagements before a decision* times in
           a row (its team's number, else the settings') with no revival
           since, and someone other than its salesperson may decide: its team
           leader, else the default re-engagement user, gets a Decide
           activity instead (see :meth:`_followup_decisions`); never in the
           leader's *Revive*;
        5. ``skipped_held_out``: held out by an earlier run to measure the
           lift, or grouped with a deal held out, its result window still open
           (see :meth:`_followup_holdouts`);
        6. ``skipped_unassigned``: nobody may take its re-engagement (see
           :meth:`_followup_assignees`);
        7. ``grouped``: one call per customer: another deal of its customer
           in this run, worth more, gets the re-engagement, and one
           salesperson owns them all (see :meth:`_followup_groups`);
        8. ``held_out``: drawn to measure the lift (see
           :meth:`_followup_holdouts`);
        9. ``deferred``: its assignee got the daily cap in this run already,
           and no manager chose it by hand (the deals grouped with it wait
           with it, ``grouped``);
        10. ``scheduled`` (``preview`` in a dry run).

        :param state: what the run learnt so far (:class:`RunState`): the
            re-engagements booked per assignee, the calendars read
        :return: ``{lead id: Decision}``, in the opportunities' order
        """
        # The rules below read these deals subset by subset, and a subset's
        # first field read fetches that subset only: read one field of them
        # all first, which fetches the whole chunk's fields in one query.
        self.mapped("active")
        # Rules 1 and 2 are the domains the stale search applies, matched in
        # the query that reads what rules 3 and 4 need.
        rules = (self._followup_won_domain(), self._followup_paused_domain(params.now))
        pending_ids, streaks, meetings, (won_ids, paused_ids) = (
            self._followup_decision_facts(params.now, params.revive, rules)
        )
        decisions = {}
        for lead in self:
            if lead.id in won_ids:
                decisions[lead.id] = Decision(
                    "skipped_won", self.env._("Won: already closed.")
                )
            elif lead.id in paused_ids:
                decisions[lead.id] = Decision(
                    "skipped_paused",
                    self.env._(
                        "Paused until %(date)s: %(reason)s",
                        date=format_date(self.env, lead.followup_paused_until),
                        reason=lead.followup_pause_reason or "—",
                    ),
                )
            elif lead.id in pending_ids and lead.id in meetings:
                # The meeting holds its re-engagement back from escalation.
                decisions[lead.id] = Decision(
                    "skipped_pending",
                    self.env._(
                        "Already has an open activity, and a meeting is planned "
                        "on %(date)s.",
                        date=format_date(self.env, meetings[lead.id].date()),
                    ),
                )
            elif lead.id in pending_ids:
                decisions[lead.id] = Decision(
                    "skipped_pending", self.env._("Already has an open activity.")
                )
            elif lead.id in meetings:
                # A meeting to come is a plan, as an open activity is.
                decisions[lead.id] = Decision(
                    "skipped_pending",
                    self.env._(
                        "A meeting is planned on %(date)s.",
                        date=format_date(self.env, meetings[lead.id].date()),
                    ),
                )
        # A meeting to come is a plan for the open activity too: its
        # re-engagement is not escalated.
        pending = self.browse(
            lead_id
            for lead_id, decision in decisions.items()
            if decision.outcome == "skipped_pending" and lead_id not in meetings
        )
        if pending and params.escalate_after_days and not params.dry_run:
            decisions.update(pending._followup_escalations(params, state))
        if not params.revive:
            decisions.update(
                self.filtered(
                    lambda lead: lead.id not in decisions
                )._followup_decisions(params, streaks)
            )
        history = (
            self.env["workflow.log.line"]._followup_holdout_history(
                self.filtered(lambda lead: lead.id not in decisions), params.now
            )
            if params.holdout
            else {}
        )
        decisions.update(self._followup_holdout_skips(params, history))
        to_book = self.filtered(lambda lead: lead.id not in decisions)
        chosen = dict(params.assignees)
        assignees = to_book._followup_assignees(
            self.env["res.users"].browse(params.default_user_id), chosen
        )
        groups = to_book._followup_groups(assignees)
        booked_with = {
            lead_id: booked for booked in groups for lead_id in groups[booked].ids
        }
        # A customer's deal that stands for the others is drawn as one deal.
        drawn = to_book.filtered(
            lambda lead: lead.id not in booked_with
        )._followup_holdouts(params, history, assignees)
        for lead in to_book:
            assignee = assignees[lead.id]
            if lead.id in booked_with:
                booked = self.browse(booked_with[lead.id])
                decisions[lead.id] = lead._followup_grouped(
                    booked, assignee, "held_out" if booked.id in drawn else None
                )
            elif not assignee:
                decisions[lead.id] = Decision(
                    "skipped_unassigned",
                    self.env._(
                        "No one to assign it to: it has no active salesperson "
                        "or team leader, and the settings name no default "
                        "re-engagement user."
                    ),
                    assignee=assignee,
                )
            elif lead.id in drawn:
                decisions[lead.id] = drawn[lead.id]
            # What a manager ticked in the scheduling dialog is booked as
            # shown there: the cap is for what nobody chose.
            elif (
                params.daily_cap
                and lead.id not in chosen
                and state.booked[assignee.id] >= params.daily_cap
            ):
                decisions[lead.id] = Decision(
                    "deferred",
                    self.env._(
                        "Deferred: %(user)s already gets %(cap)s new "
                        "re-engagements in this run (the daily cap); it comes "
                        "first next time.",
                        user=assignee.name,
                        cap=params.daily_cap,
                    ),
                    assignee=assignee,
                    grouped=groups.get(lead.id),
                )
            else:
                state.booked[assignee.id] += 1
                decisions[lead.id] = Decision(
                    "preview" if params.dry_run else "scheduled",
                    assignee=assignee,
                    grouped=groups.get(lead.id),
                )
        decisions.update(self._followup_deferred_groups(groups, decisions))
        return {lead.id: decisions[lead.id] for lead in self}

    def _followup_escalations(self, params, state):
        """Rule 3 of :meth:`_followup_decide`, for these opportunities with an
        open activity: ``{lead id: Decision}``, ``escalated`` (to whom, about
        which re-engagement) where its re-engagement is to be escalated, else
        ``skipped_pending``, with a warning when nobody may take it."""
        open_followups = self.env["mail.activity"]._followup_open_followups(self)
        escalated_ids = {
            act.res_id for act in open_followups if act.is_followup_escalation
        }
        # One escalation per re-engagement, ever: one the leader dismissed
        # (or completed) is not escalated again.
        ignored = open_followups.filtered(
            lambda act: (
                not act.is_followup_escalation
                and not act.followup_escalated
                and act.res_id not in escalated_ids
            )
        )
        last_days = {}
        days = params.escalate_after_days
        # Past the deadline in working days of its salesperson: the calendar
        # its deadline was set with, read once a run whatever the deadlines.
        for salesperson, acts in ignored.grouped("user_id").items():
            deadlines = acts.mapped("date_deadline")
            calendar = salesperson and state.calendar(
                salesperson, min(deadlines), max(deadlines), days
            )
            for act in acts:
                last_days[act.id] = (
                    calendar.deadline(act.date_deadline, days)[0]
                    if calendar
                    else act.date_deadline + timedelta(days=days)
                )
        # Within the chunk's prefetch: its deals are read once, not one by one.
        leads = {lead.id: lead for lead in self}
        followups = {
            act.res_id: act.sudo(False)
            for act in ignored
            if leads[act.res_id]._followup_today(params.now) > last_days[act.id]
        }
        overdue = self.browse(list(followups))
        # Never back to the salesperson whose re-engagement it is.
        targets = overdue._followup_leaders(
            self.env["res.users"].browse(params.default_user_id),
            {lead_id: followup.user_id for lead_id, followup in followups.items()},
        )
        decisions = {}
        for lead in overdue:
            salesperson, leader = followups[lead.id].user_id, lead.team_id.user_id
            target = targets[lead.id]
            if target:
                decisions[lead.id] = Decision(
                    "escalated",
                    assignee=target,
                    followup=followups[lead.id],
                    warning=self.env._(
                        "The team leader is the salesperson: escalated to the "
                        "default re-engagement user, %(user)s.",
                        user=target.name,
                    )
                    if leader == salesperson
                    else None,
                )
                continue
            decisions[lead.id] = Decision(
                "skipped_pending",
                self.env._("Already has an open activity."),
                warning=self.env._(
                    "Re-engagement overdue, not escalated: the team leader is the "
                    "salesperson and there is no other default re-engagement user."
                )
                if leader and leader == salesperson
                else self.env._(
                    "Re-engagement overdue, not escalated: nobody to escalate to (no "
                    "team leader, no default re-engagement user)."
                ),
            )
        return decisions

    # ------------------------------------------------------------
    # Who gets it
    # ------------------------------------------------------------

    def _followup_leaders(self, default_user, not_to):
        """``{lead id: who takes a matter above its salesperson}``, an
        escalation or a decision: the team leader, else the default
        re-engagement user; never ``not_to[lead id]`` (whose work it is
        about), nor one who may not open it. An empty recordset where there
        is nobody."""
        Users = self.env["res.users"]
        may_open = self._followup_may_open(self.team_id.user_id | default_user)
        return {
            lead.id: next(
                (
                    user
                    for user in (lead.team_id.user_id, default_user)
                    if user and lead.id in may_open[user.id] and user != not_to[lead.id]
                ),
                Users,
            )
            for lead in self
        }

    def _followup_deadline(self, assignee, params, state):
        """When this opportunity's re-engagement is due: ``deadline_days``
        working days of ``assignee`` after today where the opportunity is
        (calendar days, per the settings), their calendar read once a run
        (``state``).

        :return: ``(date, warning or None)``
        """
        self.ensure_one()
        today, days = self._followup_today(params.now), params.deadline_days
        if not params.working_days:
            return today + timedelta(days=days), None
        return state.calendar(assignee, today, today, days).deadline(today, days)

    def _followup_activity_values(
        self, activity_type_id, deadline, draft, user, escalation=False, decision=False
    ):
        """The values of the activity a run books on this opportunity (as
        ``mail.activity.mixin.activity_schedule`` builds them): its summary and
        note from ``draft``, for ``user``; a re-engagement, the escalation of
        one, or the decision asked after too many."""
        flag = (
            "is_followup_escalation"
            if escalation
            else "is_followup_decision"
            if decision
            else "is_followup"
        )
        self.ensure_one()
        return {
            "res_model_id": self.env["ir.model"]._get_id(self._name),
            "res_id": self.id,
            "activity_type_id": activity_type_id,
            "date_deadline": deadline,
            "summary": draft["summary"],
            "note": draft["note"],
            "user_id": user.id,
            "automated": True,
            flag: True,
        }

    def _followup_assignees(self, default_user, chosen=None):
        """``{lead id: who gets its re-engagement}``: the user a manager chose
        for it (the scheduling wizard), else the salesperson, else the team
        leader, else the settings' default re-engagement user; never an
        archived, portal or system user, nor one who may not open it. An empty
        recordset where there is nobody.

        :param chosen: ``{lead id: user id}`` chosen in the scheduling wizard
        """
        chosen = chosen or {}
        Users = self.env["res.users"]
        assignees = dict.fromkeys(self.ids, Users)
        left = self
        for candidate in (
            lambda lead: Users.browse(chosen.get(lead.id) or []),
            lambda lead: lead.user_id,
            lambda lead: lead.team_id.user_id,
            lambda lead: default_user,
        ):
            # The next candidate is asked about only where the one before
            # may not take it: one access check per user and candidate.
            taken = set()
            for user, leads in left.grouped(candidate).items():
                if not user:
                    continue
                may_open = leads._followup_may_open(user)[user.id]
                for lead_id in may_open:
                    assignees[lead_id] = user
                taken |= may_open
            left = left.filtered(lambda lead, taken=taken: lead.id not in taken)
        return assignees

    def _followup_may_open(self, users):
        """``{user id: ids of these opportunities the user may be given}``: an
        active internal user, never OdooBot, in the opportunity's company, who
        may open it (crm's own rules hide a colleague's deals from "own
        documents" salespeople). Asked in each user's own companies, whatever
        companies the caller ticked, with one access check per user."""
        result = {}
        for user in users:
            # Portal and public users are share users; OdooBot is the superuser.
            if not (user.active and not user.share and user.id != SUPERUSER_ID):
                result[user.id] = set()
                continue
            # Sudo: the companies a colleague works in, to ask in those.
            companies = user.sudo().company_ids
            leads = self.filtered(
                lambda lead, companies=companies: (
                    not lead.company_id or lead.company_id in companies
                )
            )
            if not user.has_group(ALL_LEADS_GROUP):
                # Their own ones are theirs to see; crm's rules decide the
                # others, in the user's companies (the caller's may be
                # companies the user is not in: Odoo would refuse to answer).
                own = leads.filtered(lambda lead, user=user: lead.user_id == user)
                leads = own | (leads - own).with_user(user).with_context(
                    allowed_company_ids=companies.ids
                )._filtered_access("read").with_env(self.env)
            result[user.id] = set(leads.ids)
        return result
