from datetime import timedelta

from odoo import fields
from odoo.tests import Form, new_test_user
from odoo.tools import format_date

from odoo.addons.mail.tests.common import MailCase

from .common import FollowupCase


class TestNotifications(FollowupCase, MailCase):
    """200 activities must not mean 200 e-mails."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.leads = cls.env["crm.lead"]
        for index in range(200):
            cls.leads |= cls._opportunity(
                f"Bulk {index}",
                days=0,
                user_id=(cls.salesperson if index % 2 else cls.salesperson_2).id,
            )
        cls._set_write_date(cls.leads, fields.Datetime.now() - timedelta(days=30))
        cls.salesperson.notification_type = "email"
        cls.salesperson_2.notification_type = "email"

    def test_one_digest_per_salesperson(self):
        with self.mock_mail_gateway():
            result = self.Runner.with_user(self.manager).run()
        self.assertEqual(result["counts"]["scheduled"], 200)
        self.assertEqual(len(self._new_mails), 2)
        due = self._followups(self.leads[1]).date_deadline
        mail = self.assertMailMail(
            self.salesperson.partner_id,
            "outgoing",
            content="Bulk 1",
            fields_values={
                "subject": "100 stale opportunities to re-engage by "
                + format_date(self.env, due)
            },
        )
        self.assertMailMail(self.salesperson_2.partner_id, "outgoing", content="Bulk 0")
        # 50 listed, most valuable first; the rest in the salesperson's own
        # re-engagements, never behind a log they may not open.
        self.assertEqual(mail.body_html.count("/mail/view?model=crm.lead"), 50)
        self.assertIn("And 50 more in your re-engagements", mail.body_html)
        self.assertIn("/odoo/re-engagements", mail.body_html)
        self.assertNotIn("workflow_log_action", mail.body_html)
        # Odoo's light notification layout around it.
        self.assertIn("Powered by", mail.body_html)

    def test_summary_email_words_and_order(self):
        """Singular subject; the table by value; not sent to who ran it by
        hand, sent by the daily job."""
        self.leads.action_archive()
        small = self._opportunity("Small Deal", days=30, expected_revenue=1000)
        self._opportunity(
            "Big Deal", days=30, expected_revenue=90000, user_id=self.salesperson_2.id
        )
        self.salesperson_2.notification_type = "email"
        with self.mock_mail_gateway():
            self.Runner.with_user(self.salesperson).run(user_id=self.salesperson.id)
        self.assertFalse(self._new_mails)  # Sam ran it: Sam saw it
        self.assertTrue(self._followups(small))
        bigger = self._opportunity("Bigger Deal", days=30, expected_revenue=50000)
        bigger.user_id = self.salesperson_2
        self._set_write_date(bigger, fields.Datetime.now() - timedelta(days=30))
        with self.mock_mail_gateway():
            self._run_cron()
        mail = self._new_mails.filtered(
            lambda mail: self.salesperson_2.partner_id in mail.recipient_ids
        )
        self.assertEqual(len(mail), 1)
        self.assertTrue(mail.subject.startswith("2 stale opportunities to re-engage"))
        body = mail.body_html
        self.assertLess(body.index("Big Deal"), body.index("Bigger Deal"))
        # One re-engagement: the singular.
        lone = self._opportunity("Lone Deal", days=30, user_id=self.salesperson_2.id)
        with self.mock_mail_gateway():
            self.Runner.with_user(self.manager).run(lead_ids=lone.ids)
        self.assertTrue(
            self._new_mails.subject.startswith("1 stale opportunity to re-engage by ")
        )

    def test_odoo_default_sends_one_per_activity(self):
        """What the digest replaces: Odoo's own assignment notice, per activity."""
        with self.mock_mail_gateway():
            for lead in self.leads:
                lead.with_user(self.manager).activity_schedule(
                    "mail.mail_activity_data_call", user_id=lead.user_id.id
                )
        self.assertEqual(len(self._new_mails), 200)

    def test_digest_can_be_turned_off(self):
        form = Form(self.env["res.config.settings"].with_user(self._admin()))
        form.followup_send_digest = False
        form.save().execute()
        with self.mock_mail_gateway():
            self.Runner.with_user(self.manager).run()
        self.assertFalse(self._new_mails)


