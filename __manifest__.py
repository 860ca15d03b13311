{
    "name": "CRM Stale Opportunity Re-engagement",
    "summary": "Find stale opportunities every day and schedule a personal "
    "re-engagement activity for their salesperson (a daily job, off until switched "
    "on in CRM Settings)",
    "version": "19.0.1.5.3",
    "category": "Sales/CRM",
    "website": "https://github.com/crm-opportunity-followup/crm_opportunity_followup",
    "author": "crm_opportunity_followup contributors",
    "maintainers": ["crm-opportunity-followup"],
    "license": "LGPL-3",
    "development_status": "Beta",
    "depends": ["crm", "digest"],
    "data": [
        "security/crm_opportunity_followup_security.xml",
        "security/ir.model.access.csv",
        "data/ir_cron_data.xml",
        "data/mail_template_data.xml",
        "data/mail_activity_type_data.xml",
        "data/followup_brief_templates.xml",
        "data/digest_data.xml",
        "data/ir_actions_server_data.xml",
        "views/workflow_log_views.xml",
        "report/crm_followup_effectiveness_report_views.xml",
        "report/crm_followup_lift_views.xml",
        "views/crm_lead_views.xml",
        "views/crm_lead_followup_pause_views.xml",
        "views/crm_lead_followup_decide_views.xml",
        "views/crm_lead_followup_schedule_views.xml",
        "views/crm_team_followup_settings_views.xml",
        "views/crm_stage_views.xml",
        "views/crm_team_views.xml",
        "views/digest_digest_views.xml",
        "views/res_config_settings_views.xml",
        "views/menus.xml",
    ],
    "assets": {
        "web.assets_backend": [
            "crm_opportunity_followup/static/src/**/*",
        ],
        "web.assets_tests": [
            "crm_opportunity_followup/static/tests/tours/**/*",
        ],
    },
    "demo": [
        "demo/crm_opportunity_followup_demo.xml",
    ],
}
