import pytz

from odoo import SUPERUSER_ID, api


def migrate(cr, version):
    """One job for all companies ran daily at the hour the last company saved:
    each company keeps that time, where it is, and the job (a noupdate record)
    now runs every hour to open each company's run at its own time."""
    env = api.Environment(cr, SUPERUSER_ID, {})
    cron = env.ref(
        "crm_opportunity_followup.ir_cron_opportunity_followup",
        raise_if_not_found=False,
    )
    if not cron:
        return
    if cron.nextcall:
        for company in env["res.company"].search([]):
            tz = env["crm.lead"]._followup_tz(company)
            local = pytz.utc.localize(cron.nextcall).astimezone(tz)
            company.followup_run_hour = local.hour + local.minute / 60
    cron.write({"interval_number": 1, "interval_type": "hours"})
