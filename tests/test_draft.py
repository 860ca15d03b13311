from datetime import timedelta

from odoo import fields

from .common import FollowupCase


class TestDraft(FollowupCase):
    def _note(self, lead):
        self.Runner.run(lead_ids=lead.ids)
        return self._followups(lead).note

    def test_completed_activities_are_mentioned(self):
        lead = self._opportunity("History Deal", days=0)
        for summary in ("First call", "Sent brochure", "Demo", "Pricing call"):
            lead.activity_schedule(
                "mail.mail_activity_data_call",
                summary=summary,
                user_id=self.salesperson.id,
            ).action_done()
        # Completed a month ago: the opportunity has been quiet since.
        self._set_last_work(lead, fields.Datetime.now() - timedelta(days=30))
        note = self._note(lead)
        self.assertIn("Completed so far:", note)
        self.assertIn(self.call_type.name, note)
        # The latest three only.
        self.assertIn("Pricing call", note)
        self.assertIn("Sent brochure", note)
        self.assertNotIn("First call", note)

    def test_no_history(self):
        note = self._note(self._opportunity("Fresh Deal", days=20))
        self.assertIn("No activity has been completed on it yet.", note)

    def test_wording_follows_the_stage(self):
        early = self._note(
            self._opportunity("Early", days=20, stage_id=self.stage_new.id)
        )
        middle = self._note(
            self._opportunity("Middle", days=20, stage_id=self.stage_qualified.id)
        )
        late = self._note(
            self._opportunity("Late", days=20, stage_id=self.stage_proposition.id)
        )
        self.assertIn("still a priority", early)
        self.assertIn("follow up on our proposal", middle)
        self.assertIn("close to a decision", late)

    def test_greets_the_contact(self):
        note = self._note(
            self._opportunity("Contact Deal", days=20, contact_name="Ada")
        )
        self.assertIn("Hello Ada,", note)

    def test_name_is_escaped(self):
        lead = self._opportunity("<script>alert(1)</script> Deal", days=20)
        activity_note = self._note(lead)
        self.assertNotIn("<script>", activity_note)
        self.assertIn("&lt;script&gt;alert(1)&lt;/script&gt; Deal", activity_note)
        self.assertEqual(
            self._followups(lead).summary,
            "Re-engage: <script>alert(1)</script> Deal (stale 20 days)",
        )
