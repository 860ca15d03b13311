from odoo.tools import SQL


def migrate(cr, version):
    # One escalation per re-engagement, ever: the open re-engagements already
    # escalated by an earlier version are marked, so that an escalation the
    # leader dismissed before the upgrade does not come back after it.
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
