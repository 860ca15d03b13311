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
    _followup_open_unique = models.UniqueIndex(
        "(res_model, res_id) WHERE is_followup IS TRUE AND active IS TRUE",
        "This opportunity already has an open re-engagement activity.",
    )
