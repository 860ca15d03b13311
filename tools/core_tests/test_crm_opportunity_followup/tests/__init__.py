from . import test_crm
from . import test_mail_activity
