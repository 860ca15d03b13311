{
    "name": "CRM Opportunity Follow-up: Odoo's own suites with it",
    "summary": "Test-only: reruns Odoo's crm and mail activity tests with "
    "crm_opportunity_followup installed",
    "version": "19.0.1.0.0",
    "category": "Hidden/Tests",
    "website": "https://github.com/crm-opportunity-followup/crm_opportunity_followup",
    "author": "crm_opportunity_followup contributors",
    "license": "LGPL-3",
    # test_mail holds the models mail's activity tests run on.
    "depends": ["crm_opportunity_followup", "test_mail"],
}
