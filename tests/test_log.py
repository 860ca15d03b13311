"""The log of each run (workflow.log): how it reads, who reads it, that
nobody edits it, and how long it is kept."""

from datetime import timedelta

from freezegun import freeze_time

from odoo import fields
from odoo.exceptions import AccessError
from odoo.tests import new_test_user, users

from .common import OwnAndColleagueCase


class TestLog(OwnAndColleagueCase):
    """A run's log as sales managers, salespeople and administrators meet it."""

    @users("fu_manager")
    def test_log_name_search(self):
        result = self.Runner.run()
        found = self.env["workflow.log"].name_search("opportunity_follow_up")
        self.assertIn(result["log_id"], [log_id for log_id, _name in found])
        self.assertFalse(self.env["workflow.log"].name_search("no-such-text-xyz"))

    def test_log_reads_for_managers(self):
        """Titled with what started it and when; parameters as labelled
        values, records by name."""
        with freeze_time("2026-11-24 09:30:00"):
            result = self.Runner.with_user(self.manager).run(
                user_id=self.salesperson.id, dry_run=True
            )
        log = self.env["workflow.log"].with_user(self.manager).browse(result["log_id"])
        self.assertTrue(
            log.display_name.startswith("Preview: Manual / Code, 11/24/26, 9:30"),
            log.display_name,
        )
        self.assertEqual(
            log.parameters_display.splitlines(),
            [
                "Stale after: 14 days",
                "Counts as an update: "
                "Any work on it: an edit, a message, a completed activity",
                "Activity: Call",
                "Due in: 2 days",
                "Salesperson: Sam Seller",
                "Sales team: —",
                "Opportunities: —",
                "Default re-engagement user: —",
            ],
        )

    def test_duration_is_seconds(self):
        arch = self.env["workflow.log"].get_views([(False, "list"), (False, "form")])
        for view in arch["views"].values():
            self.assertNotIn("float_time", view["arch"])

    def test_log_is_read_only(self):
        log_id = self.Runner.run()["log_id"]
        for user in (self.salesperson, self.manager):
            log = self.env["workflow.log"].with_user(user).browse(log_id)
            with self.assertRaises(AccessError):
                log.write({"state": "failed"})
            with self.assertRaises(AccessError):
                log.unlink()
            with self.assertRaises(AccessError):
                self.env["workflow.log"].with_user(user).create({"trigger": "manual"})

    def test_who_reads_which_log(self):
        manager_run = self.Runner.with_user(self.manager).run()
        own_run = self.Runner.with_user(self.salesperson).run(lead_ids=self.own.ids)
        Log = self.env["workflow.log"]
        # Sales managers read every run; salespeople only the runs they started.
        self.assertEqual(
            Log.with_user(self.manager).search([]).ids,
            Log.search([]).ids,
        )
        visible = Log.with_user(self.salesperson).search([])
        self.assertIn(own_run["log_id"], visible.ids)
        self.assertNotIn(manager_run["log_id"], visible.ids)
        with self.assertRaises(AccessError):
            Log.with_user(self.salesperson).browse(manager_run["log_id"]).read(
                ["message"]
            )
        # Their own lines, from whoever's run: the colleague's line stays hidden.
        lines = self.env["workflow.log.line"].with_user(self.salesperson).search([])
        self.assertNotIn(self.colleague, lines.lead_id)

    def test_administrator_purges_logs(self):
        admin = new_test_user(self.env, "fu_sysadmin", groups="base.group_system")
        log_id = self.Runner.run()["log_id"]
        with self.assertRaises(AccessError):
            self.env["workflow.log"].with_user(self.manager).browse(log_id).unlink()
        self.env["workflow.log"].with_user(admin).browse(log_id).unlink()
        self.assertFalse(self.env["workflow.log"].browse(log_id).exists())

    def test_purge_old_logs(self):
        Log = self.env["workflow.log"].sudo()
        old = Log.create({"date_start": fields.Datetime.now() - timedelta(days=200)})
        # Not a re-engagement, whose result outlives the retention (see
        # TestResultRetention).
        old.line_ids = [(0, 0, {"outcome": "skipped_won"})]
        recent = Log.create({"date_start": fields.Datetime.now() - timedelta(days=10)})
        self._set_param("log_retention_days", 0)
        Log._cron_purge_old_logs()
        self.assertTrue(old.exists())
        self._set_param("log_retention_days", 180)
        Log._cron_purge_old_logs()
        self.assertFalse(old.exists())
        self.assertFalse(
            self.env["workflow.log.line"].search([("log_id", "=", old.id)])
        )
        self.assertTrue(recent.exists())
