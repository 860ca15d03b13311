from odoo import api, fields, models
from odoo.tools import format_date


class CrmLead(models.Model):
    """A re-engagement ends itself: when the deal comes back to life by other
    means while it is open (the customer writes, on the deal or a linked
    document; a quotation is sent or confirmed; the stage moves forward; won;
    lost), it is marked done, saying what happened, and its log line records
    the result. The hooks: ``crm.lead.write`` (this deal) and ``mail.thread``
    (messages and linked documents, see ``mail_thread.py``)."""

    _inherit = "crm.lead"

    @api.model
    def _followup_work_milestones(self, model, vals):
        """What ``vals``, written on documents of the work source ``model``
        (see :meth:`_followup_work_sources`), makes of them, if it revives
        their deal: a quotation *sent* or *confirmed*. Its open re-engagement
        then ends itself as *advanced* (see :meth:`_followup_resolve`).
        Empty: nothing of the kind."""
        if model == "sale.order" and vals.get("state") == "sent":
            return self.env._("sent")
        if model == "sale.order" and vals.get("state") == "sale":
            return self.env._("confirmed")
        return ""

    def _followup_revival_watch(self, vals):
        """``{lead id: (won status, (stage sequence, stage id))}`` before
        ``vals`` is written, of these deals with an open re-engagement, where
        ``vals`` may win, lose or move them forward; empty otherwise."""
        if not {"stage_id", "active", "probability", "won_status"} & vals.keys():
            return {}
        # Sudo: whoever moves the deal closes its reminder, readable or not.
        open_ids = set(self._followup_open_reminders("is_followup").mapped("res_id"))
        return {
            lead.id: (lead.won_status, (lead.stage_id.sequence, lead.stage_id.id))
            for lead in self
            if lead.id in open_ids
        }

    def _followup_resolve_revived(self, before):
        """Close the re-engagements of these deals that the write just won,
        lost or moved to a later stage (see :meth:`_followup_resolve`)."""
        for lead in self.browse(list(before)):
            won_status, stage = before[lead.id]
            if lead.won_status != won_status and lead.won_status == "won":
                lead._followup_resolve("won", self.env._("the deal was won"))
            elif lead.won_status != won_status and lead.won_status == "lost":
                lead._followup_resolve("lost", self.env._("the deal was lost"))
            elif (lead.stage_id.sequence, lead.stage_id.id) > stage:
                lead._followup_resolve(
                    "advanced",
                    self.env._(
                        "the deal moved forward to %(stage)s", stage=lead.stage_id.name
                    ),
                )

    def _followup_resolve(self, result, what, when=None):
        """The deal came back to life by other means than its re-engagement:
        mark its open re-engagement done (Odoo's *Mark Done*, which the
        chatter shows), its feedback saying what happened and when, and the
        open escalation of it likewise; its log line records ``result`` (a
        revival result: won, lost, advanced, worked). Where the company's
        settings say so (Close Revived Re-engagements); nothing else of the
        salesperson's is touched.

        :param what: what happened, as the end of "Resolved: ... on <date>."
        """
        # Sudo: the customer's email (through the gateway, or the portal), a
        # colleague's quotation close a reminder they may not read.
        leads = self.sudo().filtered(
            lambda lead: (lead.company_id or self.env.company).followup_auto_resolve
        )
        if not leads:
            return
        activities = leads._followup_open_reminders(
            "is_followup", "is_followup_escalation"
        )
        if not activities:
            return
        when = when or fields.Datetime.now()
        # The log is the runner's own record: no user writes its lines.
        self.env["workflow.log.line"].sudo().search(
            [
                ("lead_id", "in", leads.ids),
                ("activity_ref", "in", activities.filtered("is_followup").ids),
                ("resolved_result", "=", False),
            ]
        ).write({"resolved_result": result, "resolved_date": when})
        for lead_id, acts in activities.grouped("res_id").items():
            lead = leads.browse(lead_id)
            acts.action_feedback(
                feedback=self.env._(
                    "Resolved: %(what)s on %(date)s.",
                    what=what,
                    date=format_date(self.env, lead._followup_today(when)),
                )
            )
