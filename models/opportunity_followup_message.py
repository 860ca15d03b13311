from collections import defaultdict

from markupsafe import Markup

from odoo import api, models
from odoo.tools import format_date, html_sanitize

# How many completed activities the drafted message mentions.
HISTORY_SIZE = 3


class _Memo(dict):
    """A dict that computes a missing value once, from its key."""

    def __init__(self, compute):
        super().__init__()
        self._compute = compute

    def __missing__(self, key):
        value = self[key] = self._compute(key)
        return value


class OpportunityFollowupMessage(models.AbstractModel):
    """The re-engagement message drafted for a stale opportunity: the
    summary and the note of its activity, in its assignee's language.

    The wording of a stage with its own template is that ``mail.template``;
    otherwise the default wording follows the stage's position in the
    pipeline.
    """

    _name = "opportunity.followup.message"
    _description = "Opportunity Follow-up Message"

    @api.model
    def _draft(self, leads, params):
        """A personal message per opportunity, in its assignee's language:
        its name, the days since somebody last worked on it, its stage, the
        latest completed activities. The assignee is ``crm.lead``'s choice;
        an empty one when there is nobody.

        :return: ``{lead id: {"assignee", "days", "summary", "note", "warning"}}``
        """
        history = self._completed_history(leads)
        stage_tones = self._stage_tones()
        last_work = leads._followup_last_work_dates(params.clock)
        default_user = self.env["res.users"].browse(params.default_user_id)
        chosen = dict(params.assignees)
        assignees = {
            lead.id: lead._followup_assignee(default_user, chosen.get(lead.id))
            for lead in leads
        }
        langs = {
            lead.id: assignees[lead.id].lang or self.env.lang or "en_US"
            for lead in leads
        }
        stage_texts = self.with_context(followup_now=params.now)._stage_template_texts(
            leads, langs
        )
        dates, type_names = self._memos()
        drafts = {}
        for lead in leads:
            assignee, lang = assignees[lead.id], langs[lead.id]
            lead_lang = lead.with_context(lang=lang)
            env = lead_lang.env
            # The day of the last work on it where its company counts days.
            last_update = last_work[lead.id]
            days = (lead._followup_today(params.now) - last_update).days
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
                date=dates[lang, last_update],
                stage=lead_lang.stage_id.name or env._("none"),
            )
            note += body
            note += self._history_html(
                env, lang, history.get(lead.id), dates, type_names
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
    def _draft_escalation(self, leads, followups, targets, params):
        """The escalation of an ignored re-engagement, in the language of the
        one it goes to (the team leader): whose re-engagement is overdue since
        when, and the opportunity's history.

        :param followups: ``{lead id: the open re-engagement}``
        :param targets: ``{lead id: the user the escalation goes to}``
        :return: ``{lead id: {"days", "summary", "note", "reason"}}``
        """
        history = self._completed_history(leads)
        last_work = leads._followup_last_work_dates(params.clock)
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
                    "Escalation: %(name)s (follow-up overdue %(days)s days)",
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
        """The completed activities of a note, or that there are none."""
        if not done:
            return Markup("<p>%s</p>") % env._(
                "No activity has been completed on it yet."
            )
        return Markup("<p>%s</p><ul>%s</ul>") % (
            env._("Completed so far:"),
            Markup().join(
                Markup("<li>%s</li>")
                % self._history_item(env, lang, activity, dates, type_names)
                for activity in done
            ),
        )

    @api.model
    def _history_item(self, env, lang, activity, dates, type_names):
        kind = type_names[lang, activity.activity_type_id.id] or env._("Activity")
        date = dates[lang, activity.date_done]
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

        The template is a ``mail.template`` on opportunities: Odoo checks who
        may write which placeholders when it is saved, so rendering it here,
        even as the cron's superuser, gives nobody more rights than Odoo's
        template rules. A template of another model is never rendered on an
        opportunity's id.

        :return: ``{lead id: (html or None, warning or None)}``; None falls
            back to the default wording.
        """
        groups = defaultdict(list)
        texts = {}
        for lead in leads:
            template = lead.stage_id.followup_template_id
            if not template:
                continue
            if template.sudo().model != "crm.lead":
                # Never rendered on an opportunity's id (see crm.stage's check).
                texts[lead.id] = (
                    None,
                    self.env._(
                        "The wording template of stage %(stage)s is not a template "
                        "on opportunities; the default wording was used.",
                        stage=lead.stage_id.name,
                    ),
                )
                continue
            groups[template, langs[lead.id]].append(lead.id)
        for (template, lang), lead_ids in groups.items():
            try:
                with self.env.cr.savepoint():
                    rendered = template.with_context(
                        followup_now=self.env.context.get("followup_now")
                    )._render_field("body_html", lead_ids, set_lang=lang)
            except Exception as exc:  # falls back to the default
                env = self.with_context(lang=lang).env
                warning = env._(
                    "The wording template of stage %(stage)s failed (%(error)s); the "
                    "default wording was used.",
                    stage=leads.browse(lead_ids[0])
                    .stage_id.with_context(lang=lang)
                    .name,
                    error=self.env["opportunity.followup.runner"]._error_text(exc),
                )
                texts.update(dict.fromkeys(lead_ids, (None, warning)))
                continue
            texts.update(
                (lead_id, (Markup(html_sanitize(rendered[lead_id])), None))
                for lead_id in lead_ids
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
