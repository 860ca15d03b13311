"""Odoo's own test classes, defined again in this test-only module.

Odoo runs a module's ``at_install`` tests as soon as that module is loaded,
before the modules that depend on it: crm's and mail's tests never see
crm_opportunity_followup (its ``crm.lead``, ``mail.activity`` and
``discuss.channel`` overrides, its unique index on ``mail_activity``). A class
defined here belongs to this module, which depends on the addon: Odoo runs it
when this module installs, with the addon loaded, at install or post install
as the original class is tagged.
"""

from odoo.tests.common import BaseCase


def rerun_test_classes(namespace, *modules):
    """Define in ``namespace`` (a test module's ``globals()``) a subclass of
    each test class of ``modules``, with the test methods Odoo runs of it:
    those written in that class (Odoo's loader takes no inherited one)."""
    for module in modules:
        source = module.__name__.rsplit(".", 1)[-1]
        for name, cls in list(vars(module).items()):
            if not (
                isinstance(cls, type)
                and issubclass(cls, BaseCase)
                and cls.__module__ == module.__name__
            ):
                continue
            tests = {
                key: value
                for key, value in vars(cls).items()
                if key.startswith("test") and callable(value)
            }
            if not tests:
                continue
            # Two modules may use one class name (crm has two TestCRMLead).
            new_name = name if name not in namespace else f"{name}_{source}"
            attributes = {"__module__": namespace["__name__"], "__qualname__": new_name}
            namespace[new_name] = type(new_name, (cls,), attributes | tests)
