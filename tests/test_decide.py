"""Decide, don't nag: a deal re-engaged in vain goes to its team leader to
decide (revive, pause, mark lost) instead of a third nudge; and one call per
customer."""

from freezegun import freeze_time

from odoo.tests import Form, users

from .common import EscalationCase, FollowupCase, day


class DecideCase(EscalationCase):
    """``Initech Upgrade``, Sam's deal in Mia's team, booked by the daily
    job every cycle of 15 days and marked done by Sam with no answer."""

    def _decisions(self, leads):
        return self.Activity.search(
            [
                ("res_model", "=", "crm.lead"),
                ("res_id", "in", leads.ids),
                ("is_followup_decision", "=", True),
            ]
        )

    def _cycle(self, offset, feedback="Left a voicemail"):
        """The daily job ``day(offset)``, as OdooBot; Sam marks the
        re-engagement it booked done, with ``feedback``.

        :return: the run's line of the deal
        """
        with freeze_time(day(offset)):
            log = self._run_cron()
            followup = self._followups(self.lead)
            if followup:
                followup.with_user(self.salesperson).action_feedback(feedback=feedback)
            # Done that day: Odoo stamps date_done when it flushes.
            self.env.flush_all()
        return self._line(log, self.lead)

    def _decide(self):
        """Two cycles in vain, then the third: the leader's Decide."""
        self.assertEqual(self._cycle(0).outcome, "scheduled")
        self.assertEqual(self._cycle(15, "No answer").outcome, "scheduled")
        line = self._cycle(30)
        self.assertEqual(line.outcome, "decide")
        return line, self._decisions(self.lead)

    def _wizard(self, user):
        return (
            self.env["crm.lead.followup.decide"]
            .with_user(user)
            .create({"lead_id": self.lead.id})
        )


class TestTouchBudget(DecideCase):
    def test_third_quiet_cycle_asks_the_leader(self):
        self.assertEqual(self._cycle(0).outcome, "scheduled")
        # Sam's own note between the cycles is work, not the customer's word.
        with freeze_time(day(10)):
            self.lead.with_user(self.salesperson).message_post(
                body="Tried their switchboard too.",
                message_type="comment",
                subtype_xmlid="mail.mt_note",
            )
            self.env.flush_all()
        self.assertEqual(self._cycle(25, "No answer").outcome, "scheduled")
        line = self._cycle(40)
        self.assertEqual(line.outcome, "decide")
        decision = self._decisions(self.lead)
        # The leader gets one Decide, due today; the salesperson nothing.
        self.assertEqual(len(decision), 1)
        self.assertEqual(decision.user_id, self.manager)
        self.assertEqual(
            decision.activity_type_id,
            self.env.ref("crm_opportunity_followup.mail_activity_type_decide"),
        )
        self.assertEqual(decision.date_deadline, day(40).date())
        self.assertEqual(
            decision.summary,
            "Decide: Initech Upgrade (re-engaged 2 times, no answer since 03/01/2027)",
        )
        self.assertFalse(self._followups(self.lead))
        self.assertFalse(
            self.Activity.search(
                [
                    ("res_model", "=", "crm.lead"),
                    ("res_id", "=", self.lead.id),
                    ("user_id", "=", self.salesperson.id),
                ]
            )
        )
        # What was tried, when, and what came of it.
        self.assertIn("03/01/2027", decision.note)
        self.assertIn("03/26/2027", decision.note)
        self.assertIn("Left a voicemail", decision.note)
        self.assertIn("No answer", decision.note)
        self.assertIn("Sam Seller", decision.note)
        # Logged and counted, to the leader.
        self.assertEqual(line.activity_id, decision)
        self.assertEqual(line.assignee_id, self.manager)
        self.assertIn("Re-engaged 2 times", line.reason)
        self.assertEqual(line.log_id.decide_count, 1)
        self.assertEqual(line.log_id._result()["counts"]["decide"], 1)
        # One open Decide: the next day's run skips it as having one.
        with freeze_time(day(41)):
            log = self._run_cron()
        self.assertEqual(self._line(log, self.lead).outcome, "skipped_pending")
        self.assertEqual(self._decisions(self.lead), decision)

    def test_no_limit(self):
        self._set_param("decide_after", "0")
        for offset in (0, 15, 30, 45):
            self.assertEqual(self._cycle(offset).outcome, "scheduled")
        self.assertFalse(self._decisions(self.lead))

    def test_team_number_first(self):
        self.team.followup_decide_after = 1
        self.assertEqual(self._cycle(0).outcome, "scheduled")
        self.assertEqual(self._cycle(15).outcome, "decide")

    def test_customer_reply_resets_the_count(self):
        self._set_param("decide_after", "1")
        self.lead.partner_id = self._customer()
        self.assertEqual(self._cycle(0).outcome, "scheduled")
        # The customer writes back: a revival.
        with freeze_time(day(3)):
            self._receive(self._mail_customer(self.lead), "reply")
        self.assertEqual(self._cycle(20).outcome, "scheduled")
        # Nothing from them since: the budget of one is spent.
        self.assertEqual(self._cycle(35).outcome, "decide")

    def test_leader_is_the_salesperson(self):
        """Never the salesperson alone: the default user decides, else
        nobody, and the deal keeps its re-engagements."""
        self.team.user_id = self.salesperson
        self._decide_or_schedule_with_default()

    def _decide_or_schedule_with_default(self):
        self.assertEqual(self._cycle(0).outcome, "scheduled")
        self.assertEqual(self._cycle(15).outcome, "scheduled")
        self.assertEqual(self._cycle(30).outcome, "scheduled")
        self._set_param("default_user_id", str(self.senior.id))
        line = self._cycle(45)
        self.assertEqual(line.outcome, "decide")
        self.assertEqual(self._decisions(self.lead).user_id, self.senior)


