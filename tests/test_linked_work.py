"""Work anywhere on the deal counts: its meetings (calendar, a crm
dependency) and, where Sales is installed, its quotations (tagged
``followup_sale``: ``make test`` runs them again with ``sale_crm``)."""

from datetime import timedelta

from odoo import fields
from odoo.tests import tagged
from odoo.tools import SQL

from .common import AUTO_HEADERS, FollowupCase, SalesMixin


class LinkedWorkCase(FollowupCase):
    """A deal nobody touched for 30 days (stale after 14)."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.customer = cls._customer()
        cls.lead = cls._opportunity(
            "Globex Chairs", days=30, partner_id=cls.customer.id
        )
        cls.now = fields.Datetime.now()

    def _age(self, records, days, lead_days=30):
        """``records`` (linked documents) and their messages dated ``days``
        ago, the deal's own work ``lead_days`` ago (what creating the linked
        documents posted on the deal included)."""
        when = self.now - timedelta(days=days)
        self.env.flush_all()
        self.env.cr.execute(
            SQL(
                "UPDATE %s SET write_date = %s, create_date = %s WHERE id IN %s",
                SQL.identifier(records._table),
                when,
                when,
                tuple(records.ids),
            )
        )
        self.env.cr.execute(
            SQL(
                "UPDATE mail_message SET date = %s WHERE model = %s AND res_id IN %s",
                when,
                records._name,
                tuple(records.ids),
            )
        )
        self._set_last_work(self.lead, self.now - timedelta(days=lead_days))

    def _stale(self, user):
        lead = self.lead.with_user(user)
        lead.invalidate_recordset()
        return lead.followup_is_stale, lead.followup_days_stale


class TestMeetings(LinkedWorkCase):
    def _meeting(self, start):
        return (
            self.env["calendar.event"]
            .with_user(self.salesperson)
            .create(
                {
                    "name": "Chairs demo",
                    "start": start,
                    "stop": start + timedelta(hours=1),
                    "opportunity_id": self.lead.id,
                }
            )
        )

    def test_a_meeting_held_last_week_counts(self):
        meeting = self._meeting(self.now - timedelta(days=7))
        self._age(meeting, 30)
        self.assertEqual(self._stale(self.salesperson), (False, 7))
        result = self.Runner.with_user(self.manager).run(lead_ids=self.lead.ids)
        self.assertEqual(result["counts"]["stale"], 0)
        self.assertFalse(self._followups(self.lead))

    def test_a_meeting_next_week_is_a_plan(self):
        meeting = self._meeting(self.now + timedelta(days=7))
        self._age(meeting, 30)
        # Nobody worked on it for 30 days, but a meeting is planned.
        self.assertEqual(self._stale(self.salesperson), (False, 30))
        log = self.env["workflow.log"].browse(
            self.Runner.with_user(self.manager).run(lead_ids=self.lead.ids)["log_id"]
        )
        self.assertEqual(log.line_ids.outcome, "skipped_pending")
        self.assertIn("A meeting is planned on", log.line_ids.reason)
        self.assertFalse(self._followups(self.lead))


# After every module: sale_crm may be installed after this addon.
@tagged("followup_sale", "post_install", "-at_install")
class TestQuotations(SalesMixin, LinkedWorkCase):
    """With Sales (``sale_crm``): the deal's quotations."""

    def test_a_quote_made_this_week_counts(self):
        quote = self._quote()
        self._age(quote, 3)
        self.assertEqual(self._stale(self.salesperson), (False, 3))
        result = self.Runner.with_user(self.manager).run(lead_ids=self.lead.ids)
        self.assertEqual(result["counts"]["stale"], 0)

    def test_a_quote_sent_this_week_counts(self):
        quote = self._quote()
        self._age(quote, 25)
        sent = self._send(quote)
        self.assertEqual(quote.state, "sent")
        self._age(quote, 25)
        self.env.cr.execute(
            SQL(
                "UPDATE mail_message SET date = %s WHERE id = %s",
                self.now - timedelta(days=2),
                sent.id,
            )
        )
        self.env.invalidate_all()
        self.assertEqual(self._stale(self.salesperson), (False, 2))
        result = self.Runner.with_user(self.manager).run(lead_ids=self.lead.ids)
        self.assertEqual(result["counts"]["stale"], 0)

    def test_the_customer_s_answer_on_the_quote_counts(self):
        quote = self._quote()
        parent = self._send(quote)
        self._age(quote, 25)
        answer = self._receive(parent, "answer")
        self.assertEqual((answer.model, answer.res_id), ("sale.order", quote.id))
        self.assertEqual(self._stale(self.salesperson), (False, 0))
        result = self.Runner.with_user(self.manager).run(lead_ids=self.lead.ids)
        self.assertEqual(result["counts"]["stale"], 0)

    def test_an_auto_reply_on_the_quote_does_not_count(self):
        quote = self._quote()
        parent = self._send(quote)
        self._age(quote, 25)
        answer = self._receive(parent, "ooo", AUTO_HEADERS["auto-replied"])
        self.assertTrue(answer.followup_is_auto_reply)
        self.assertEqual(self._stale(self.salesperson), (True, 25))

    def test_a_quote_untouched_for_25_days_and_the_brief_names_it(self):
        quote = self._quote()
        self._send(quote)
        self._age(quote, 25)
        self.assertEqual(self._stale(self.salesperson), (True, 25))
        self.Runner.with_user(self.manager).run(lead_ids=self.lead.ids)
        followup = self._followups(self.lead).with_user(self.salesperson)
        self.assertEqual(followup.summary, "Re-engage: Globex Chairs (stale 25 days)")
        day = (fields.Date.today() - timedelta(days=25)).strftime("%m/%d/%Y")
        self.assertIn(f"Last touch on {day}: Quotation {quote.name}, ", followup.note)
        # Its total, taxes included.
        self.assertIn(f"{quote.amount_total:,.2f}", followup.note)
        self.assertIn("sent, not confirmed.", followup.note)
