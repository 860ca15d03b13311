from odoo.tests import HttpCase, tagged

from .common import FollowupCase


@tagged("post_install", "-at_install")
class TestTours(HttpCase, FollowupCase):
    """The two buttons, clicked in a real browser (headless Chromium)."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        admin = cls.env.ref("base.user_admin")
        cls.deal_a = cls._opportunity("Tour Deal A", days=20, user_id=admin.id)
        cls.deal_b = cls._opportunity("Tour Deal B", days=20, user_id=admin.id)

    def test_settings_button(self):
        self.start_tour(
            "/odoo/settings#crm",
            "crm_opportunity_followup_settings_tour",
            login="admin",
        )
        self.assertEqual(len(self._followups(self.deal_a | self.deal_b)), 2)
        self.assertEqual(
            self.env["workflow.log"].search([], limit=1).trigger, "settings_button"
        )

    def test_list_action(self):
        self.start_tour(
            "/odoo/action-crm.crm_lead_action_pipeline?view_type=list",
            "crm_opportunity_followup_list_tour",
            login="admin",
        )
        self.assertEqual(len(self._followups(self.deal_a | self.deal_b)), 2)
        self.assertEqual(
            self.env["workflow.log"].search([], limit=1).trigger, "server_action"
        )
