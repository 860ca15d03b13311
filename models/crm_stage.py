import logging
import re

from markupsafe import Markup, escape

from odoo import api, fields, models
from odoo.exceptions import ValidationError

from .followup_const import STALE_DAYS_MAX, STALE_DAYS_MIN, STALE_DAYS_RANGE_MESSAGE

_logger = logging.getLogger(__name__)

# The placeholders that version 19.0.1.0.0 documented for its inline wording,
# and what stands for them now.
LEGACY_PLACEHOLDERS = {
    "days": "object.followup_days_stale",
    "salesperson.name": "object.user_id.name",
}
INLINE_EXPRESSION = re.compile(r"\{\{(.+?)\}\}")


class CrmStage(models.Model):
    _inherit = "crm.stage"

    followup_stale_days = fields.Integer(
        string="Stale After (Days)",
        help="Days without work before an opportunity in this stage is stale; "
        "empty: the re-engagement settings' number. A run given an explicit number "
        "of days (API, chat, code) uses that number in every stage.",
    )
    followup_template_id = fields.Many2one(
        "mail.template",
        string="Re-engagement Email",
        domain="[('model', '=', 'crm.lead')]",
        ondelete="set null",
        help="The email to the customer that a re-engagement in this stage "
        "offers to preview or send, in the customer's language; empty: the "
        "default Re-engagement Email. Besides Odoo's usual placeholders, "
        "object.followup_days_stale gives the days since somebody last worked on "
        "the opportunity and object.followup_customer_subject the subject of the "
        "customer's latest email.",
    )

    _followup_stale_days_range = models.Constraint(
        f"CHECK(followup_stale_days IS NULL OR followup_stale_days = 0 OR "
        f"followup_stale_days BETWEEN {STALE_DAYS_MIN} AND {STALE_DAYS_MAX})",
        STALE_DAYS_RANGE_MESSAGE,
    )

    @api.constrains("followup_template_id")
    def _check_followup_template_model(self):
        # The domain of the field is the web client's; the runner renders
        # this template on opportunity ids, so one of another model (a user's
        # password reset, say) would render another record's data.
        for stage in self.sudo():
            template = stage.followup_template_id
            if template and template.model != "crm.lead":
                raise ValidationError(
                    self.env._(
                        "The re-engagement email of stage %(stage)s must be an "
                        "email template on opportunities (Lead/Opportunity); "
                        "%(template)s is on %(model)s.",
                        stage=stage.name,
                        template=template.name,
                        model=template.model,
                    )
                )

    def _followup_template_from_text(self, texts):
        """Turn the inline wording of version 19.0.1.0.0 (``{lang: text}``)
        into this stage's e-mail template (see the 19.0.1.1.0 migration).

        That text was written by whoever could edit stages; it becomes a trusted
        template only when every placeholder is one Odoo lets anybody use, so
        the upgrade gives nobody more rights than Odoo's template rules.

        :return: the template, or None when the text was left out (logged)
        """
        self.ensure_one()
        allowed = set(self.env["crm.lead"].mail_allowed_qweb_expressions())
        bodies = {}
        for lang, text in texts.items():
            parts = INLINE_EXPRESSION.split(text or "")
            body = Markup()
            for index, part in enumerate(parts):
                if index % 2 == 0:
                    body += escape(part)
                    continue
                expression = LEGACY_PLACEHOLDERS.get(part.strip(), part.strip())
                if expression not in allowed:
                    _logger.warning(
                        "Stage %s: its re-engagement wording uses %r, which only "
                        "template editors may write; not converted, the default "
                        "wording applies. Recreate it as an e-mail template.",
                        self.display_name,
                        part.strip(),
                    )
                    return None
                body += Markup('<t t-out="%s"/>') % expression
            bodies[lang] = Markup("<p>%s</p>") % body
        if not bodies:
            return None
        source = bodies.pop("en_US", None) or next(iter(bodies.values()))
        template = self.env["mail.template"].create(
            {
                "name": self.env._("Re-engagement wording: %(stage)s", stage=self.name),
                "model_id": self.env["ir.model"]._get_id("crm.lead"),
                "body_html": source,
            }
        )
        if bodies:
            template.update_field_translations("body_html", bodies)
        self.followup_template_id = template
        return template

    @api.model
    def _followup_migrate_detach_wordings(self):
        """The 19.0.1.3.0 upgrade: a stage's template was wording pasted into
        the salesperson's note, written for them (the internal opportunity
        name, the days without work); it is now the email offered to the
        customer. None becomes one unseen: each is detached from its stage,
        kept, and named in the log for an administrator to review.

        :return: the stages detached
        """
        stages = self.search([("followup_template_id", "!=", False)])
        for stage in stages:
            _logger.warning(
                "Stage %s: its re-engagement wording %r was for the salesperson's "
                "note; stages now offer an email to the customer. Detached (the "
                "template is kept): review it and set it again as the stage's "
                "Re-engagement Email if it suits customers.",
                stage.display_name,
                stage.followup_template_id.display_name,
            )
        stages.followup_template_id = False
        return stages

    @api.model
    def _followup_migrate_inline_wording(self):
        """The 19.0.1.1.0 upgrade: each stage's inline wording becomes its
        e-mail template, then the old column goes."""
        cr = self.env.cr
        cr.execute(
            "SELECT 1 FROM information_schema.columns "
            "WHERE table_name = 'crm_stage' AND column_name = 'followup_template'"
        )
        if not cr.fetchone():
            return
        cr.execute(
            "SELECT id, followup_template FROM crm_stage "
            "WHERE followup_template IS NOT NULL"
        )
        for stage_id, texts in cr.fetchall():
            stage = self.browse(stage_id)
            if stage._followup_template_from_text(texts) is None:
                # The column goes: what its author wrote must not go with it.
                stage._followup_keep_wording(texts)
        cr.execute("ALTER TABLE crm_stage DROP COLUMN followup_template")

    def _followup_keep_wording(self, texts):
        """Keep an inline wording the upgrade could not convert, word for
        word: an archived e-mail template, set on no stage, whose body is
        the text itself (its expressions as plain text, never rendered), for
        an administrator to review and rewrite.

        :return: the template, or None when there was no text
        """
        self.ensure_one()
        bodies = {
            lang: Markup("<p>%s</p>") % text for lang, text in texts.items() if text
        }
        if not bodies:
            return None
        source = bodies.pop("en_US", None) or next(iter(bodies.values()))
        template = self.env["mail.template"].create(
            {
                "name": self.env._(
                    "Re-engagement wording (not converted): %(stage)s",
                    stage=self.name,
                ),
                "model_id": self.env["ir.model"]._get_id("crm.lead"),
                "body_html": source,
                "active": False,
            }
        )
        if bodies:
            template.update_field_translations("body_html", bodies)
        _logger.warning(
            "Stage %s: its re-engagement wording is kept, as plain text, in the "
            "archived e-mail template %r (id %s).",
            self.display_name,
            template.name,
            template.id,
        )
        return template

    @api.model
    def _followup_days(self):
        """``{stage id: days}`` of the stages with their own stale threshold."""
        return {
            stage.id: stage.followup_stale_days
            for stage in self.search([("followup_stale_days", ">", 0)])
        }

    @api.model
    def _followup_tones(self, teams):
        """Map each (team id, open stage id) to an early / middle / late tone
        by the stage's position in that team's pipeline: the stages of every
        team and its own, as crm shows them (team id False: no team)."""
        # One query: the open stages in crm's order, a row per stage and team.
        stage_teams = {}
        for _sequence, _name, stage, team in self._read_group(
            [("is_won", "=", False)],
            ["sequence", "name", "id", "team_ids"],
            order="sequence, name, id",
        ):
            stage_teams.setdefault(stage.id, set()).update(team.ids)
        tones = {}
        for team_id in {False, *teams.ids}:
            pipeline = [
                stage_id
                for stage_id, team_ids in stage_teams.items()
                if not team_ids or team_id in team_ids
            ]
            last = len(pipeline) - 1
            for index, stage_id in enumerate(pipeline):
                tones[team_id, stage_id] = (
                    "early" if index == 0 else "late" if index == last else "middle"
                )
        return tones
