from . import crm_followup_effectiveness_report
