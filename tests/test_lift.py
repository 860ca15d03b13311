"""Measure the lift: a share of the eligible deals held out at random, not
re-engaged, and compared with the re-engaged ones in the Effectiveness
report, with the lift's 95 % interval or "too few to tell"."""

import dataclasses
from datetime import datetime, timedelta

import psycopg2.errors
from freezegun import freeze_time

from odoo.tests import Form, users
from odoo.tools import mute_logger

from odoo.addons.crm_opportunity_followup.models.followup_params import RunParams

from .common import FollowupCase

# The runs' moment, and the seed of the daily run's draw that day.
MOMENT = datetime(2027, 3, 1, 10, 0)
# Enough deals that a 20 % draw holds out some and re-engages most of them,
# whatever ids the database gives them (no draw holds out none of 60 but
# once in a million).
DEALS = 60
REPORT = "crm.followup.effectiveness.report"


def at(days):
    return MOMENT + timedelta(days=days)


class LiftCase(FollowupCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.leads = cls.env["crm.lead"].union(
            *(cls._opportunity(f"Quiet {index}") for index in range(DEALS))
        )
        # Nobody worked on them for 20 days before the runs, whatever today is.
        cls._set_last_work(cls.leads, MOMENT - timedelta(days=20))
        cls.env.company.followup_holdout_percent = 20

    def _daily(self, days=0):
        """The daily job's run, ``days`` after MOMENT."""
        with freeze_time(at(days)):
            return self._run_cron()

    def _outcomes(self, log):
        return {line.lead_id: line.outcome for line in log.line_ids}

    def _having(self, log, outcome):
        return log.line_ids.filtered(lambda line: line.outcome == outcome).lead_id


class TestHoldOut(LiftCase):
    def test_held_out_deals_are_booked_nothing_and_shown_apart(self):
        log = self._daily()
        held = self._having(log, "held_out")
        scheduled = self._having(log, "scheduled")
        self.assertTrue(held)
        self.assertEqual(held | scheduled, self.leads)
        self.assertFalse(self._followups(held))
        self.assertEqual(self._followups(scheduled).mapped("res_id"), scheduled.ids)
        # Counted apart: on the log, in run()'s counts, in its message.
        self.assertEqual(log.held_out_count, len(held))
        self.assertEqual(log.scheduled_count, DEALS - len(held))
        self.assertEqual(log.eligible_count, DEALS)
        self.assertEqual(log._result()["counts"]["held_out"], len(held))
        self.assertIn(
            f"{len(held)} held out to measure the lift: not re-engaged.", log.message
        )
        # Each line says what its re-engagement would have been, its result
        # pending like the re-engaged ones'.
        lines = log.line_ids.filtered(lambda line: line.outcome == "held_out")
        self.assertEqual(lines.assignee_id, self.salesperson)
        self.assertEqual(lines.stage_id, self.stage_new)
        self.assertEqual(lines.team_id, self.team)
        self.assertEqual(lines.activity_type_id, self.call_type)
        self.assertEqual(set(lines.mapped("revival_result")), {"pending"})
        self.assertFalse(any(lines.mapped("activity_ref")))

    def test_held_out_deals_get_a_result_like_the_re_engaged_ones(self):
        log = self._daily()
        held = self._having(log, "held_out")
        worked, ignored = held[0], held[1:]
        scheduled = self._having(log, "scheduled")[0]
        with freeze_time(at(2)):
            worked.with_user(self.salesperson).message_post(
                body="They called us back.", message_type="comment"
            )
            scheduled.with_user(self.salesperson).message_post(
                body="Called them.", message_type="comment"
            )
        with freeze_time(at(3)):
            self.env["workflow.log.line"].with_user(
                self.odoobot
            )._cron_followup_refresh_revival()
        self.env.invalidate_all()
        results = {line.lead_id: line for line in log.line_ids}
        self.assertEqual(results[worked].revival_result, "worked")
        self.assertEqual(results[worked].revival_date, at(2))
        self.assertEqual(results[worked].revival_days, 2)
        self.assertEqual(
            {results[lead].revival_result for lead in ignored}, {"ignored"}
        )
        self.assertEqual(results[scheduled].revival_result, "worked")
        # The report shows both groups, apart; the run's own figures are its
        # re-engagements'.
        rows = (
            self.env[REPORT]
            .with_user(self.manager)
            ._read_group(
                [("log_id", "=", log.id)],
                ["followup_group"],
                ["__count", "worked_count:sum"],
            )
        )
        self.assertEqual(
            dict((group, (count, worked)) for group, count, worked in rows),
            {"reengaged": (DEALS - len(held), 1), "held_out": (len(held), 1)},
        )
        log = log.with_user(self.manager)
        self.assertEqual(log.revival_worked_count, 1)
        self.assertEqual(log.revival_ignored_count, DEALS - len(held) - 1)

    def test_a_held_out_deal_is_left_alone_then_re_engaged(self):
        """Left alone while its result is measured, then re-engaged: never
        held out twice in a row."""
        first = self._daily()
        held = self._having(first, "held_out")
        # The next day: its result window (30 days) is open.
        second = self._daily(1)
        self.assertEqual(self._having(second, "skipped_held_out"), held)
        self.assertEqual(second.skipped_held_out_count, len(held))
        self.assertFalse(self._having(second, "held_out"))
        self.assertFalse(self._followups(held))
        self.assertIn(
            "left alone until its result is known",
            second.line_ids.filtered(lambda line: line.lead_id == held[0]).reason,
        )
        # Once the window closed, re-engaged, not drawn again.
        later = self._daily(31)
        self.assertEqual(self._having(later, "scheduled"), held)
        self.assertEqual(self._followups(held).mapped("res_id"), held.ids)

    def test_a_customer_held_out_is_not_called_through_its_other_deal(self):
        """One call per customer: the deal that stands for its customer held
        out, its other deal is not called instead, on that run nor while the
        result is measured; then one call, on the biggest."""
        globex = self.env["res.partner"].create({"name": "Globex", "is_company": True})
        desks = self._opportunity(
            "Desks", partner_id=globex.id, expected_revenue=9000, probability=50
        )
        chairs = self._opportunity(
            "Chairs", partner_id=globex.id, expected_revenue=1000, probability=50
        )
        self._set_last_work(desks | chairs, MOMENT - timedelta(days=20))
        # The draw holds out the customer's biggest deal, and nothing else.
        self.patch(RunParams, "holds_out", lambda params, lead: lead == desks)
        first = self._daily()
        lines = {line.lead_id: line for line in first.line_ids}
        self.assertEqual(lines[desks].outcome, "held_out")
        self.assertEqual(lines[chairs].outcome, "grouped")
        self.assertEqual(lines[chairs].grouped_lead_id, desks)
        self.assertEqual(
            lines[chairs].reason,
            "One call per customer: Globex's biggest deal, “Desks”, is held out "
            "to measure the lift; its customer is not called.",
        )
        self.assertFalse(self._followups(desks | chairs))
        # The next day, Desks's result being measured: Chairs is left alone.
        second_log = self._daily(1)
        second = self._outcomes(second_log)
        self.assertEqual(second[desks], "skipped_held_out")
        self.assertEqual(second[chairs], "skipped_held_out")
        reason = second_log.line_ids.filtered(
            lambda line: line.lead_id == chairs
        ).reason
        self.assertEqual(
            reason,
            "Grouped on 03/01/2027 with “Desks”, held out to measure the lift: left "
            "alone with it until its result is known, on 03/31/2027.",
        )
        self.assertFalse(self._followups(desks | chairs))
        # The window closed: one call, on the biggest, listing the other.
        later = self._outcomes(self._daily(31))
        followup = self._followups(desks | chairs)
        self.assertEqual(followup.res_id, desks.id)
        self.assertIn("“Chairs”", followup.note)
        self.assertEqual((later[desks], later[chairs]), ("scheduled", "grouped"))

    @users("fu_manager")
    def test_never_held_out_twice_in_a_row_even_by_the_same_draw(self):
        # The administrator's result window: a day.
        self.env["ir.config_parameter"].sudo().set_param(
            "crm_opportunity_followup.revival_window_days", "1"
        )
        first = self._daily()
        held = self._having(first, "held_out")
        # Replayed two days on with the first run's seed: its draw picks the
        # same deals, which were held out on their previous run.
        params = dataclasses.replace(first._params(), now=at(2), trigger="manual")
        with freeze_time(at(2)):
            result = self.Runner.with_user(self.env.user)._run(params)
        again = self.env["workflow.log"].browse(result["log_id"])
        self.assertEqual(self._having(again, "scheduled"), held)
        self.assertFalse(self._having(again, "held_out"))
        self.assertEqual(self._followups(held).mapped("res_id"), held.ids)

    @users("fu_manager")
    def test_the_same_run_draws_the_same_deals(self):
        first = self._daily()
        held = self._having(first, "held_out")
        params = dataclasses.replace(first._params(), trigger="manual")
        # The same run again (its moment, its seed): the same deals held out
        # (the others have their re-engagement now).
        with freeze_time(MOMENT):
            replay = self.Runner.with_user(self.env.user)._run(params)
            other = self.Runner.with_user(self.env.user)._run(
                dataclasses.replace(params, seed="another run")
            )
        replayed = self.env["workflow.log"].browse(replay["log_id"])
        self.assertEqual(self._having(replayed, "held_out"), held)
        self.assertEqual(self._having(replayed, "skipped_pending"), self.leads - held)
        # Another seed, another draw.
        drawn = self._having(
            self.env["workflow.log"].browse(other["log_id"]), "held_out"
        )
        self.assertNotEqual(drawn, held)

    @users("fu_manager")
    def test_a_deal_ticked_by_hand_is_never_held_out(self):
        with freeze_time(MOMENT):
            # The deals a pipeline run at this moment would hold out.
            plan = self.Runner.with_user(self.env.user).plan(self.leads.ids)
            result = self.Runner.with_user(self.env.user).run(lead_ids=self.leads.ids)
        self.assertEqual(
            {decision.outcome for decision in plan["decisions"].values()}, {"preview"}
        )
        log = self.env["workflow.log"].browse(result["log_id"])
        self.assertEqual(set(self._outcomes(log).values()), {"scheduled"})
        self.assertEqual(result["counts"]["held_out"], 0)
        self.assertEqual(len(self._followups(self.leads)), DEALS)

    @users("fu_manager")
    def test_a_preview_holds_out_nothing_and_says_so(self):
        with freeze_time(MOMENT):
            result = self.Runner.with_user(self.env.user).run(dry_run=True)
        log = self.env["workflow.log"].browse(result["log_id"])
        self.assertEqual(set(self._outcomes(log).values()), {"preview"})
        self.assertEqual(result["counts"]["scheduled"], DEALS)
        self.assertIn("Measure the Lift is on", result["message"])
        self.assertFalse(self._followups(self.leads))

    @users("fu_manager")
    def test_a_preview_shows_the_deals_left_alone(self):
        with freeze_time(MOMENT):
            held = self._having(self._run_cron(), "held_out")
        with freeze_time(at(1)):
            result = self.Runner.with_user(self.env.user).run(dry_run=True)
        log = self.env["workflow.log"].browse(result["log_id"])
        self.assertEqual(self._having(log, "skipped_held_out"), held)
        self.assertFalse(self._having(log, "preview"))

    def test_off_by_default_and_at_most_20_percent(self):
        admin = self._admin()
        self.env.company.followup_holdout_percent = 0
        form = Form(self.env["res.config.settings"].with_user(admin))
        self.assertEqual(form.followup_holdout_percent, 0)
        form.followup_holdout_percent = 10
        form.save().execute()
        self.assertEqual(self.env.company.followup_holdout_percent, 10)
        form = Form(self.env["res.config.settings"].with_user(admin))
        self.assertEqual(form.followup_holdout_percent, 10)
        form.followup_holdout_percent = 0
        form.save().execute()
        self.assertEqual(self.env.company.followup_holdout_percent, 0)
        log = self._daily()
        self.assertEqual(set(self._outcomes(log).values()), {"scheduled"})
        settings = self.env["res.config.settings"].with_user(admin)
        with (
            mute_logger("odoo.sql_db"),
            self.assertRaises(psycopg2.errors.CheckViolation) as caught,
        ):
            settings.create({"followup_holdout_percent": 21})
            settings.env.flush_all()
        self.assertEqual(
            self.env["res.company"]._sql_error_to_message(caught.exception),
            "Measure the Lift holds out from 0 to 20 % of the eligible opportunities.",
        )


class TestLiftFigures(FollowupCase):
    """The lift on known results: the rates, the difference and its 95 %
    interval, computed by hand below."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.log = cls.env["workflow.log"].create({"trigger": "cron", "state": "done"})
        cls.lines = cls.env["workflow.log.line"]
        # Stage New: 40 re-engaged with a result (10 won, 8 advanced, 6
        # worked, 4 lost, 12 ignored) and 5 pending; 30 held out with a
        # result (3 won, 6 worked, 21 ignored) and 2 pending.
        cls._lines(
            "scheduled",
            cls.stage_new,
            won=10,
            advanced=8,
            worked=6,
            lost=4,
            ignored=12,
            pending=5,
        )
        cls._lines("held_out", cls.stage_new, won=3, worked=6, ignored=21, pending=2)
        # Qualified: 5 re-engaged (2 worked), 3 held out (1 worked).
        cls._lines("scheduled", cls.stage_qualified, worked=2, ignored=3)
        cls._lines("held_out", cls.stage_qualified, worked=1, ignored=2)

    @classmethod
    def _lines(cls, outcome, stage, **results):
        lead = cls._opportunity(f"{outcome} {stage.name}")
        cls.lines |= cls.env["workflow.log.line"].create(
            [
                {
                    "log_id": cls.log.id,
                    "company_id": cls.env.company.id,
                    "lead_id": lead.id,
                    "outcome": outcome,
                    "assignee_id": cls.salesperson.id,
                    "stage_id": stage.id,
                    "team_id": cls.team.id,
                    "activity_type_id": cls.call_type.id,
                    "revival_result": result,
                }
                for result, count in results.items()
                for _index in range(count)
            ]
        )

    @users("fu_manager")
    def test_rates_and_interval_on_known_data(self):
        Report = self.env[REPORT].with_user(self.env.user)
        by_stage = {
            row["key"]: row
            for row in Report._followup_lift([("log_id", "=", self.log.id)], "stage_id")
        }
        new = by_stage[self.stage_new]
        self.assertEqual(
            (new["reengaged"]["count"], new["reengaged"]["revived"]), (40, 24)
        )
        self.assertEqual(
            (new["held_out"]["count"], new["held_out"]["revived"]), (30, 9)
        )
        self.assertAlmostEqual(new["reengaged"]["revival_rate"], 60.0)
        self.assertAlmostEqual(new["held_out"]["revival_rate"], 30.0)
        self.assertAlmostEqual(new["reengaged"]["win_rate"], 25.0)
        self.assertAlmostEqual(new["held_out"]["win_rate"], 10.0)
        self.assertTrue(new["enough"])
        # 0.6 - 0.3 = 0.3, +/- 1.96 * sqrt(0.6 * 0.4 / 40 + 0.3 * 0.7 / 30)
        # = 1.96 * sqrt(0.013) = 0.223474.
        self.assertAlmostEqual(new["lift"], 30.0)
        self.assertAlmostEqual(new["low"], 7.652562, places=5)
        self.assertAlmostEqual(new["high"], 52.347438, places=5)
        # 5 and 3 deals with a result: too few to tell.
        qualified = by_stage[self.stage_qualified]
        self.assertFalse(qualified["enough"])
        self.assertIsNone(qualified["lift"])
        self.assertIsNone(qualified["low"])
        self.assertAlmostEqual(qualified["reengaged"]["revival_rate"], 40.0)
        # Overall: 26 of 45 against 10 of 33 revived.
        [overall] = Report._followup_lift([("log_id", "=", self.log.id)])
        self.assertTrue(overall["enough"])
        self.assertAlmostEqual(overall["lift"], 100 * (26 / 45 - 10 / 33))

    @users("fu_manager")
    def test_the_manager_reads_the_lift(self):
        form = Form(self.env["crm.followup.lift"].with_user(self.env.user))
        self.assertEqual(form.breakdown, "stage_id")
        summary = str(form.summary)
        self.assertIn("New", summary)
        self.assertIn("7.7 to 52.3", summary)
        self.assertIn("30.0", summary)
        self.assertIn("Re-engaging brings more deals back", summary)
        self.assertIn("Too few deals to tell", summary)
        form.breakdown = "user_id"
        self.assertIn("Sam Seller", str(form.summary))

    def test_too_few_to_tell(self):
        few = self.lines.filtered(lambda line: line.stage_id == self.stage_qualified)
        Report = self.env[REPORT].with_user(self.salesperson)
        [row] = Report._followup_lift([("line_id", "in", few.ids)])
        self.assertFalse(row["enough"])
        self.assertEqual((row["reengaged"]["count"], row["held_out"]["count"]), (5, 3))
        self.assertIsNone(row["lift"])


class TestHoldOutQueries(FollowupCase):
    def test_holding_out_more_deals_costs_no_more_queries(self):
        """The draw and the deals' history are read per chunk: a team of 60
        costs what a team of 10 does, held-out deals and all."""
        self.env.company.followup_holdout_percent = 20
        queries, held = {}, {}
        for count in (10, 60):
            team = self.env["crm.team"].create(
                {"name": f"Team of {count}", "user_id": self.manager.id}
            )
            leads = self.env["crm.lead"].union(
                *(
                    self._opportunity(f"Deal {count} {index}", team_id=team.id)
                    for index in range(count)
                )
            )
            self._set_last_work(leads, MOMENT - timedelta(days=20))
            self.env.flush_all()
            self.env.invalidate_all()
            with freeze_time(MOMENT):
                before = self.env.cr.sql_log_count
                result = self.Runner.with_user(self.manager).run(team_id=team.id)
                queries[count] = self.env.cr.sql_log_count - before
            held[count] = result["counts"]["held_out"]
        self.assertTrue(held[60], held)
        self.assertLessEqual(queries[60], queries[10], queries)
