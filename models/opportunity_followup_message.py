from collections import defaultdict
from textwrap import shorten

from markupsafe import Markup

from odoo import api, models
from odoo.fields import Domain
from odoo.tools import SQL, format_amount, format_date

# How many completed activities the brief mentions.
HISTORY_SIZE = 3
# How much of the last completed activity's feedback the brief quotes.
FEEDBACK_SIZE = 300


class _Memo(dict):
    """A dict that computes a missing value once, from its key."""

    def __init__(self, compute):
        super().__init__()
        self._compute = compute

    def __missing__(self, key):
        value = self[key] = self._compute(key)
        return value


class OpportunityFollowupMessage(models.AbstractModel):
    """What the salesperson gets for a stale opportunity: the summary and a
    short brief as the note of its re-engagement, in their language.

    The message to the customer is not drafted here: it is a ``mail.template``
    on opportunities (the stage's own, else this addon's), offered on the
    re-engagement as *Preview* / *Send Now* (see ``mail.activity``) and
    rendered by Odoo when the salesperson sends it, in the customer's language.
    """

    _name = "opportunity.followup.message"
    _description = "Re-engagement Brief"

    @api.model
    def _draft(self, leads, params, assignees):
        """A brief per opportunity, in its assignee's language: its name, the
        days since somebody last worked on it and how, its stage and what to
        aim for there, its value and closing date, the completed activities
        (the last one with its feedback), whom to contact.

        :param assignees: ``{lead id: who gets it}``, as the run decided (an
            empty recordset where there is nobody)
        :return: ``{lead id: {"days", "summary", "note"}}``
        """
        history = self._completed_history(leads)
        last_messages = leads._followup_last_work_messages()
        # The latest message's author and kind say how it was last touched.
        messages = {
            message.res_id: message
            for message in self.env["mail.message"]
            .sudo()
            .browse(message_id for message_id, _date in last_messages.values())
        }
        stage_tones = self._stage_tones(leads.team_id)
        last_work = leads._followup_last_work_dates(
            params.clock, last_messages, self._latest_done_days(history)
        )
        dates, type_names = self._memos()
        drafts = {}
        for lead in leads:
            assignee = assignees[lead.id]
            lang = assignee.lang or self.env.lang or "en_US"
            lead_lang = lead.with_context(lang=lang)
            env = lead_lang.env
            # The day of the last work on it where its company counts days.
            last_update = last_work[lead.id]
            days = (lead._followup_today(params.now) - last_update).days
            done = history.get(lead.id, [])
            note = Markup("<p>%s</p>") % self._last_touch_text(
                lead_lang, days, last_update, done, messages.get(lead.id), dates
            )
            facts = [
                self._stage_text(lead_lang, stage_tones),
                self._value_text(lead_lang, lang, dates),
                *self._history_texts(env, lang, done, dates, type_names),
                self._contact_text(lead_lang),
            ]
            note += Markup("<ul>%s</ul>") % Markup().join(
                Markup("<li>%s</li>") % fact for fact in facts if fact
            )
            drafts[lead.id] = {
                "days": days,
                "summary": env._(
                    "Re-engage: %(name)s (stale %(days)s days)",
                    name=lead.name,
                    days=days,
                ),
                "note": note,
            }
        return drafts

    @api.model
    def _last_touch_text(self, lead, days, day, done, message, dates):
        """When and how somebody last worked on it: the completed activity or
        the message of that day, else an edit of the record."""
        env, lang = lead.env, lead.env.lang
        args = {"name": lead.name, "days": days, "date": dates[lang, day]}
        if message and lead._followup_today(message.date) == day:
            author = message.author_id.name or message.email_from or ""
            if message.message_type == "email":
                return env._(
                    "“%(name)s”: no work for %(days)s days. Last touch on %(date)s: "
                    "an email from %(author)s.",
                    author=author,
                    **args,
                )
            if message.subtype_id.internal:  # a note, as Log note writes it
                return env._(
                    "“%(name)s”: no work for %(days)s days. Last touch on %(date)s: "
                    "a note by %(author)s.",
                    author=author,
                    **args,
                )
            return env._(
                "“%(name)s”: no work for %(days)s days. Last touch on %(date)s: "
                "a message from %(author)s.",
                author=author,
                **args,
            )
        if done and done[0].date_done == day:
            kind = done[0].activity_type_id.with_context(lang=lang).name
            if done[0].user_id:
                return env._(
                    "“%(name)s”: no work for %(days)s days. Last touch on %(date)s: "
                    "%(type)s done by %(user)s.",
                    type=kind or env._("Activity"),
                    user=done[0].user_id.name,
                    **args,
                )
            return env._(
                "“%(name)s”: no work for %(days)s days. Last touch on %(date)s: "
                "%(type)s done.",
                type=kind or env._("Activity"),
                **args,
            )
        return env._(
            "“%(name)s”: no work for %(days)s days. Last update on %(date)s.",
            **args,
        )

    @api.model
    def _stage_text(self, lead, stage_tones):
        """Its stage, and what to aim for there."""
        env = lead.env
        tone = stage_tones.get((lead.team_id.id, lead.stage_id.id), "early")
        if tone == "late":
            aim = env._("settle the last points before the decision")
        elif tone == "middle":
            aim = env._("find what holds it up and agree on the next step")
        else:
            aim = env._("find out whether it is still a priority")
        return env._(
            "Stage: %(stage)s. Aim: %(aim)s.",
            stage=lead.stage_id.name or env._("none"),
            aim=aim,
        )

    @api.model
    def _value_text(self, lead, lang, dates):
        """Its expected revenue and closing date, whichever it has."""
        env = lead.env
        revenue = lead.expected_revenue and format_amount(
            env, lead.expected_revenue, lead.company_currency, lang_code=lang
        )
        closing = lead.date_deadline and dates[lang, lead.date_deadline]
        if revenue and closing:
            return env._(
                "Expected revenue: %(revenue)s at %(probability)s%%, closing %(date)s.",
                revenue=revenue,
                probability=round(lead.probability),
                date=closing,
            )
        if revenue:
            return env._(
                "Expected revenue: %(revenue)s at %(probability)s%%.",
                revenue=revenue,
                probability=round(lead.probability),
            )
        if closing:
            return env._("Expected closing: %(date)s.", date=closing)
        return None

    @api.model
    def _contact_text(self, lead):
        """Whom to contact, and how."""
        person = lead.partner_id if not lead.partner_id.is_company else None
        name = lead.contact_name or (person and person.name)
        reach = [value for value in (lead.phone, lead.email_from) if value]
        if not (name or reach):
            return None
        return lead.env._(
            "Contact: %(contact)s.", contact=", ".join(filter(None, [name, *reach]))
        )

    @api.model
    def _draft_escalation(self, leads, followups, targets, params):
        """The escalation of an ignored re-engagement, in the language of the
        one it goes to (the team leader): whose re-engagement is overdue since
        when, and the opportunity's history.

        :param followups: ``{lead id: the open re-engagement}``
        :param targets: ``{lead id: the user the escalation goes to}``
        :return: ``{lead id: {"days", "summary", "note", "reason"}}``
        """
        history = self._completed_history(leads)
        last_work = leads._followup_last_work_dates(
            params.clock, done_days=self._latest_done_days(history)
        )
        dates, type_names = self._memos()
        drafts = {}
        for lead in leads:
            followup, target = followups[lead.id], targets[lead.id]
            lang = target.lang or self.env.lang or "en_US"
            lead_lang = lead.with_context(lang=lang)
            env = lead_lang.env
            today = lead._followup_today(params.now)
            overdue = (today - followup.date_deadline).days
            days = (today - last_work[lead.id]).days
            salesperson = followup.user_id.name or env._("nobody")
            note = Markup("<p>%s</p>") % env._(
                "%(user)s's re-engagement of “%(name)s” is overdue since %(date)s "
                "(%(days)s days) and nobody has worked on the opportunity since.",
                user=salesperson,
                name=lead.name,
                date=format_date(env, followup.date_deadline, lang_code=lang),
                days=overdue,
            )
            note += Markup("<p>%s</p>") % env._(
                "Stage: %(stage)s. Last update on %(date)s (%(days)s days ago). "
                "Re-engagements scheduled so far: %(count)s.",
                stage=lead_lang.stage_id.name or env._("none"),
                date=format_date(env, last_work[lead.id], lang_code=lang),
                days=days,
                count=lead.followup_count,
            )
            note += self._history_html(
                env, lang, history.get(lead.id), dates, type_names
            )
            drafts[lead.id] = {
                "days": days,
                "summary": env._(
                    "Escalation: %(name)s (re-engagement overdue %(days)s days)",
                    name=lead.name,
                    days=overdue,
                ),
                "note": note,
                # In the language of the log's readers, not the leader's.
                "reason": self.env._(
                    "%(user)s's re-engagement is overdue since %(date)s: escalated "
                    "to %(leader)s.",
                    user=salesperson,
                    date=format_date(self.env, followup.date_deadline),
                    leader=target.name,
                ),
            }
        return drafts

    @api.model
    def _memos(self):
        """``(dates, type_names)``: ``dates[lang, day]`` formatted and
        ``type_names[lang, activity type id]`` translated, each once: a chunk's
        opportunities share few languages, days and activity types."""
        dates = _Memo(
            lambda key: format_date(
                self.with_context(lang=key[0]).env, key[1], lang_code=key[0]
            )
        )
        type_names = _Memo(
            lambda key: (
                self.env["mail.activity.type"]
                .browse(key[1])
                .with_context(lang=key[0])
                .name
            )
        )
        return dates, type_names

    @api.model
    def _history_html(self, env, lang, done, dates, type_names):
        """The completed activities, as the escalation's note lists them."""
        return Markup("<ul>%s</ul>") % Markup().join(
            Markup("<li>%s</li>") % text
            for text in self._history_texts(env, lang, done, dates, type_names)
        )

    @api.model
    def _history_texts(self, env, lang, done, dates, type_names):
        """The last completed activity with its feedback, then the ones
        before it in a line; or that nothing was completed yet."""
        if not done:
            return [env._("Nothing completed on it yet.")]
        last, *earlier = done
        texts = [
            env._(
                "Last completed: %(activity)s.",
                activity=self._history_item(env, lang, last, dates, type_names),
            )
        ]
        if last.feedback:
            texts[0] += " " + env._(
                "Feedback: “%(feedback)s”",
                feedback=shorten(last.feedback.strip(), FEEDBACK_SIZE, placeholder="…"),
            )
        if earlier:
            texts.append(
                env._(
                    "Before that: %(activities)s.",
                    activities="; ".join(
                        self._history_item(env, lang, activity, dates, type_names)
                        for activity in earlier
                    ),
                )
            )
        return texts

    @api.model
    def _history_item(self, env, lang, activity, dates, type_names):
        kind = type_names[lang, activity.activity_type_id.id] or env._("Activity")
        date = dates[lang, activity.date_done]
        # A done re-engagement's summary would repeat the brief's own line.
        if activity.summary and not activity.is_followup:
            return env._(
                "%(type)s on %(date)s (%(summary)s)",
                date=date,
                type=kind,
                summary=activity.summary,
            )
        return env._("%(type)s on %(date)s", date=date, type=kind)

    @api.model
    def _completed_history(self, leads):
        """``{lead id: its latest completed activities, the latest first}``,
        at most ``HISTORY_SIZE`` each, in one query: Odoo keeps done
        activities forever, the brief shows a few."""
        if not leads:
            return {}

        def latest(model, alias, query):
            # The ORM has no "first n per group": a window over each lead's
            # done activities, ranked as the brief lists them.
            return SQL(
                """%(id)s IN (
                    SELECT ranked.id FROM (
                        SELECT done.id, row_number() OVER (
                                   PARTITION BY done.res_id
                                   ORDER BY done.date_done DESC, done.id DESC
                               ) AS rank
                          FROM mail_activity done
                         WHERE done.res_model = 'crm.lead'
                           AND done.res_id IN %(lead_ids)s
                           AND done.active IS NOT TRUE
                           AND done.date_done IS NOT NULL
                    ) ranked
                     WHERE ranked.rank <= %(size)s
                )""",
                id=SQL.identifier(alias, "id"),
                lead_ids=tuple(leads.ids),
                size=HISTORY_SIZE,
            )

        # Done activities are archived; the running user may not read all of
        # them, yet the salesperson must see the whole story.
        done = (
            self.env["mail.activity"]
            .sudo()
            .with_context(active_test=False)
            .search_fetch(
                Domain.custom(to_sql=latest),
                [
                    "res_id",
                    "activity_type_id",
                    "summary",
                    "date_done",
                    "feedback",
                    "user_id",
                    "is_followup",
                ],
                order="date_done desc, id desc",
            )
        )
        history = defaultdict(list)
        for activity in done:
            history[activity.res_id].append(activity)
        return history

    @api.model
    def _latest_done_days(self, history):
        """``{lead id: day of its latest completed activity}`` of
        ``_completed_history()``: the stale clock's, without reading them
        again."""
        return {lead_id: done[0].date_done for lead_id, done in history.items()}

    @api.model
    def _stage_tones(self, teams):
        """Map each (team id, open stage id) to an early / middle / late tone
        by the stage's position in that team's pipeline: the stages of every
        team and its own, as crm shows them (team id False: no team)."""
        # One query: the open stages in crm's order, a row per stage and team.
        stage_teams = {}
        for _sequence, _name, stage, team in self.env["crm.stage"]._read_group(
            [("is_won", "=", False)],
            ["sequence", "name", "id", "team_ids"],
            order="sequence, name, id",
        ):
            stage_teams.setdefault(stage.id, set()).update(team.ids)
        tones = {}
        for team_id in {False, *teams.ids}:
            pipeline = [
                stage_id
                for stage_id, team_ids in stage_teams.items()
                if not team_ids or team_id in team_ids
            ]
            last = len(pipeline) - 1
            for index, stage_id in enumerate(pipeline):
                tones[team_id, stage_id] = (
                    "early" if index == 0 else "late" if index == last else "middle"
                )
        return tones
