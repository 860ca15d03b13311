from . import crm_followup_effectiveness_report
from . import crm_followup_lift
