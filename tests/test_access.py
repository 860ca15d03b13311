from odoo.exceptions import AccessError

from .common import OwnAndColleagueCase


class TestAccess(OwnAndColleagueCase):
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
