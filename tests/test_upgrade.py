"""Upgrades from older versions: their stored previews, a stage's inline
wording, its wording written for the note, the emails 19.0.1.4.0 installed."""

import logging

from odoo import fields
from odoo.exceptions import UserError
from odoo.modules.migration import load_script
from odoo.tools import convert_file, mute_logger
from odoo.tools.misc import file_path

from .common import TemplatedCase


class TestUpgradeFromOlderVersions(TemplatedCase):
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

    def test_upgrade_converts_the_inline_wording(self):
        """19.0.1.0.0's inline wording becomes the stage's template."""
        self.env["res.lang"]._activate_lang("fr_FR")
        self.env.cr.execute(
            "ALTER TABLE crm_stage ADD COLUMN followup_template jsonb;"
            "UPDATE crm_stage SET followup_template = %s WHERE id = %s",
            [
                '{"en_US": "Dear {{ object.contact_name }}, {{ days }} days on '
                '{{ object.name }} <b>", "fr_FR": "Bonjour {{ object.contact_name }}"}',
                self.stage_qualified.id,
            ],
        )
        self.env["crm.stage"]._followup_migrate_inline_wording()
        template = self.stage_qualified.followup_template_id
        self.assertEqual(template.model, "crm.lead")
        body = template._render_field("body_html", self.lead.ids)[self.lead.id]
        self.assertIn("Dear Bo, 20 days on Templated &lt;b&gt;", body)
        self.assertIn("Bonjour", template.with_context(lang="fr_FR").body_html)
        self.env.cr.execute(
            "SELECT 1 FROM information_schema.columns "
            "WHERE table_name = 'crm_stage' AND column_name = 'followup_template'"
        )
        self.assertFalse(self.env.cr.fetchone())

    def test_upgrade_detaches_wordings(self):
        """19.0.1.3.0: a stage's wording was written for the salesperson's
        note; it is never offered to the customer unseen."""
        wording = self._template(
            self._admin(), '<p>20 days on <t t-out="object.name"/></p>'
        )
        self.stage_qualified.followup_template_id = wording
        with self.assertLogs(
            "odoo.addons.crm_opportunity_followup.models.crm_stage", "WARNING"
        ) as logs:
            detached = self.env["crm.stage"]._followup_migrate_detach_wordings()
        self.assertEqual(detached, self.stage_qualified)
        self.assertIn("Qualified wording", logs.output[0])
        self.assertFalse(self.stage_qualified.followup_template_id)
        self.assertTrue(wording.exists())
        self._run_cron()
        self.assertEqual(
            self._followups(self.lead).mail_template_ids,
            self.env.ref("crm_opportunity_followup.mail_template_reengagement"),
        )

    def test_upgrade_leaves_code_out(self):
        with mute_logger("odoo.addons.crm_opportunity_followup.models.crm_stage"):
            template = self.stage_qualified._followup_template_from_text(
                {"en_US": "Hi {{ object.env['res.users'].sudo().search([]) }}"}
            )
        self.assertIsNone(template)
        self.assertFalse(self.stage_qualified.followup_template_id)

    def _as_installed_by_19_0_1_4_0(self):
        """The emails as 19.0.1.4.0's file installed them, through Odoo's loader,
        with a French translation of the former customer email's subject."""
        self.env["res.lang"]._activate_lang("fr_FR")
        convert_file(
            self.env,
            "crm_opportunity_followup",
            "migrations/19.0.1.5.0/mail_template_data-19.0.1.4.0.xml",
            {},
            mode="init",
            noupdate=True,
        )
        customer_email = self.env.ref(
            "crm_opportunity_followup.mail_template_reengagement"
        )
        customer_email.update_field_translations(
            "subject",
            {
                # As fr.po translated it.
                "fr_FR": "{{ ('Re: ' + object.followup_customer_subject) if object."
                "followup_customer_subject else 'Suivi de notre échange' }}"
            },
        )
        summary = self.env.ref("crm_opportunity_followup.mail_template_followup_digest")
        self.assertIn("Checking in", customer_email.subject)
        self.assertNotIn("To decide", summary.body_html)
        return customer_email, summary

    def _migrate_to_19_0_1_5_0(self):
        script = load_script(
            file_path("crm_opportunity_followup/migrations/19.0.1.5.0/post-migrate.py"),
            "post-migrate",
        )
        # An upgrade reads the database, in a registry of its own.
        self.env.flush_all()
        self.env.invalidate_all()
        script.migrate(self.env.cr, "19.0.1.4.0")
        self.env.invalidate_all()

    def test_upgrade_refreshes_the_emails_nobody_changed(self):
        """19.0.1.4.0's emails are noupdate: the upgrade brings the customer
        email (first name, the deal's name as subject, "I am on it") and the
        summary (its To decide section) to this version's."""
        customer_email, summary = self._as_installed_by_19_0_1_4_0()
        lead = self._opportunity(
            "Upgrade Deal", days=20, contact_name="Bo Dahl", email_from="bo@example.com"
        )
        self._migrate_to_19_0_1_5_0()
        rendered = customer_email._generate_template(lead.ids, ("subject", "body_html"))
        self.assertEqual(rendered[lead.id]["subject"], "Upgrade Deal")
        self.assertIn("Hello Bo,", rendered[lead.id]["body_html"])
        self.assertNotIn("Bo Dahl", rendered[lead.id]["body_html"])
        self.assertIn("I am on it", customer_email.body_html)
        self.assertIn("To decide", summary.body_html)
        # French translated the former subject: it reads the new one until the
        # module's translations give theirs.
        self.assertNotIn("Suivi", customer_email.with_context(lang="fr_FR").subject)
        self.assertIn("object.name", customer_email.with_context(lang="fr_FR").subject)

    def test_upgrade_keeps_the_emails_an_administrator_changed(self):
        customer_email, summary = self._as_installed_by_19_0_1_4_0()
        customer_email.with_user(self._admin()).with_context(
            lang="en_US"
        ).body_html = '<p>Dear <t t-out="object.contact_name"/>, ours.</p>'
        self.assertIn("ours.", customer_email.with_context(lang="en_US").body_html)
        # logging.INFO: Odoo names its runbot level (25) "INFO".
        with self.assertLogs(
            "odoo.addons.crm_opportunity_followup.migrations", logging.INFO
        ) as logs:
            self._migrate_to_19_0_1_5_0()
        self.assertIn("ours.", customer_email.body_html)
        self.assertNotIn("I am on it", customer_email.body_html)
        self.assertEqual(len(logs.output), 1)
        self.assertIn("Re-engagement Email", logs.output[0])
        self.assertIn("body_html", logs.output[0])
        # What nobody changed is refreshed all the same.
        self.assertNotIn("Checking in", customer_email.subject)
        self.assertIn("To decide", summary.body_html)
