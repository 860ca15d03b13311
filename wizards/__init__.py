from . import crm_lead_followup_pause
from . import crm_lead_followup_schedule
from . import crm_team_followup_settings
from . import crm_lead_followup_decide