class TestDecision(DecideCase):
    @users("fu_manager")
    def test_revive(self):
        line, decision = self._decide()
        with freeze_time(day(30)):
            wizard = self._wizard(self.env.user)
            self.assertEqual(wizard.user_id, self.salesperson)
            self.assertIn("Left a voicemail", wizard.note)
            wizard.user_id = self.senior
            wizard.action_revive()
        followup = self._followups(self.lead)
        self.assertEqual(followup.user_id, self.senior)
        self.assertFalse(decision.active)
        self.assertIn("Revived", decision.feedback)
        self.assertEqual(line.followup_decision, "revive")
        self.assertEqual(self.lead.with_user(self.env.user).followup_count, 3)

    @users("fu_manager")
    def test_the_pipeline_marks_it_awaiting_the_decision(self):
        """Its Decide open, the deal is neither stale nor re-engaging: the
        pipeline marks it awaiting its leader's decision, which a filter
        finds, until the leader decides."""
        self._decide()
        lead = self.lead.with_user(self.env.user)
        Lead = self.env["crm.lead"].with_user(self.env.user)
        with freeze_time(day(31)):
            lead.invalidate_recordset()
            self.assertEqual(lead.followup_state, "decision")
            self.assertEqual(
                Lead.search([("followup_state", "in", ["decision"])]), lead
            )
            others = ["stale", "reengaging", "overdue", "escalated", False]
            self.assertNotIn(lead, Lead.search([("followup_state", "in", others)]))
            # Revived: its new re-engagement's marker again.
            self._wizard(self.env.user).action_revive()
            lead.invalidate_recordset()
            self.assertEqual(lead.followup_state, "reengaging")
            self.assertFalse(Lead.search([("followup_state", "in", ["decision"])]))

    def test_a_won_deal_awaits_no_decision(self):
        """Won while its Decide is open: no longer marked awaiting it."""
        self._decide()
        with freeze_time(day(31)):
            self.lead.with_user(self.salesperson).action_set_won()
            lead = self.lead.with_user(self.manager)
            lead.invalidate_recordset()
            self.assertEqual(lead.won_status, "won")
            self.assertFalse(lead.followup_state)
            Lead = self.env["crm.lead"].with_user(self.manager)
            self.assertNotIn(
                lead, Lead.search([("followup_state", "in", ["decision"])])
            )
            self.assertIn(lead, Lead.search([("followup_state", "in", [False])]))

    @users("fu_manager")
    def test_pause(self):
        line, decision = self._decide()
        with freeze_time(day(30)):
            action = self._wizard(self.env.user).action_pause()
            self.assertEqual(action["res_model"], "crm.lead.followup.pause")
            self.env["crm.lead.followup.pause"].with_context(
                **action["context"]
            ).create(
                {"paused_until": day(90).date(), "reason": "Budget in Q3"}
            ).action_pause()
        self.assertEqual(self.lead.followup_paused_until, day(90).date())
        self.assertFalse(decision.active)
        self.assertIn("Budget in Q3", decision.feedback)
        self.assertEqual(line.followup_decision, "pause")
        self.assertFalse(self._followups(self.lead))

    @users("fu_manager")
    def test_mark_lost(self):
        line, decision = self._decide()
        reason = self.env["crm.lost.reason"].sudo().create({"name": "Went silent"})
        with freeze_time(day(30)):
            action = self._wizard(self.env.user).action_lost()
            self.assertEqual(action["res_model"], "crm.lead.lost")
            self.env["crm.lead.lost"].with_context(**action["context"]).create(
                {"lost_reason_id": reason.id}
            ).action_lost_reason_apply()
        self.assertEqual(self.lead.won_status, "lost")
        self.assertEqual(self.lead.lost_reason_id, reason)
        self.assertFalse(decision.active)
        self.assertIn("Went silent", decision.feedback)
        self.assertEqual(line.followup_decision, "lost")
        # The Effectiveness report counts what the leader decided, apart from
        # the re-engagements and their results.
        [[followups, pending, asked, lost, revived]] = self.env[
            "crm.followup.effectiveness.report"
        ]._read_group(
            [("lead_id", "=", self.lead.id)],
            [],
            [
                "followup_count:sum",
                "pending_count:sum",
                "decision_count:sum",
                "lost_decision_count:sum",
                "revive_count:sum",
            ],
        )
        # Both re-engagements were completed: their results counted then, none
        # is pending.
        self.assertEqual((followups, pending, asked, lost, revived), (2, 0, 1, 1, 0))


