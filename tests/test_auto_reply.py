"""An auto-reply is not work: the customer's mail server answering "out of
office" (RFC 3834) arrives through the mail gateway like any reply, and must
neither reset the stale clock, nor revive a re-engagement, nor be quoted."""

from datetime import timedelta

from odoo import fields

from .common import AUTO_HEADERS, T0, FollowupCase, RevivalCase, at


class TestAutoReply(FollowupCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.customer = cls._customer()

    def _quiet_deal(self, name):
        """A deal whose last work is the salesperson's email, 20 days ago."""
        lead = self._opportunity(name, days=0, partner_id=self.customer.id)
        parent = self._mail_customer(lead)
        self._set_last_work(lead, fields.Datetime.now() - timedelta(days=20))
        return lead, parent

    def test_recognised_when_it_comes_in(self):
        for name, headers in AUTO_HEADERS.items():
            with self.subTest(name):
                lead, parent = self._quiet_deal(f"Auto {name}")
                message = self._receive(parent, name, headers)
                self.assertEqual(message.res_id, lead.id)
                self.assertEqual(message.message_type, "email")
                self.assertTrue(message.followup_is_auto_reply)
        # A person's mail, or a server saying outright that it is one.
        for name, headers in (("person", ""), ("not-auto", "Auto-Submitted: no\n")):
            with self.subTest(name):
                _lead, parent = self._quiet_deal(f"Person {name}")
                message = self._receive(parent, name, headers, body="Tuesday, then.")
                self.assertTrue(message)
                self.assertFalse(message.followup_is_auto_reply)

    def test_out_of_office_leaves_the_deal_stale(self):
        lead, parent = self._quiet_deal("Out of Office")
        self._receive(parent, "ooo", AUTO_HEADERS["auto-replied"])
        lead.invalidate_recordset()
        self.assertEqual(lead.followup_days_stale, 20)
        self.assertTrue(lead.followup_is_stale)
        # Its subject is not the customer's words for the deal.
        self.assertEqual(lead.followup_customer_subject, False)
        # The manager's run books it; the brief quotes the last real touch.
        result = self.Runner.with_user(self.manager).run(lead_ids=lead.ids)
        self.assertEqual(result["counts"]["scheduled"], 1)
        note = self._followups(lead).note
        day = (fields.Date.today() - timedelta(days=20)).strftime("%m/%d/%Y")
        self.assertIn(f"Last touch on {day}: a message from Sam Seller.", note)
        self.assertNotIn("Ada Lovelace", note.split("Contact:")[0])

    def test_the_customer_s_answer_is_work(self):
        lead, parent = self._quiet_deal("Answered")
        self._receive(parent, "ooo", AUTO_HEADERS["x-autoreply"])
        self._receive(parent, "answer")
        lead.invalidate_recordset()
        self.assertEqual(lead.followup_days_stale, 0)
        self.assertFalse(lead.followup_is_stale)
        self.assertEqual(lead.followup_customer_subject, "Chairs for the new office")
        result = self.Runner.with_user(self.manager).run(lead_ids=lead.ids)
        self.assertEqual(result["counts"]["scheduled"], 0)
        self.assertFalse(self._followups(lead))


class TestAutoReplyRevival(RevivalCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.customer = cls._customer()

    def test_an_auto_reply_does_not_revive(self):
        lead = self._opportunity("Revived?", days=0, partner_id=self.customer.id)
        parent = self._mail_customer(lead)
        self._set_last_work(lead, T0 - timedelta(days=20))
        _log, lines = self._book(lead)
        line = self._line(lines, lead)
        # The re-engagement's email went out: the customer's server answers.
        self._receive(parent, "ooo", AUTO_HEADERS["auto-replied"], when=at(1))
        self._refresh(2)
        self.assertEqual(line.revival_result, "ignored")
        self.assertFalse(line.revival_date)
        # The customer's own answer revives it.
        self._receive(parent, "answer", when=at(3))
        self._refresh(4)
        self.assertEqual(line.revival_result, "worked")
        self.assertEqual(line.revival_date, at(3))
        self.assertEqual(line.revival_days, 3)
