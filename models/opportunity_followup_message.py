from collections import defaultdict
from functools import cache
from textwrap import shorten

from markupsafe import Markup

from odoo import api, models
from odoo.tools import format_amount, format_date

# How much of the last completed activity's feedback the notes quote.
FEEDBACK_SIZE = 300
# Between the notes of one rendering: neither PostgreSQL text (what the notes
# show) nor XML (the templates) can hold a NUL, so no note contains it.
NOTE_SEPARATOR = Markup("\x00")


class OpportunityFollowupMessage(models.AbstractModel):
    """The notes of a re-engagement (the brief) and of its escalation, in the
    language of whom each goes to: QWeb templates, changed by inheritance
    (``data/followup_brief_templates.xml``), and the values this hands them.
    The leader's Decide note uses the same (see ``crm_lead_decision.py``); the
    customer's email is a ``mail.template`` (see ``mail.activity``)."""

    _name = "opportunity.followup.message"
    _description = "Re-engagement Brief"

    @api.model
    def _draft(self, leads, params, assignees, grouped=None):
        """A brief per opportunity, in its assignee's language
        (``followup_brief``): how long nobody worked on it and how it was last
        touched, its stage and aim, value, completed activities, contact, and
        the customer's other quiet deals it stands for.

        :param assignees: ``{lead id: who gets it}``, as the run decided (an
            empty recordset where there is nobody)
        :param grouped: ``{lead id: the customer's other quiet deals}`` (one
            call per customer), where there are
        :return: ``{lead id: {"days", "summary", "note"}}``
        """
        grouped = grouped or {}
        last_messages, linked = leads._followup_last_traces(params.now)
        history, last_work = self.env["opportunity.followup.work"]._history(
            leads, params, last_messages, linked
        )
        # The latest message's author and kind say how it was last touched;
        # sudo: colleagues' messages count, readable by the runner or not.
        messages = (
            self.env["mail.message"]
            .sudo()
            .browse([message_id for message_id, _date in last_messages.values()])
        )
        messages = {message.res_id: message for message in messages}
        stage_tones = self.env["crm.stage"]._followup_tones(leads.team_id)
        date, type_name = self._memos()
        drafts, notes = {}, defaultdict(dict)
        for lead in leads:
            lang = assignees[lead.id].lang or self.env.lang or "en_US"
            values = self._values(lead, lang, history.get(lead.id), date, type_name)
            env = values["lead"].env
            # The day of the last work on it where its company counts days.
            day = last_work[lead.id]
            days = (lead._followup_today(params.now) - day).days
            revenue = lead.expected_revenue and format_amount(
                env, lead.expected_revenue, lead.company_currency, lang_code=lang
            )
            values.update(
                self._last_touch(
                    values, day, messages.get(lead.id), linked.get(lead.id), lang
                ),
                days=days,
                date=date(lang, day),
                tone=stage_tones.get((lead.team_id.id, lead.stage_id.id), "early"),
                revenue=revenue,
                probability=round(lead.probability),
                closing=lead.date_deadline and date(lang, lead.date_deadline),
                contact=self._contact(lead),
                also_quiet=", ".join(
                    f"“{other.name}”" for other in grouped.get(lead.id) or ()
                ),
            )
            summary = env._(
                "Re-engage: %(name)s (stale %(days)s days)", name=lead.name, days=days
            )
            drafts[lead.id] = {"days": days, "summary": summary}
            notes[lang][lead.id] = values
        self._render_notes("followup_brief", notes, drafts)
        return drafts

    @api.model
    def _last_touch(self, values, day, message, linked=None, lang=None):
        """How somebody last worked on it on ``day``: ``document`` for the
        linked document worked on that day after any message on the deal
        (``document``: its description, a quotation's amount and state),
        ``email``, ``note`` or ``message`` (by ``author``) for the message of
        that day, ``done`` for the activity completed that day
        (``activity_type``, done by ``done_by``), else ``update`` (an edit of
        the record).

        :param linked: ``(moment, kind, document)``: see ``_last_work`` of
            ``opportunity.followup.work``"""
        lead, history = values["lead"], values["history"]
        if (
            linked
            and lead._followup_linked_day({lead.id: linked}) == day
            and not (message and message.date > linked[0])
        ):
            work = self.env["opportunity.followup.work"]
            return {"touch": "document", "document": work._describe(linked[2], lang)}
        if message and lead._followup_today(message.date) == day:
            # A note is what Log note writes: an internal subtype.
            touch = "note" if message.subtype_id.internal else "message"
            return {
                "touch": "email" if message.message_type == "email" else touch,
                "author": message.author_id.name or message.email_from or "",
            }
        if history and history[0]["activity"].date_done == day:
            return {
                "touch": "done",
                "activity_type": history[0]["type"],
                "done_by": history[0]["activity"].user_id.name,
            }
        return {"touch": "update"}

    @api.model
    def _contact(self, lead):
        """Whom to contact: a person (not a company), phone, email."""
        person = lead.partner_id if not lead.partner_id.is_company else None
        name = lead.contact_name or (person and person.name)
        return ", ".join(filter(None, (name, lead.phone, lead.email_from)))

    @api.model
    def _draft_escalation(self, leads, followups, targets, params):
        """The escalation of an ignored re-engagement, in the team leader's
        language (``followup_escalation_note``): whose re-engagement is
        overdue since when, and the opportunity's history.

        :param followups: ``{lead id: the open re-engagement}``
        :param targets: ``{lead id: the user the escalation goes to}``
        :return: ``{lead id: {"days", "summary", "note", "reason"}}``
        """
        history, last_work = self.env["opportunity.followup.work"]._history(
            leads, params
        )
        date, type_name = self._memos()
        drafts, notes = {}, defaultdict(dict)
        for lead in leads:
            followup, target = followups[lead.id], targets[lead.id]
            lang = target.lang or self.env.lang or "en_US"
            values = self._values(lead, lang, history.get(lead.id), date, type_name)
            env = values["lead"].env
            today = lead._followup_today(params.now)
            overdue = (today - followup.date_deadline).days
            days = (today - last_work[lead.id]).days
            salesperson = followup.user_id.name or env._("nobody")
            values.update(
                followup=followup,
                salesperson=salesperson,
                deadline=date(lang, followup.date_deadline),
                overdue=overdue,
                date=date(lang, last_work[lead.id]),
                days=days,
                count=lead.followup_count,
            )
            drafts[lead.id] = {
                "days": days,
                "summary": env._(
                    "Escalation: %(name)s (re-engagement overdue %(days)s days)",
                    name=lead.name,
                    days=overdue,
                ),
                # In the language of the log's readers, not the leader's.
                "reason": self.env._(
                    "%(user)s's re-engagement is overdue since %(date)s: escalated "
                    "to %(leader)s.",
                    user=salesperson,
                    date=format_date(self.env, followup.date_deadline),
                    leader=target.name,
                ),
            }
            notes[lang][lead.id] = values
        self._render_notes("followup_escalation_note", notes, drafts)
        return drafts

    @api.model
    def _values(self, lead, lang, activities, date, type_name):
        """What both notes show of ``lead`` in ``lang``: ``lead``, ``name``,
        ``stage``, and ``history``: its completed ``activities``, the latest
        first, ``{"type", "date", "summary", "feedback", "activity"}`` each."""
        lead = lead.with_context(lang=lang)
        history = [
            {
                "type": type_name(lang, activity.activity_type_id.id),
                "date": date(lang, activity.date_done),
                # A done re-engagement's summary would repeat the brief's own.
                "summary": not activity.is_followup and activity.summary,
                "feedback": self._feedback(activity),
                "activity": activity,
            }
            for activity in activities or ()
        ]
        stage = lead.stage_id.name or lead.env._("none")
        return {"lead": lead, "name": lead.name, "stage": stage, "history": history}

    @api.model
    def _feedback(self, activity):
        """The feedback of a completed activity as the notes quote it."""
        feedback = activity.feedback and activity.feedback.strip()
        return feedback and shorten(feedback, FEEDBACK_SIZE, placeholder="…")

    @api.model
    def _render_notes(self, template, notes, drafts):
        """Render this addon's QWeb ``template`` for many opportunities: one
        rendering per language (its terms translated), of all of them at
        once, each with its own values; sets each one's ``note`` in
        ``drafts``. A rendering per opportunity repeated QWeb's set-up (its
        environment, context and values) for each of thousands.

        :param notes: ``{lang: {lead id: the template's values}}``
        """
        for lang, values_by_lead in notes.items():
            qweb = self.env["ir.qweb"].with_context(lang=lang)
            output = qweb._render(
                "crm_opportunity_followup.followup_notes",
                {
                    "template": f"crm_opportunity_followup.{template}",
                    "notes": list(values_by_lead.values()),
                    "separator": NOTE_SEPARATOR,
                },
                minimal_qcontext=True,
            )
            # Each note follows its separator, in the order of the values.
            parts = output.split(NOTE_SEPARATOR)[1:]
            for lead_id, note in zip(values_by_lead, parts, strict=True):
                drafts[lead_id]["note"] = Markup(note)

    @api.model
    def _memos(self):
        """``date(lang, day)`` and ``type_name(lang, activity type id)``, each
        once: a chunk's opportunities share few languages, days, types."""

        @cache
        def date(lang, day):
            return format_date(self.with_context(lang=lang).env, day, lang_code=lang)

        @cache
        def type_name(lang, type_id):
            env = self.with_context(lang=lang).env
            return env["mail.activity.type"].browse(type_id).name or env._("Activity")

        return date, type_name