class TestOneCallPerCustomer(FollowupCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        globex = cls.env["res.partner"].create({"name": "Globex", "is_company": True})
        ada = cls.env["res.partner"].create({"name": "Ada", "parent_id": globex.id})
        cls.chairs = cls._opportunity(
            "Chairs", partner_id=ada.id, expected_revenue=1000, probability=50
        )
        cls.desks = cls._opportunity(
            "Desks", partner_id=globex.id, expected_revenue=9000, probability=50
        )
        cls.lamps = cls._opportunity(
            "Lamps", partner_id=ada.id, expected_revenue=3000, probability=50
        )
        cls.deals = cls.chairs | cls.desks | cls.lamps

    def _lines(self, log):
        return {line.lead_id: line for line in log.line_ids}

    def test_one_call_on_the_biggest(self):
        # Never grouped: deals without a customer, and a customer's deals of
        # two salespeople.
        loose = self._opportunity("Loose 1") | self._opportunity("Loose 2")
        initech = self.env["res.partner"].create({"name": "Initech"})
        shared = self._opportunity("Printers", partner_id=initech.id)
        shared |= self._opportunity(
            "Toner", partner_id=initech.id, user_id=self.salesperson_2.id
        )
        # Chunks of one: the customer's deals still go together.
        self.patch(type(self.Runner), "_chunk_size", 1)
        log = self._run_cron()
        self.assertEqual(len(self._followups(loose)), 2)
        self.assertEqual(len(self._followups(shared)), 2)
        followup = self._followups(self.deals)
        self.assertEqual(len(followup), 1)
        self.assertEqual(followup.res_id, self.desks.id)
        self.assertEqual(followup.user_id, self.salesperson)
        self.assertIn("Also quiet: “Lamps”, “Chairs”.", followup.note)
        lines = self._lines(log)
        self.assertEqual(lines[self.desks].outcome, "scheduled")
        for lead in self.chairs | self.lamps:
            self.assertEqual(lines[lead].outcome, "grouped")
            self.assertEqual(lines[lead].grouped_lead_id, self.desks)
            self.assertIn("Desks", lines[lead].reason)
            self.assertFalse(lines[lead].activity_ref)
        self.assertEqual(log.grouped_count, 2)
        self.assertEqual(log.scheduled_count, 5)

    def test_the_cap_defers_the_customer_s_call(self):
        """The daily cap defers the deal booked for its customer: the deals
        grouped with it wait with it, their line saying no call was made; the
        next run books the biggest, listing them."""
        form = Form(self.env["res.config.settings"].with_user(self._admin()))
        form.followup_daily_cap = 1
        form.save().execute()
        # Worth more: the salesperson's one re-engagement of the day.
        mainframe = self._opportunity(
            "Mainframe", expected_revenue=90000, probability=50
        )
        with freeze_time(day(0)):
            log = self._run_cron()
        self.assertTrue(self._followups(mainframe))
        self.assertFalse(self._followups(self.deals))
        lines = self._lines(log)
        self.assertEqual(lines[self.desks].outcome, "deferred")
        for lead in self.chairs | self.lamps:
            self.assertEqual(lines[lead].outcome, "grouped")
            self.assertEqual(lines[lead].grouped_lead_id, self.desks)
            self.assertEqual(
                lines[lead].reason,
                "One call per customer: Globex's re-engagement is on its biggest "
                "deal, “Desks”, which lists this one; the daily cap deferred it to "
                "the next run.",
            )
        self.assertEqual(log.deferred_count, 1)
        self.assertEqual(log.grouped_count, 2)
        # The next day: the customer's call, on the biggest deal.
        with freeze_time(day(1)):
            self._followups(mainframe).with_user(self.salesperson).action_feedback(
                "Called"
            )
            log = self._run_cron()
        followup = self._followups(self.deals)
        self.assertEqual(followup.res_id, self.desks.id)
        self.assertIn("Also quiet: “Lamps”, “Chairs”.", followup.note)
        lines = self._lines(log)
        self.assertEqual(lines[self.chairs].outcome, "grouped")
        self.assertIn("which lists this one.", lines[self.chairs].reason)
        self.assertEqual(lines[self.lamps].grouped_lead_id, self.desks)

    def test_the_schedule_dialog_books_the_one_call_it_shows(self):
        """A manager ticks a customer's deals past the cap: the dialog shows
        one call for the customer, and books exactly what it shows."""
        self._set_param("daily_cap", "1")
        mainframe = self._opportunity(
            "Mainframe", expected_revenue=90000, probability=50
        )
        picked = mainframe | self.deals
        action = picked.with_user(self.manager).action_followup_schedule()
        wizard = self.env[action["res_model"]].browse(action["res_id"])
        shown = wizard.line_ids.filtered("selected").lead_id
        self.assertEqual(shown, mainframe | self.desks)
        wizard.with_user(self.manager).action_confirm()
        booked = self._followups(picked)
        self.assertEqual(sorted(booked.mapped("res_id")), sorted(shown.ids))
