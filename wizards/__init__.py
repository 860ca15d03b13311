from . import crm_lead_followup_pause
