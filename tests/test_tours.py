from odoo.tests import HttpCase, tagged

from .common import FollowupCase


@tagged("post_install", "-at_install")
class TestTours(HttpCase, FollowupCase):
    """The buttons, clicked in a real browser (headless Chromium)."""

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

    def test_manager_flow(self):
        """Filter, tick, review in the wizard, untick one, confirm, reload."""
        stale_a = self._opportunity("Tour Stale A", days=20)
        stale_b = self._opportunity("Tour Stale B", days=20)
        self.start_tour(
            "/odoo/stale-opportunities",
            "crm_opportunity_followup_manager_tour",
            login="fu_manager",
        )
        self.assertEqual(self._followups(stale_a).user_id, self.salesperson)
        self.assertFalse(self._followups(stale_b))
        log = self.env["workflow.log"].search([], limit=1)
        self.assertEqual((log.trigger, log.user_id), ("menu", self.manager))
