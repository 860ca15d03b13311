from collections import defaultdict

from odoo import SUPERUSER_ID, api, models
from odoo.fields import Domain
from odoo.tools import SQL, format_amount

from .followup_const import WORK_MESSAGE_TYPES

# How many completed activities the notes mention.
HISTORY_SIZE = 3
# What the notes and the stale clock read of a completed activity.
HISTORY_FIELDS = ["res_id", "activity_type_id", "summary", "date_done", "feedback"]
HISTORY_FIELDS += ["user_id", "is_followup"]


class OpportunityFollowupWork(models.AbstractModel):
    """Work on the documents linked to a deal (its quotations, its meetings,
    whatever ``crm.lead._followup_work_sources`` names): the same rules as on
    the deal itself, read in a few set-based queries, never one per deal.

    On a linked document, work is:

    - an edit by a person: its ``write_date`` when its ``write_uid`` is not
      OdooBot (creating it is its first edit). Odoo keeps the last writer
      only: a person's edit that OdooBot wrote over later is not seen;
    - a message or note by a person or the customer (as on the deal: not
      OdooBot's, not tracking nor notifications, not an auto-reply, not a
      mass mailing). Sending a quotation posts one, so does the customer's
      signature or payment online;
    - an activity completed on it;
    - for a meeting, having been held: its day is work on the deal; a meeting
      still to come is a plan, as an open activity is.
    """

    _name = "opportunity.followup.work"
    _description = "Re-engagement: Work on Linked Documents"

    @api.model
    def _odoobot(self):
        """OdooBot's partner id, whose messages are nobody's work. From the
        registry's cache: ``env.ref`` asks the database whether it exists,
        a query each time."""
        return self.env["ir.model.data"]._xmlid_to_res_id("base.partner_root")

    @api.model
    def _sources(self):
        """``[(model, its table, the link column)]`` of the work sources that
        exist in this database, with a stored link to ``crm.lead``."""
        sources = []
        declared = self.env["crm.lead"]._followup_work_sources()
        for model_name, field_name in declared.items():
            if model_name not in self.env:
                continue
            model = self.env[model_name]
            field = model._fields.get(field_name)
            if not (field and field.store and field.comodel_name == "crm.lead"):
                continue
            sources.append((model, SQL.identifier(model._table), field_name))
        return sources

    @api.model
    def _worked_since_sql(self, lead_id, cutoff, cutoff_day, now):
        """SQL true where the deal ``lead_id`` (an SQL expression) has work
        on a linked document since ``cutoff`` (UTC; ``cutoff_day`` for
        completed activities); None without any source."""
        parts = []
        for model, table, field in self._sources():
            parts.append(
                SQL(
                    """EXISTS (
                    SELECT 1 FROM %(table)s src
                     WHERE src.%(field)s = %(lead_id)s AND (%(work)s))""",
                    table=table,
                    field=SQL.identifier(field),
                    lead_id=lead_id,
                    work=self._source_work_sql(model, cutoff, cutoff_day, now),
                )
            )
        return SQL(" OR ").join(parts) if parts else None

    @api.model
    def _source_work_sql(self, model, cutoff, cutoff_day, now):
        """SQL true where the linked document ``src`` was worked on since
        ``cutoff``."""
        work = SQL(
            """(src.write_date >= %(cutoff)s
                AND src.write_uid IS DISTINCT FROM %(root)s)
            OR EXISTS (
                SELECT 1 FROM mail_message message
                 WHERE message.model = %(model)s AND message.res_id = src.id
                   AND message.date >= %(cutoff)s
                   AND message.message_type IN %(types)s
                   AND message.author_id IS DISTINCT FROM %(odoobot)s
                   AND message.followup_is_auto_reply IS NOT TRUE)
            OR EXISTS (
                SELECT 1 FROM mail_activity done
                 WHERE done.res_model = %(model)s AND done.res_id = src.id
                   AND done.active IS NOT TRUE AND done.date_done >= %(day)s)""",
            cutoff=cutoff,
            root=SUPERUSER_ID,
            model=model._name,
            types=WORK_MESSAGE_TYPES,
            odoobot=self._odoobot(),
            day=cutoff_day,
        )
        if model._name == "calendar.event":
            # Held since the cutoff: work on its day. One still to come is a
            # plan (see _planned_meeting_sql), not work.
            work = SQL(
                "%s OR (src.active IS TRUE AND src.start >= %s AND src.start <= %s)",
                work,
                cutoff,
                now,
            )
        return work

    @api.model
    def _next_meeting_sql(self, lead_id, now):
        """SQL: the start of the next meeting of the deal ``lead_id`` (an SQL
        expression) still to come at ``now`` (ending after it), NULL if none:
        a meeting to come is a plan, as an open activity is. Colleagues'
        meetings count, readable or not (booking a re-engagement too would
        double the work)."""
        return SQL(
            """(SELECT min(event.start) FROM calendar_event event
                 WHERE event.opportunity_id = %s AND event.active IS TRUE
                   AND event.stop > %s)""",
            lead_id,
            now,
        )

    @api.model
    def _first_message_sql(self, lead_id, start, end):
        """SQL: the moment of the first message by a person or the customer
        on a linked document of the deal ``lead_id`` from ``start`` to
        ``end`` (SQL expressions), NULL if none: a re-engagement's result
        *worked* (see workflow.log.line)."""
        parts = [
            SQL(
                """(SELECT min(message.date) FROM %(table)s src
                      JOIN mail_message message
                        ON message.model = %(model)s AND message.res_id = src.id
                     WHERE src.%(field)s = %(lead_id)s
                       AND message.date >= %(start)s AND message.date < %(end)s
                       AND message.message_type IN %(types)s
                       AND message.author_id IS DISTINCT FROM %(odoobot)s
                       AND message.followup_is_auto_reply IS NOT TRUE)""",
                table=table,
                model=model._name,
                field=SQL.identifier(field),
                lead_id=lead_id,
                start=start,
                end=end,
                types=WORK_MESSAGE_TYPES,
                odoobot=self._odoobot(),
            )
            for model, table, field in self._sources()
        ]
        if not parts:
            return SQL("NULL::timestamp")
        return SQL("LEAST(%s)", SQL(", ").join(parts))

    @api.model
    def _planned_meeting_sql(self, lead_id, now):
        """SQL true where the deal ``lead_id`` has a meeting still to come."""
        return SQL("%s IS NOT NULL", self._next_meeting_sql(lead_id, now))

    @api.model
    def _last_work(self, leads, now):
        """``{lead id: (moment, kind, document)}``: the latest work on a
        linked document of each of ``leads``, in one query. ``kind`` is
        ``edit``, ``message``, ``done`` (an activity completed that day:
        ``moment`` is the day's start, UTC) or ``meeting`` (held, ``moment``
        its start); ``document`` the record, sudo (colleagues' work counts,
        readable or not)."""
        query = self._last_work_sql(leads, now)
        if not query:
            return {}
        self.env.cr.execute(query)
        return self._read_last_work(self.env.cr.fetchall())

    @api.model
    def _read_last_work(self, rows):
        """:meth:`_last_work` of the rows of :meth:`_last_work_sql`."""
        # Sudo: the whole deal's story, as for the deal's own messages.
        return {
            lead_id: (moment, kind, self.env[model].sudo().browse(res_id))
            for lead_id, model, res_id, moment, kind in rows
        }

    @api.model
    def _last_work_sql(self, leads, now):
        """The query of the latest work on a linked document of each of
        ``leads`` (rows ``lead_id, model, res_id, moment, kind``), or None
        where there is nothing to read."""
        if not leads:
            return None
        queries = []
        for model, table, field in self._sources():
            values = {
                "field": SQL.identifier(field),
                "table": table,
                "model": model._name,
                "ids": tuple(leads.ids),
            }
            queries += [
                SQL(
                    """SELECT src.%(field)s, %(model)s, src.id, src.write_date, 'edit'
                         FROM %(table)s src
                        WHERE src.%(field)s IN %(ids)s
                          AND src.write_uid IS DISTINCT FROM %(root)s""",
                    root=SUPERUSER_ID,
                    **values,
                ),
                SQL(
                    """SELECT src.%(field)s, %(model)s, src.id, message.date, 'message'
                         FROM %(table)s src
                         JOIN mail_message message
                           ON message.model = %(model)s AND message.res_id = src.id
                        WHERE src.%(field)s IN %(ids)s
                          AND message.message_type IN %(types)s
                          AND message.author_id IS DISTINCT FROM %(odoobot)s
                          AND message.followup_is_auto_reply IS NOT TRUE""",
                    types=WORK_MESSAGE_TYPES,
                    odoobot=self._odoobot(),
                    **values,
                ),
                SQL(
                    """SELECT src.%(field)s, %(model)s, src.id,
                              done.date_done::timestamp, 'done'
                         FROM %(table)s src
                         JOIN mail_activity done
                           ON done.res_model = %(model)s AND done.res_id = src.id
                        WHERE src.%(field)s IN %(ids)s
                          AND done.active IS NOT TRUE
                          AND done.date_done IS NOT NULL""",
                    **values,
                ),
            ]
            if model._name == "calendar.event":
                queries.append(
                    SQL(
                        """SELECT src.opportunity_id, 'calendar.event', src.id,
                                  src.start, 'meeting'
                             FROM calendar_event src
                            WHERE src.opportunity_id IN %s AND src.active IS TRUE
                              AND src.start <= %s""",
                        tuple(leads.ids),
                        now,
                    )
                )
        if not queries:
            return None
        return SQL(
            """SELECT DISTINCT ON (lead_id) lead_id, model, res_id, moment, kind
                 FROM (%s) AS work (lead_id, model, res_id, moment, kind)
             ORDER BY lead_id, moment DESC, res_id DESC""",
            SQL(" UNION ALL ").join(queries),
        )

    @api.model
    def _describe(self, document, lang):
        """How the brief names a linked document: a quotation with its
        amount and whether it was sent or confirmed, else its kind and name.
        """
        env = document.with_context(lang=lang).env
        if document._name == "sale.order":
            amount = format_amount(
                env, document.amount_total, document.currency_id, lang_code=lang
            )
            if document.state == "sale":
                return env._(
                    "Sales Order %(name)s, %(amount)s, confirmed",
                    name=document.name,
                    amount=amount,
                )
            if document.state == "cancel":
                return env._(
                    "Quotation %(name)s, %(amount)s, cancelled",
                    name=document.name,
                    amount=amount,
                )
            return env._(
                "Quotation %(name)s, %(amount)s, %(sent)s, not confirmed",
                name=document.name,
                amount=amount,
                sent=env._("sent") if document.state == "sent" else env._("not sent"),
            )
        description = env["ir.model"]._get(document._name).name
        return f"{description} {document.with_env(env).display_name}"

    @api.model
    def _history(self, leads, params, messages=None, linked=None):
        """``({lead id: its latest completed activities, the latest first, at
        most HISTORY_SIZE}, {lead id: day of the last work on it})``: Odoo keeps
        done activities forever, the notes show a few, the clock their day."""
        if not leads:
            return {}, {}

        def latest(model, alias, query):
            # The ORM has no "first n per group": a window over each lead's
            # done activities, ranked as the notes list them.
            return SQL(
                """%(id)s IN (
                    SELECT ranked.id FROM (
                        SELECT done.id, row_number() OVER (PARTITION BY done.res_id
                                   ORDER BY done.date_done DESC, done.id DESC) AS rank
                          FROM mail_activity done
                         WHERE done.res_model = 'crm.lead' AND done.res_id IN %(ids)s
                           AND done.active IS NOT TRUE AND done.date_done IS NOT NULL
                    ) ranked WHERE ranked.rank <= %(size)s)""",
                id=SQL.identifier(alias, "id"),
                ids=tuple(leads.ids),
                size=HISTORY_SIZE,
            )

        # Done activities are archived; the running user may not read all of
        # them, yet the salesperson must see the whole story.
        activities = self.env["mail.activity"].sudo().with_context(active_test=False)
        done = activities.search_fetch(
            Domain.custom(to_sql=latest),
            HISTORY_FIELDS,
            order="date_done desc, id desc",
        )
        history = defaultdict(list)
        for activity in done:
            history[activity.res_id].append(activity)
        done_days = {lead_id: acts[0].date_done for lead_id, acts in history.items()}
        last_work = leads._followup_last_work_dates(
            params.clock, messages, done_days, linked
        )
        return history, last_work
