from datetime import timedelta

from odoo import fields
from odoo.tests import users, warmup

from .common import FollowupCase

# Queries of a whole run (as a sales manager) over a batch of opportunities,
# whatever its size: a query per opportunity creeping back fails this. (Each
# run reads the teams' own days and activity types, and each assignee's
# companies, once; each assignee's summary email, the day it is due; the
# latest message of each opportunity, once for the stale clock and the brief.)
RUN_QUERIES = 71


class TestPerformance(FollowupCase):
    def _stale_batch(self, size):
        leads = self.env["crm.lead"].create(
            [
                {
                    "name": f"Perf {index}",
                    "type": "opportunity",
                    "user_id": self.salesperson.id,
                    "team_id": self.team.id,
                }
                for index in range(size)
            ]
        )
        self._set_write_date(leads, fields.Datetime.now() - timedelta(days=20))
        return leads

    @users("fu_manager")
    @warmup
    def test_run_query_count(self):
        for size in (20, 40):
            leads = self._stale_batch(size).with_user(self.env.user)
            with self.assertQueryCount(fu_manager=RUN_QUERIES):
                result = self.Runner.with_user(self.env.user).run(lead_ids=leads.ids)
            self.assertEqual(result["counts"]["scheduled"], size)
