from datetime import timedelta

from odoo import fields
from odoo.tests import users, warmup

from .common import FollowupCase

# Queries of a whole run (as a sales manager) over a batch of opportunities,
# whatever its size: a query per opportunity creeping back fails this. (Each
# run reads the teams' own days and activity types, and each assignee's
# companies, once; each assignee's summary email, the day it is due; the
# latest message of each opportunity, once for the stale clock and the brief;
# the latest completed activities, once for the brief and the stale clock;
# the decision reads the deals once, and matches its rules in the query that
# reads what is open on them; each activity is created with its name; the log
# lines go in one statement; each team's pipeline of stages, once, for the
# brief's aim.)
RUN_QUERIES = 64
# Queries of a run over one opportunity with a completed history: the brief
# reads the activities it shows (the latest three) once, with the day of the
# latest for the stale clock, however many the opportunity has.
BRIEF_QUERIES = 63
# Queries of each chunk of a run after its first: its deals and their open
# activities, history and last work, its activities, followers and lines.
# What every chunk shares (activity types, calendars, teams, templates,
# languages) is read once per run.
CHUNK_QUERIES = 21


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
            # The lines, written in one statement, are whole: by whom, when,
            # for which activity, its result pending.
            lines = self.env["workflow.log"].browse(result["log_id"]).line_ids
            self.assertEqual(lines.lead_id, leads)
            self.assertEqual(lines.create_uid, self.env.user)
            self.assertEqual(lines.write_uid, self.env.user)
            self.assertTrue(all(lines.mapped("create_date")))
            self.assertEqual(lines.activity_id, self._followups(leads))
            self.assertEqual(set(lines.mapped("revival_result")), {"pending"})
            self.assertEqual(lines.assignee_id, self.salesperson)
            self.assertEqual(lines.team_id, self.team)

    @users("fu_manager")
    @warmup
    def test_brief_reads_the_history_it_shows(self):
        today = fields.Date.today()
        for size in (3, 40):
            lead = self._stale_batch(1)
            # Completed activities, the latest first (Odoo keeps them forever).
            self.Activity.with_context(active_test=False).create(
                [
                    {
                        "res_model_id": self.env["ir.model"]._get_id("crm.lead"),
                        "res_id": lead.id,
                        "activity_type_id": self.call_type.id,
                        "summary": f"Step {index}",
                        "user_id": self.salesperson.id,
                        "active": False,
                        "date_done": today - timedelta(days=20 + index),
                    }
                    for index in range(size)
                ]
            )
            with self.assertQueryCount(fu_manager=BRIEF_QUERIES):
                result = self.Runner.with_user(self.env.user).run(lead_ids=lead.ids)
            self.assertEqual(result["counts"]["scheduled"], 1)
            note = self._followups(lead).note
            self.assertIn("Last completed: Call on", note)
            self.assertIn("(Step 0)", note)
            self.assertIn("(Step 1)", note)
            self.assertIn("(Step 2)", note)
            self.assertNotIn("(Step 3)", note)

    @users("fu_manager")
    @warmup
    def test_each_chunk_reads_only_its_own_deals(self):
        """A run over three chunks costs its first chunk's queries, plus what
        each further chunk's own deals need: nothing they share is read
        again after the chunk before forgot it."""
        self.patch(type(self.Runner), "_chunk_size", 2)
        queries = {}
        for size in (2, 6):
            leads = self._stale_batch(size).with_user(self.env.user)
            self.env.invalidate_all()
            before = self.env.cr.sql_log_count
            result = self.Runner.with_user(self.env.user).run(lead_ids=leads.ids)
            queries[size] = self.env.cr.sql_log_count - before
            self.assertEqual(result["counts"]["scheduled"], size)
            self.assertEqual(len(self._followups(leads)), size)
        self.assertLessEqual(queries[6] - queries[2], 2 * CHUNK_QUERIES, queries)
