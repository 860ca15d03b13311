from odoo.exceptions import AccessError
from odoo.tests import new_test_user

from .common import FollowupCase


class TestAccess(FollowupCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.own = cls._opportunity("Own Deal", days=20)
        cls.colleague = cls._opportunity(
            "Colleague Deal", days=20, user_id=cls.salesperson_2.id
        )

    def test_salesperson_cannot_run_whole_pipeline(self):
        with self.assertRaises(AccessError):
            self.Runner.with_user(self.salesperson).run()
        self.assertFalse(self._followups(self.own | self.colleague))

    def test_salesperson_runs_on_own_selection(self):
        result = self.Runner.with_user(self.salesperson).run(lead_ids=self.own.ids)
        self.assertEqual(result["counts"]["scheduled"], 1)
        log = (
            self.env["workflow.log"]
            .with_user(self.salesperson)
            .browse(result["log_id"])
        )
        self.assertEqual(log.scheduled_count, 1)

    def test_salesperson_cannot_run_on_colleague_lead(self):
        # Salespeople of the base group only see their own pipeline.
        with self.assertRaises(AccessError):
            self.Runner.with_user(self.salesperson).run(lead_ids=self.colleague.ids)
        self.assertFalse(self._followups(self.colleague))

    def test_log_is_read_only(self):
        log_id = self.Runner.run()["log_id"]
        for user in (self.salesperson, self.manager):
            log = self.env["workflow.log"].with_user(user).browse(log_id)
            with self.assertRaises(AccessError):
                log.write({"state": "failed"})
            with self.assertRaises(AccessError):
                log.unlink()
            with self.assertRaises(AccessError):
                self.env["workflow.log"].with_user(user).create({"trigger": "manual"})

    def test_who_reads_which_log(self):
        manager_run = self.Runner.with_user(self.manager).run()
        own_run = self.Runner.with_user(self.salesperson).run(lead_ids=self.own.ids)
        Log = self.env["workflow.log"]
        # Sales managers read every run; salespeople only the runs they started.
        self.assertEqual(
            Log.with_user(self.manager).search([]).ids,
            Log.search([]).ids,
        )
        visible = Log.with_user(self.salesperson).search([])
        self.assertIn(own_run["log_id"], visible.ids)
        self.assertNotIn(manager_run["log_id"], visible.ids)
        with self.assertRaises(AccessError):
            Log.with_user(self.salesperson).browse(manager_run["log_id"]).read(
                ["message"]
            )
        # Their own lines, from whoever's run: the colleague's line stays hidden.
        lines = self.env["workflow.log.line"].with_user(self.salesperson).search([])
        self.assertNotIn(self.colleague, lines.lead_id)

    def test_administrator_purges_logs(self):
        admin = new_test_user(self.env, "fu_sysadmin", groups="base.group_system")
        log_id = self.Runner.run()["log_id"]
        with self.assertRaises(AccessError):
            self.env["workflow.log"].with_user(self.manager).browse(log_id).unlink()
        self.env["workflow.log"].with_user(admin).browse(log_id).unlink()
        self.assertFalse(self.env["workflow.log"].browse(log_id).exists())
