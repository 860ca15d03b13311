import json

from odoo.tests import HttpCase, new_test_user, tagged

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
        self.assertEqual(body["counts"]["scheduled"], 1)
        self.assertIn(
            "Found 1 stale opportunities older than 14 days.", body["message"]
        )
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
