import pytz

from odoo import SUPERUSER_ID, api
from odoo.tools import SQL


def migrate(cr, version):
    _mark_escalated_followups(cr)
    _each_company_its_hour(api.Environment(cr, SUPERUSER_ID, {}))


def _mark_escalated_followups(cr):
    """One escalation per re-engagement, ever: the open re-engagements already
    escalated by an earlier version are marked, so that an escalation the
    leader dismissed before the upgrade does not come back after it."""
    cr.execute(
        SQL(
            """UPDATE mail_activity activity
                  SET followup_escalated = TRUE
                WHERE activity.is_followup IS TRUE
                  AND activity.res_model = 'crm.lead'
                  AND EXISTS (
                      SELECT 1 FROM workflow_log_line line
                        JOIN workflow_log log ON log.id = line.log_id
                       WHERE line.lead_id = activity.res_id
                         AND line.outcome = 'escalated'
                         AND log.date_start >= activity.create_date
                  )"""
        )
    )


def _each_company_its_hour(env):
    """One job for all companies ran daily at the hour the last company saved:
    each company keeps that time, where it is, and the job (a noupdate record)
    now runs every hour to open each company's run at its own time."""
    cron = env.ref(
        "crm_opportunity_followup.ir_cron_opportunity_followup",
        raise_if_not_found=False,
    )
    if not cron:
        return
    if cron.nextcall:
        for company in env["res.company"].search([]):
            local = pytz.utc.localize(cron.nextcall).astimezone(company._followup_tz())
            company.followup_run_hour = local.hour + local.minute / 60
    cron.write({"interval_number": 1, "interval_type": "hours"})
