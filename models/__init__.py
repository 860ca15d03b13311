from . import crm_lead
from . import crm_stage
from . import discuss_channel
from . import mail_activity
from . import workflow_log
from . import workflow_log_line
from . import opportunity_followup_runner
from . import res_config_settings
