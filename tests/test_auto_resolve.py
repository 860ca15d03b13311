"""A re-engagement ends itself when the deal comes back to life by other
means: the customer writes, a quotation is sent or confirmed, the stage moves
forward, the deal is won or lost."""

from freezegun import freeze_time

from odoo.tests import Form, tagged

from .common import EscalationCase, RevivalCase, SalesMixin, at, day


class ResolveCase(RevivalCase):
    """A stale deal with a customer, its re-engagement booked at T0."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.customer = cls._customer()
        cls.lead = cls._opportunity(
            "Globex Chairs", days=20, partner_id=cls.customer.id
        )

    def setUp(self):
        super().setUp()
        self.log, self.lines = self._book(self.lead)
        self.followup = self._followups(self.lead)

    def assertResolved(self, feedback, result):
        self.assertFalse(self.followup.active, "the re-engagement is done")
        self.assertEqual(self.followup.feedback, feedback)
        # Odoo's Mark Done: the chatter shows it.
        done = self.env["mail.message"].search(
            [
                ("model", "=", "crm.lead"),
                ("res_id", "=", self.lead.id),
                ("mail_activity_type_id", "=", self.followup.activity_type_id.id),
            ],
            limit=1,
        )
        self.assertIn(feedback, done.body)
        self._refresh(2)
        self.assertEqual(self.lines.revival_result, result)


class TestResolve(ResolveCase):
    def test_the_customer_writes(self):
        with freeze_time(at(1)):
            parent = self._mail_customer(self.lead)
            # The salesperson's own email is theirs to mark done.
            self.assertTrue(self.followup.active)
            todo = self.lead.with_user(self.salesperson).activity_schedule(
                "mail.mail_activity_data_todo", summary="Send the catalogue"
            )
            self._receive(parent, "answer", when=at(1))
        date = at(1).strftime("%m/%d/%Y")
        self.assertResolved(f"Resolved: the customer replied on {date}.", "worked")
        # Nothing else of the salesperson's is touched.
        self.assertTrue(todo.active)

    def test_the_stage_moves_forward(self):
        with freeze_time(at(1)):
            self.lead.with_user(self.salesperson).stage_id = self.stage_qualified
        date = at(1).strftime("%m/%d/%Y")
        self.assertResolved(
            f"Resolved: the deal moved forward to Qualified on {date}.", "advanced"
        )

    def test_won(self):
        with freeze_time(at(1)):
            self.lead.with_user(self.salesperson).action_set_won()
        date = at(1).strftime("%m/%d/%Y")
        self.assertResolved(f"Resolved: the deal was won on {date}.", "won")

    def test_lost(self):
        with freeze_time(at(1)):
            self.lead.with_user(self.salesperson).action_set_lost()
        date = at(1).strftime("%m/%d/%Y")
        self.assertResolved(f"Resolved: the deal was lost on {date}.", "lost")

    def test_the_setting_turns_it_off(self):
        form = Form(self.env["res.config.settings"].with_user(self._admin()))
        self.assertTrue(form.followup_auto_resolve)
        form.followup_auto_resolve = False
        form.save().execute()
        self.assertFalse(self.env.company.followup_auto_resolve)
        with freeze_time(at(1)):
            parent = self._mail_customer(self.lead)
            self._receive(parent, "answer", when=at(1))
            self.lead.with_user(self.salesperson).stage_id = self.stage_qualified
        self.assertTrue(self.followup.active)
        self.assertFalse(self.followup.feedback)


class TestResolveEscalation(EscalationCase):
    def test_the_escalation_ends_with_it(self):
        followup = self._book()
        with freeze_time(day(8)):
            self._run_cron()
        escalation = self._escalations(self.lead)
        self.assertTrue(escalation)
        with freeze_time(day(9)):
            self.lead.with_user(self.salesperson).action_set_won()
        self.assertFalse(followup.active)
        self.assertFalse(escalation.active)
        self.assertEqual(
            escalation.feedback, "Resolved: the deal was won on 03/10/2027."
        )


# After every module: sale_crm may be installed after this addon.
@tagged("followup_sale", "post_install", "-at_install")
class TestResolveByQuotation(SalesMixin, ResolveCase):
    """With Sales (``sale_crm``): what happens on the deal's quotation."""

    def setUp(self):
        super().setUp()
        self.quote = self._quote()
        # Made while the re-engagement is open: work, not yet a revival.
        self.assertTrue(self.followup.active)

    def test_a_quote_sent(self):
        with freeze_time(at(1)):
            self._send(self.quote)
        self.assertEqual(self.quote.state, "sent")
        date = at(1).strftime("%m/%d/%Y")
        self.assertResolved(
            f"Resolved: {self.quote.name} was sent on {date}.", "advanced"
        )

    def test_a_quote_confirmed(self):
        with freeze_time(at(1)):
            self.quote.with_user(self.salesperson).action_confirm()
        date = at(1).strftime("%m/%d/%Y")
        self.assertResolved(
            f"Resolved: {self.quote.name} was confirmed on {date}.", "advanced"
        )

    def test_the_customer_answers_on_the_quote(self):
        with freeze_time(at(1)):
            parent = self.quote.with_user(self.salesperson).message_post(
                body="Any question on our quotation?",
                message_type="comment",
                subtype_xmlid="mail.mt_comment",
                partner_ids=self.customer.ids,
            )
            self.assertTrue(self.followup.active)
            self._receive(parent, "answer", when=at(1))
        date = at(1).strftime("%m/%d/%Y")
        self.assertResolved(f"Resolved: the customer replied on {date}.", "worked")

    def test_off_the_answer_on_the_quote_is_still_its_result(self):
        self.env.company.followup_auto_resolve = False
        with freeze_time(at(1)):
            parent = self.quote.with_user(self.salesperson).message_post(
                body="Any question on our quotation?",
                message_type="comment",
                subtype_xmlid="mail.mt_comment",
                partner_ids=self.customer.ids,
            )
            self._receive(parent, "answer", when=at(1))
            self.quote.with_user(self.salesperson).action_confirm()
        self.assertTrue(self.followup.active)
        self._refresh(2)
        self.assertEqual(self.lines.revival_result, "worked")
