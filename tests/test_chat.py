import json

from .common import FollowupCase


class TestChatCommand(FollowupCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.own = cls._opportunity("Own Chat Deal", days=20)
        cls.other = cls._opportunity(
            "Sue's Chat Deal", days=20, user_id=cls.salesperson_2.id
        )
        cls.channel = cls.env["discuss.channel"].create(
            {"name": "sales", "channel_type": "channel"}
        )

    def _say(self, user, body):
        """Type a command as ``user``; return the answer the bus carries."""
        self.env["bus.bus"].sudo().search([]).unlink()
        self.channel.with_user(user).execute_command_followup(body=body)
        self.env.cr.precommit.run()
        messages = [
            json.loads(bus.message) for bus in self.env["bus.bus"].sudo().search([])
        ]
        answers = [
            message["payload"]["body"]
            for message in messages
            if message["type"] == "discuss.channel/transient_message"
        ]
        self.assertEqual(len(answers), 1, messages)
        return answers[0]

    def test_own_opportunities(self):
        answer = self._say(self.salesperson, "/followup")
        self.assertIn("Found 1 stale opportunity older than 14 days.", answer)
        self.assertIn("Open the log", answer)
        self.assertTrue(self._followups(self.own))
        self.assertFalse(self._followups(self.other))
        self.assertEqual(self.env["workflow.log"].search([], limit=1).trigger, "chat")

    def test_days_argument(self):
        answer = self._say(self.salesperson, "/followup 30")
        self.assertIn("No stale opportunity older than 30 days", answer)

    def test_all_needs_a_manager(self):
        answer = self._say(self.salesperson, "/followup all")
        self.assertIn("Only sales managers", answer)
        self.assertFalse(self._followups(self.own | self.other))
        answer = self._say(self.manager, "/followup all")
        self.assertIn("Found 2 stale opportunities", answer)
        self.assertEqual(len(self._followups(self.own | self.other)), 2)

    def test_bad_usage(self):
        for typed in ("/followup soon", "/followup 99999", "/followup 0"):
            answer = self._say(self.salesperson, typed)
            self.assertIn("Give a number of days from 1 to 3650", answer)
            self.assertNotIn("stale_days", answer)
