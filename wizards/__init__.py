from . import crm_lead_followup_pause
from . import crm_lead_followup_schedule
