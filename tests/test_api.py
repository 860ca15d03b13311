import json
import xmlrpc.client

from odoo.tests import HttpCase, new_test_user, tagged
from odoo.tools import mute_logger

from .common import FollowupCase


@tagged("post_install", "-at_install")
class TestWorkflowApi(HttpCase, FollowupCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.stale = cls._opportunity("API Stale Deal", days=20)
        Keys = cls.env["res.users.apikeys"]
        cls.manager_key = (
            Keys.with_user(cls.manager).sudo()._generate(None, "test", None)
        )
        cls.sales_key = (
            Keys.with_user(cls.salesperson).sudo()._generate(None, "test", None)
        )
        cls.plain_user = new_test_user(cls.env, "fu_plain", groups="base.group_user")
        cls.plain_key = (
            Keys.with_user(cls.plain_user).sudo()._generate(None, "test", None)
        )

    def _post(self, body, key=None, content_type="application/json", method="POST"):
        headers = {"Content-Type": content_type}
        if key is not False:
            headers["Authorization"] = f"Bearer {key or self.manager_key}"
        data = body if isinstance(body, str) else json.dumps(body)
        response = self.url_open(
            "/workflows/run", data=data, headers=headers, method=method
        )
        self.assertEqual(
            response.headers["Content-Type"], "application/json; charset=utf-8"
        )
        return response.status_code, response.json()

    def test_success(self):
        status, body = self._post(
            {"workflow_name": "opportunity_follow_up", "params": {"stale_days": 14}}
        )
        self.assertEqual(status, 200, body)
        self.assertTrue(body["success"])
        self.assertIsNone(body["error"])
        self.assertEqual(body["counts"]["scheduled"], 1)
        self.assertIn("Found 1 stale opportunity older than 14 days.", body["message"])
        log = self.env["workflow.log"].browse(body["log_id"])
        self.assertEqual((log.trigger, log.user_id), ("api", self.manager))
        self.assertTrue(self._followups(self.stale))

    def test_dry_run(self):
        status, body = self._post(
            {"workflow_name": "opportunity_follow_up", "params": {"dry_run": True}}
        )
        self.assertEqual(status, 200, body)
        self.assertEqual(body["counts"]["scheduled"], 1)
        self.assertNotIn("schedule_activity", body["steps_executed"])
        self.assertFalse(self._followups(self.stale))

    def test_errors(self):
        good = {"workflow_name": "opportunity_follow_up"}
        cases = [
            ("no key", good, False, "application/json", 401, None),
            ("wrong key", good, "not-a-key", "application/json", 401, None),
            ("bad json", "{oops", None, "application/json", 400, None),
            ("content type", "workflow_name=x", None, "text/plain", 400, None),
            (
                "unknown workflow",
                {"workflow_name": "nope"},
                None,
                "application/json",
                404,
                "workflow_name",
            ),
            (
                "unknown param",
                dict(good, params={"colour": 1}),
                None,
                "application/json",
                400,
                "colour",
            ),
            (
                "wrong type",
                dict(good, params={"stale_days": "14"}),
                None,
                "application/json",
                400,
                "stale_days",
            ),
            (
                "out of range",
                dict(good, params={"stale_days": 0}),
                None,
                "application/json",
                400,
                "stale_days",
            ),
            (
                "not a boolean",
                dict(good, params={"dry_run": "yes"}),
                None,
                "application/json",
                400,
                "dry_run",
            ),
            ("salesperson", good, self.sales_key, "application/json", 403, None),
            ("no sales rights", good, self.plain_key, "application/json", 403, None),
        ]
        for name, body, key, content_type, status, field in cases:
            with self.subTest(name):
                got_status, got = self._post(body, key=key, content_type=content_type)
                self.assertEqual(got_status, status, got)
                self.assertFalse(got["success"])
                self.assertTrue(got["error"])
                if field:
                    self.assertEqual(got["field"], field)
        response = self.url_open("/workflows/run", method="GET")
        self.assertEqual(response.status_code, 405)
        self.assertEqual(response.json()["code"], "method_not_allowed")
        self.assertFalse(self._followups(self.stale))

    def test_failed_run(self):
        """A run that fails answers an error naming its log, not the raw
        database message."""
        Runner = type(self.env["opportunity.followup.runner"])

        def broken(runner, leads, params, assignees):
            raise RuntimeError('relation "secret_table" does not exist')

        self.patch(Runner, "_draft_message", broken)
        with mute_logger(
            "odoo.addons.crm_opportunity_followup.models.opportunity_followup_runner"
        ):
            status, body = self._post({"workflow_name": "opportunity_follow_up"})
        self.assertEqual(status, 500, body)
        self.assertEqual(body["code"], "run_failed")
        self.assertNotIn("secret_table", body["error"])
        log = self.env["workflow.log"].browse(body["log_id"])
        self.assertEqual(log.state, "failed")
        self.assertIn("secret_table", log.error)

    def test_xmlrpc(self):
        """The API most integrations use: run answers over XML-RPC, and a bad
        stale_days answers a Fault naming it."""
        models = self.xmlrpc_object  # /xmlrpc/2/object, through the test server
        args = (self.env.cr.dbname, self.manager.id, self.manager_key)
        result = models.execute_kw(
            *args, "opportunity.followup.runner", "run", [], {"stale_days": 14}
        )
        self.assertTrue(result["success"])
        self.assertIs(result["error"], False)
        self.assertEqual(result["counts"]["scheduled"], 1)
        self.assertTrue(self._followups(self.stale))
        with self.assertRaises(xmlrpc.client.Fault) as caught:
            models.execute_kw(
                *args, "opportunity.followup.runner", "run", [], {"stale_days": "14"}
            )
        self.assertIn("stale_days", caught.exception.faultString)

    def test_json2(self):
        """Odoo 19's JSON-2 API, with an API key."""
        url = "/json/2/opportunity.followup.runner/run"
        headers = {
            "Authorization": f"bearer {self.manager_key}",
            "Content-Type": "application/json",
        }
        response = self.url_open(
            url, data=json.dumps({"dry_run": True}), headers=headers
        )
        self.assertEqual(response.status_code, 200, response.text)
        self.assertEqual(response.json()["counts"]["scheduled"], 1)
        response = self.url_open(
            url, data=json.dumps({"stale_days": 0}), headers=headers
        )
        self.assertGreaterEqual(response.status_code, 400)
        self.assertIn("stale_days", response.json()["message"])
        self.assertFalse(self._followups(self.stale))
