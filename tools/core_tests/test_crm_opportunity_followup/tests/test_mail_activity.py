# The activity tests of mail and of test_mail (mail's models under test), with
# the addon's mail.activity write and its unique index in place.
from odoo.addons.mail.tests import test_mail_activity as mail_activity
from odoo.addons.test_mail.tests import (
    test_mail_activity,
    test_mail_activity_mixin,
    test_mail_activity_plan,
)

from .common import rerun_test_classes

rerun_test_classes(
    globals(),
    mail_activity,
    test_mail_activity,
    test_mail_activity_mixin,
    test_mail_activity_plan,
)
