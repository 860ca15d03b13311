from collections import defaultdict

from odoo import fields, models


class MailActivity(models.Model):
    _inherit = "mail.activity"

    is_followup = fields.Boolean(
        string="Re-engagement Activity",
        readonly=True,
        copy=False,
        help="Scheduled by the stale-opportunity follow-up.",
    )

    # The database, not the Python filter, is what guarantees that two runs
    # racing each other (cron + button, two workers) never book the same
    # opportunity twice: the second insert waits for the first transaction and
    # then fails on this index, and the runner logs that opportunity as skipped.
    # Whoever moves activities between records (crm's merge does) goes through
    # write(), which keeps this contract (see _followup_drop_duplicates).
    _followup_open_unique = models.UniqueIndex(
        "(res_model, res_id) WHERE is_followup IS TRUE AND active IS TRUE",
        "This opportunity already has an open re-engagement activity.",
    )

    def write(self, vals):
        if {"res_id", "res_model_id", "res_model", "active"} & vals.keys():
            self -= self._followup_drop_duplicates(vals)
        return super().write(vals)

    def _followup_drop_duplicates(self, vals):
        """Open re-engagements that ``vals`` would put on a record that already
        has one (merging two stale duplicates moves both onto the kept one):
        delete all but one per record, before the move, and return them.

        The one kept is the open re-engagement already on the record, else the
        one due first. A re-engagement is the addon's own reminder to call;
        two of them on one opportunity are one task shown twice.
        """
        if vals.get("active") is False:
            return self.browse()
        moving = self.with_context(active_test=False).filtered(
            lambda act: act.is_followup and (act.active or vals.get("active"))
        )
        if not moving:
            return self.browse()
        model_id = vals.get("res_model_id")
        res_model = (
            self.env["ir.model"].browse(model_id).model
            if model_id
            else vals.get("res_model")
        )
        targets = defaultdict(lambda: self.browse())
        for activity in moving:
            target = (
                res_model or activity.res_model,
                vals.get("res_id", activity.res_id),
            )
            targets[target] |= activity
        # Colleagues' re-engagements count too, readable or not.
        existing = self.sudo().search(
            [
                ("is_followup", "=", True),
                ("res_model", "in", list({model for model, _res_id in targets})),
                ("res_id", "in", list({res_id for _model, res_id in targets})),
                ("id", "not in", moving.ids),
            ]
        )
        for activity in existing:
            key = (activity.res_model, activity.res_id)
            if key in targets:
                targets[key] = activity.sudo(False) | targets[key]
        redundant = self.browse()
        for activities in targets.values():
            kept = (activities - moving)[:1] or min(
                activities, key=lambda act: (act.date_deadline, act.id)
            )
            redundant |= activities - kept
        # Deleting a colleague's reminder is the merge's consequence, not a
        # right the merging user needs on every activity.
        redundant.sudo().unlink()
        return redundant
