from odoo import SUPERUSER_ID, api

DIGEST_TEMPLATE = "crm_opportunity_followup.mail_template_followup_digest"


def migrate(cr, version):
    env = api.Environment(cr, SUPERUSER_ID, {})
    env["res.company"]._followup_migrate_switch()
    template = env.ref(DIGEST_TEMPLATE, raise_if_not_found=False)
    if template:
        # The digest now lists a team leader's escalations apart; the noupdate
        # template of 19.0.1.1.0 would send a leader who only gets escalations
        # an empty list. Its source is reloaded, as its Reset button does.
        template.reset_template()
