"""The marker a deal shows through the re-engagement cycle: stale, then
re-engaging while its re-engagement is open, red once it is late."""

from freezegun import freeze_time

from .common import EscalationCase, day


class TestFollowupState(EscalationCase):
    def _state(self, lead):
        lead = lead.with_user(self.salesperson)
        lead.invalidate_recordset()
        return lead.followup_state

    def _search(self, states):
        return (
            self.env["crm.lead"]
            .with_user(self.salesperson)
            .search([("followup_state", "in", states)])
        )

    def test_marker_through_the_cycle(self):
        # Won: never re-engaged, whatever the day.
        fresh = self._opportunity("Won Already", days=0, stage_id=self.stage_won.id)
        self.assertEqual(self._state(self.lead), "stale")
        self.assertFalse(self._state(fresh))
        self.assertEqual(self._search(["stale"]), self.lead)
        followup = self._book()
        with freeze_time(day(1)):
            # Booked: no longer stale, still quiet.
            self.assertEqual(self._state(self.lead), "reengaging")
            self.assertEqual(self._search(["reengaging"]), self.lead)
            self.assertFalse(self._search(["stale", "overdue", "escalated"]))
        with freeze_time(day(2)):
            self.assertEqual(self._state(self.lead), "reengaging")
        with freeze_time(day(3)):
            self.assertEqual(self._state(self.lead), "overdue")
            self.assertEqual(self._search(["overdue", "escalated"]), self.lead)
            self.assertFalse(self._search(["reengaging"]))
            self.assertIn(fresh, self._search([False]))
            self.assertNotIn(self.lead, self._search([False]))
        with freeze_time(day(8)):
            self._run_cron()
            self.assertTrue(self._escalations(self.lead))
            self.assertEqual(self._state(self.lead), "escalated")
            self.assertEqual(self._search(["escalated"]), self.lead)
            # The leader dismissed the escalation; the re-engagement is still
            # undone: still red.
            self._escalations(self.lead).with_user(self.manager).action_feedback(
                feedback="Told Sam."
            )
            self.assertEqual(self._state(self.lead), "escalated")
            self.assertFalse(self._search(["overdue"]))
            # Done at last: no re-engagement marker any more.
            followup.with_user(self.salesperson).action_feedback(feedback="Called.")
            self.assertNotIn(
                self._state(self.lead), ("reengaging", "overdue", "escalated")
            )
            self.assertFalse(self._search(["reengaging", "overdue", "escalated"]))

    def test_computed_for_a_list_at_once(self):
        """A list of deals costs the queries of one."""
        leads = self.lead | self._opportunity("Second", days=20)
        leads |= self._opportunity("Third", days=20)
        with freeze_time(day(0)):
            self._run_cron()
        counts = []
        # The first reads what Odoo caches for the whole process (settings).
        for records in (leads, self.lead, leads):
            records = records.with_user(self.salesperson)
            self.env.invalidate_all()
            before = self.env.cr.sql_log_count
            states = records.mapped("followup_state")
            counts.append(self.env.cr.sql_log_count - before)
            self.assertEqual(set(states), {"reengaging"})
        self.assertEqual(counts[1], counts[2])
