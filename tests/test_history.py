"""What the history keeps: what older versions left behind."""

from odoo import fields
from odoo.exceptions import UserError

from .common import FollowupCase


class TestUpgradeFromOlderVersions(FollowupCase):
    """What versions before this one left in the database still makes sense."""

    def test_confirming_an_older_version_s_preview_says_so(self):
        """A preview stored by 19.0.1.0.0, whose parameters have no moment."""
        stale = self._opportunity("Listed by an old preview", days=20)
        preview = (
            self.env["workflow.log"]
            .sudo()
            .create(
                {
                    "trigger": "manual",
                    "dry_run": True,
                    "state": "done",
                    "stale_days": 14,
                    # As 19.0.1.0.0 stored them.
                    "parameters": {
                        "stale_days": 14,
                        "user_id": False,
                        "team_id": False,
                        "lead_ids": None,
                        "deadline_days": 2,
                        "overdue_threshold": 5,
                        "activity_type_id": self.call_type.id,
                        "default_user_id": False,
                        "clock": "work",
                        "dry_run": True,
                    },
                    "line_ids": [
                        fields.Command.create(
                            {"lead_id": stale.id, "outcome": "preview"}
                        )
                    ],
                }
            )
        )
        with self.assertRaisesRegex(UserError, "older version"):
            preview.with_user(self.manager).action_confirm_preview()
        self.assertFalse(self._followups(stale))
        self.assertFalse(preview.confirmed_log_id)

    def _old_wording_column(self, texts):
        """crm_stage as 19.0.1.0.0 left it: its inline wording, per language."""
        self.env.cr.execute(
            "ALTER TABLE crm_stage ADD COLUMN followup_template jsonb;"
            "UPDATE crm_stage SET followup_template = %s WHERE id = %s",
            [texts, self.stage_qualified.id],
        )

    def test_upgrade_keeps_the_wording_it_could_not_convert(self):
        """A wording with an expression only template editors may write is not
        made a template of the stage, and its text is not lost with its column:
        an archived template keeps it, word for word, never rendered."""
        self.env["res.lang"]._activate_lang("fr_FR")
        self._old_wording_column(
            '{"en_US": "Hi {{ object.partner_id.sudo().email }}, <b>call</b>", '
            '"fr_FR": "Bonjour {{ object.partner_id.sudo().email }}"}'
        )
        with self.assertLogs(
            "odoo.addons.crm_opportunity_followup.models.crm_stage", "WARNING"
        ) as logs:
            self.env["crm.stage"]._followup_migrate_inline_wording()
        self.assertFalse(self.stage_qualified.followup_template_id)
        kept = (
            self.env["mail.template"]
            .with_context(active_test=False)
            .search(
                [("name", "ilike", self.stage_qualified.name), ("active", "=", False)]
            )
        )
        self.assertEqual(len(kept), 1)
        self.assertEqual(kept.model, "crm.lead")
        self.assertIn(
            "Hi {{ object.partner_id.sudo().email }}, &lt;b&gt;call&lt;/b&gt;",
            kept.body_html,
        )
        self.assertNotIn("t-out", kept.body_html)
        self.assertIn(
            "Bonjour {{ object.partner_id.sudo().email }}",
            kept.with_context(lang="fr_FR").body_html,
        )
        self.assertIn(kept.name, "\n".join(logs.output))
        self.env.cr.execute(
            "SELECT 1 FROM information_schema.columns "
            "WHERE table_name = 'crm_stage' AND column_name = 'followup_template'"
        )
        self.assertFalse(self.env.cr.fetchone())