class TestPipelineMarker(FollowupCase):
    def test_stale_marker_and_filter(self):
        stale = self._opportunity("Marker Stale", days=20)
        fresh = self._opportunity("Marker Fresh", days=2)
        won = self._opportunity("Marker Won", days=20, stage_id=self.stage_won.id)
        self.assertTrue(stale.followup_is_stale)
        self.assertFalse(fresh.followup_is_stale)
        self.assertFalse(won.followup_is_stale)
        found = self.env["crm.lead"].search([("followup_is_stale", "=", True)])
        self.assertEqual(found, stale)
        not_stale = self.env["crm.lead"].search([("followup_is_stale", "=", False)])
        self.assertEqual(not_stale & (stale | fresh | won), fresh | won)

    def test_marker_hidden_once_booked_or_paused(self):
        """The marker means "the next run books it": gone once an activity is
        planned (the re-engagement or any other) or the deal is paused."""
        booked = self._opportunity("Marker Booked", days=20)
        other = self._opportunity("Marker Other Activity", days=20)
        paused = self._opportunity("Marker Paused", days=20)
        self.assertTrue((booked | other | paused).mapped("followup_is_stale"))
        self.assertEqual(booked.followup_days_stale, 20)
        self.assertEqual(
            booked.followup_stale_hint,
            "Nobody worked on it for 20 days; a re-engagement is due after 14.",
        )
        self.Runner.with_user(self.salesperson).run(lead_ids=booked.ids)
        other.with_user(self.salesperson).activity_schedule(
            "mail.mail_activity_data_todo", user_id=self.salesperson_2.id
        )
        paused.with_user(self.salesperson).followup_paused_until = (
            fields.Date.today() + timedelta(days=10)
        )
        # Pausing is no work on the deal: still quiet for 20 days.
        self._set_write_date(paused, fields.Datetime.now() - timedelta(days=20))
        (booked | other | paused).invalidate_recordset()
        self.assertEqual(
            (booked | other | paused).mapped("followup_is_stale"), [False] * 3
        )
        # The salesperson's filter agrees, colleagues' activities included.
        found = (
            self.env["crm.lead"]
            .with_user(self.salesperson)
            .search([("followup_is_stale", "=", True)])
        )
        self.assertFalse(found & (booked | other | paused))
        # Odoo's list of opportunities keeps the column, hidden by default.
        arch = self.env["crm.lead"].get_view(
            self.env.ref("crm.crm_case_tree_view_oppor").id, "list"
        )["arch"]
        self.assertIn('name="followup_is_stale" optional="hide"', arch)

    def test_history_button(self):
        lead = self._opportunity("History Button", days=20)
        self.assertEqual(lead.followup_count, 0)
        self.Runner.run()
        lead.invalidate_recordset(["followup_count"])
        self.assertEqual(lead.followup_count, 1)
        action = lead.action_open_followup_history()
        lines = self.env["workflow.log.line"].search(action["domain"])
        self.assertEqual(lines.activity_id, self._followups(lead))


class TestLanguages(FollowupCase):
    def test_french_salesperson_gets_french_note(self):
        self.env["res.lang"]._activate_lang("fr_FR")
        # French installed as Settings does: with the terms of the notes'
        # templates (Python strings are read from the .po files as needed).
        self.env["ir.module.module"]._load_module_terms(
            ["crm_opportunity_followup"], ["fr_FR"]
        )
        french = new_test_user(
            self.env, "fu_french", groups="sales_team.group_sale_salesman", lang="fr_FR"
        )
        lead = self._opportunity("Affaire", days=0, user_id=french.id)
        self._set_write_date(lead, fields.Datetime.now() - timedelta(days=20))
        when = (fields.Datetime.now() - timedelta(days=20)).date()
        self.Runner.run()
        activity = self._followups(lead)
        self.assertEqual(
            activity.summary, "Relancer : Affaire (inactive depuis 20 jours)"
        )
        # The brief, in French, with French dates.
        self.assertIn(
            "« Affaire » : aucune intervention depuis 20 jours. Dernière mise à jour "
            f"le {when.strftime('%d/%m/%Y')}.",
            activity.note,
        )
        self.assertIn(
            "Objectif : savoir si c'est toujours une priorité.", activity.note
        )

    def test_french_brief_of_a_deal_with_history(self):
        """The brief's stage line and its last completed activity are whole
        sentences of the templates, each translated as one."""
        self.env["res.lang"]._activate_lang("fr_FR")
        self.env["ir.module.module"]._load_module_terms(
            ["crm_opportunity_followup"], ["fr_FR"]
        )
        french = new_test_user(
            self.env, "fu_french", groups="sales_team.group_sale_salesman", lang="fr_FR"
        )
        lead = self._opportunity(
            "Affaire", days=0, user_id=french.id, stage_id=self.stage_proposition.id
        )
        activity = lead.activity_schedule(
            activity_type_id=self.call_type.id,
            summary="Appel tarifs",
            user_id=french.id,
        )
        activity.with_user(french).action_feedback(feedback="Attend l'accord du DAF")
        when = fields.Datetime.now() - timedelta(days=20)
        self._set_last_work(lead, when)
        self.Runner.run()
        note = self._followups(lead).note
        stage = self.stage_proposition.with_context(lang="fr_FR").name
        self.assertIn(
            f"Étape : {stage}. Objectif : régler les derniers points avant la "
            "décision.",
            note,
        )
        call = self.call_type.with_context(lang="fr_FR").name
        self.assertIn(
            f"Dernière activité réalisée : {call} le {when.strftime('%d/%m/%Y')} "
            "(Appel tarifs). Commentaire : « Attend l'accord du DAF »",
            note,
        )


class TestDigestKpi(FollowupCase):
    """Managers find the stale opportunities in Odoo's own Digest Email."""

    def test_stale_opportunities_kpi(self):
        self._opportunity("Quiet One", days=20)
        self._opportunity("Quiet Two", days=30)
        self._opportunity("Busy", days=1)
        digest = self.env.ref("digest.digest_digest_default")
        self.assertTrue(digest.kpi_crm_followup_stale)
        value = (
            digest.with_user(self.manager)
            .with_context(
                start_datetime=fields.Datetime.now() - timedelta(days=1),
                end_datetime=fields.Datetime.now(),
            )
            .kpi_crm_followup_stale_value
        )
        self.assertEqual(value, 2)
        kpis = digest._compute_kpis(self.env.company, self.manager)
        self.assertIn("kpi_crm_followup_stale", [kpi["kpi_name"] for kpi in kpis])
