# Every test module Odoo runs for crm (crm/tests/__init__.py), with the addon
# installed.
from odoo.tests.loader import get_test_modules

from .common import rerun_test_classes

rerun_test_classes(globals(), *get_test_modules("crm"))
