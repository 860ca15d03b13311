import contextvars
import logging
from collections import defaultdict

import psycopg2.errors

from odoo import api, fields, models

from .followup_const import error_text

_logger = logging.getLogger(__name__)

# The kinds of activity the follow-up books, each at most once open per record.
FOLLOWUP_FLAGS = ("is_followup", "is_followup_escalation", "is_followup_decision")
# Their unique indexes (below), as PostgreSQL names them.
UNIQUE_INDEXES = (
    "mail_activity_followup_open_unique",
    "mail_activity_followup_escalation_open_unique",
    "mail_activity_followup_decision_open_unique",
)

# Set while a run inserts a batch of activities that a concurrent run may have
# booked first (see _ConcurrentBookingFilter).
_booking = contextvars.ContextVar("followup_booking", default=False)


class _ConcurrentBookingFilter(logging.Filter):
    """Keeps ``odoo.sql_db``'s "bad query" ERROR out of the log for the one
    expected race: this thread's insert of a re-engagement (or escalation)
    that a concurrent run booked a moment before, which a unique index refuses
    and the run logs as skipped. Only in the thread doing it, only for those
    indexes: every other error, and every other thread's, is logged as
    usual."""

    def filter(self, record):
        if not _booking.get():
            return True
        error = record.args[-1] if isinstance(record.args, tuple) else None
        return not (
            isinstance(error, psycopg2.errors.UniqueViolation)
            and error.diag.constraint_name in UNIQUE_INDEXES
        )


if not any(
    isinstance(f, _ConcurrentBookingFilter)
    for f in logging.getLogger("odoo.sql_db").filters
):
    logging.getLogger("odoo.sql_db").addFilter(_ConcurrentBookingFilter())


class MailActivity(models.Model):
    _inherit = "mail.activity"

    is_followup = fields.Boolean(
        string="Re-engagement Activity",
        readonly=True,
        copy=False,
        help="Scheduled for a stale opportunity.",
    )
    is_followup_escalation = fields.Boolean(
        string="Re-engagement Escalation",
        readonly=True,
        copy=False,
        help="Scheduled for the team leader when a re-engagement "
        "was left undone past its deadline.",
    )
    is_followup_decision = fields.Boolean(
        string="Re-engagement Decision",
        readonly=True,
        copy=False,
        help="Scheduled for the team leader when an opportunity was re-engaged "
        "in vain as many times as the settings allow: revive it, pause it or "
        "mark it lost.",
    )
    followup_escalated = fields.Boolean(
        string="Re-engagement Escalated",
        readonly=True,
        copy=False,
        help="This re-engagement was escalated to the team leader once; it is "
        "never escalated again, whatever the leader did with the escalation.",
    )

    # Odoo shows these as *Preview* / *Send Now* on the activity: a
    # re-engagement offers the email to the customer besides its type's.
    mail_template_ids = fields.Many2many(
        "mail.template",
        related=False,
        compute="_compute_mail_template_ids",
        # As the related field it replaces: the type's templates, readable or not.
        compute_sudo=True,
    )

    # The database, not the Python filter, is what guarantees that two runs
    # racing each other (cron + button, two workers) never book the same
    # opportunity twice: the second insert waits for the first transaction and
    # then fails on this index, and the runner logs that opportunity as skipped.
    # Whoever moves activities between records (crm's merge does) goes through
    # write(), which keeps this contract (see _followup_drop_duplicates).
    _followup_open_unique = models.UniqueIndex(
        "(res_model, res_id) WHERE is_followup IS TRUE AND active IS TRUE",
        "This opportunity already has an open re-engagement activity.",
    )
    # The same contract for escalations: one open escalation per opportunity.
    _followup_escalation_open_unique = models.UniqueIndex(
        "(res_model, res_id) WHERE is_followup_escalation IS TRUE AND active IS TRUE",
        "This opportunity already has an open re-engagement escalation.",
    )

    # And for decisions: one open Decide per opportunity.
    _followup_decision_open_unique = models.UniqueIndex(
        "(res_model, res_id) WHERE is_followup_decision IS TRUE AND active IS TRUE",
        "This opportunity already has an open re-engagement decision.",
    )

    @api.depends("activity_type_id.mail_template_ids", "is_followup")
    def _compute_mail_template_ids(self):
        followups = self.filtered(
            lambda act: act.is_followup and act.res_model == "crm.lead"
        )
        # Only to a customer it can reach (see crm.lead.activity_send_mail).
        leads = (
            self.env["crm.lead"]
            .browse(followups.mapped("res_id"))
            .exists()
            .filtered("email_from")
        )
        customer_templates = leads._followup_customer_templates()
        # Its email went out already (Preview, then Send): not offered twice.
        # Sudo: the lines are the runner's record, read for the button only.
        sent = set(
            self.env["workflow.log.line"]
            .sudo()
            .search(
                [
                    # lead_id first: activity_ref has no index.
                    ("lead_id", "in", leads.ids),
                    ("activity_ref", "in", followups.ids),
                    ("email_date", "!=", False),
                ]
            )
            .mapped("activity_ref")
        )
        for activity in self:
            templates = activity.activity_type_id.mail_template_ids
            is_lead_followup = activity.is_followup and activity.res_model == "crm.lead"
            if (
                is_lead_followup
                and activity.res_id in customer_templates
                and activity.id not in sent
            ):
                # The email to the customer first, then the type's.
                templates = customer_templates[activity.res_id] | templates
            activity.mail_template_ids = templates

    def _to_store_defaults(self, target):
        # The activity's Send Now asks before it sends and completes a
        # re-engagement (static/src/activity_mail_template_patch.js).
        return [*super()._to_store_defaults(target), "is_followup"]

    # ------------------------------------------------------------
    # What is open on opportunities, and booking
    # ------------------------------------------------------------

    @api.model
    def _followup_done_by_email(self, leads, template):
        """*Send Now* of the email a re-engagement offers is the
        re-engagement done: complete the open ones of ``leads`` that offer
        ``template``, with the sender's rights, the feedback saying so.

        :return: the re-engagements completed
        """
        offered = leads._followup_customer_templates()
        followups = self.search(
            [
                ("res_model", "=", leads._name),
                ("res_id", "in", leads.ids),
                ("is_followup", "=", True),
            ]
        ).filtered(lambda act: offered.get(act.res_id) == template)
        if followups:
            followups.action_feedback(feedback=self.env._("Email sent"))
        return followups

    @api.model
    def _followup_open_followups(self, leads):
        """The open re-engagements and escalations on ``leads``, readable or
        not (sudo: the escalation rule weighs colleagues' ones)."""
        return self.sudo().search_fetch(
            [
                ("res_model", "=", leads._name),
                ("res_id", "in", leads.ids),
                "|",
                ("is_followup", "=", True),
                ("is_followup_escalation", "=", True),
            ],
            [
                "res_id",
                "user_id",
                "date_deadline",
                "is_followup_escalation",
                "followup_escalated",
            ],
        )

    @api.model
    def _followup_book(self, vals_list, line_vals):
        """Create a run's activities in one batch and note each on its log
        line (``vals_list`` and ``line_vals`` go in pairs). If the batch
        fails, one by one, so that a bad opportunity only spoils its own line.
        One that a concurrent run booked first (the unique indexes refuse it)
        is logged as skipped; any other error, on its line."""
        # The assignment e-mail of each activity is not sent: a run may book
        # hundreds of them.
        Activity = self.with_context(mail_activity_quick_update=True)
        # Odoo names each new activity after its record (``res_name``, sudo)
        # once it is inserted, record by record, and updates it: name them
        # in their values instead, the records' names read together.
        res_ids = defaultdict(list)
        for vals in vals_list:
            res_ids[vals["res_model_id"]].append(vals["res_id"])
        names = {}
        for model_id, ids in res_ids.items():
            # Sudo: as Odoo's create reads them (res_name is computed sudo).
            model = self.env["ir.model"].sudo().browse(model_id).model
            for record in self.env[model].sudo().browse(ids):
                names[model_id, record.id] = record.display_name
        vals_list = [
            dict(vals, res_name=names[vals["res_model_id"], vals["res_id"]])
            for vals in vals_list
        ]
        token = _booking.set(True)
        try:
            try:
                with self.env.cr.savepoint():
                    activities = Activity.create(vals_list)
            except psycopg2.errors.TransactionRollbackError:
                raise
            except Exception:  # retried one by one below
                activities = None
            if activities is not None:
                for line, activity in zip(line_vals, activities, strict=True):
                    line["activity_ref"] = activity.id
                return
            for vals, line in zip(vals_list, line_vals, strict=True):
                try:
                    with self.env.cr.savepoint():
                        line["activity_ref"] = Activity.create(vals).id
                except psycopg2.errors.TransactionRollbackError:
                    raise
                except psycopg2.errors.UniqueViolation as exc:
                    if exc.diag.constraint_name not in UNIQUE_INDEXES:
                        line.update(outcome="error", reason=error_text(exc))
                        continue
                    # Another run booked it between our decision and our insert.
                    _logger.info(
                        "Opportunity %s was booked meanwhile by a concurrent run",
                        vals["res_id"],
                    )
                    line.update(
                        outcome="skipped_pending",
                        reason=self.env._("Escalated meanwhile by a concurrent run.")
                        if vals.get("is_followup_escalation")
                        else self.env._("Decision asked meanwhile by a concurrent run.")
                        if vals.get("is_followup_decision")
                        else self.env._("Scheduled meanwhile by a concurrent run."),
                        note=False,
                        assignee_id=False,
                        warning=False,
                    )
                except Exception as exc:  # logged on its line
                    line.update(outcome="error", reason=error_text(exc))
        finally:
            _booking.reset(token)

    # ------------------------------------------------------------
    # CRUD
    # ------------------------------------------------------------

    def _action_done(self, feedback=False, attachment_ids=None):
        followups = self.filtered(
            lambda act: act.is_followup and act.res_model == "crm.lead"
        )
        result = super()._action_done(feedback=feedback, attachment_ids=attachment_ids)
        # The manager's figures count it at once, not at tomorrow's refresh.
        if followups:
            self.env["workflow.log.line"]._followup_refresh_revival_of(followups)
        return result

    def write(self, vals):
        if {"res_id", "res_model_id", "res_model", "active"} & vals.keys():
            # Before anything is deleted: the duplicates go with sudo(), which
            # must never act for someone who may not move these activities.
            self.check_access("write")
            self -= self._followup_drop_duplicates(vals)
        return super().write(vals)

    def _followup_drop_duplicates(self, vals):
        """Open re-engagements (or escalations) that ``vals`` would put on a
        record that already has one (merging two stale duplicates moves both
        onto the kept one): delete all but one of each kind per record, before
        the move, and return them.

        The one kept is the open one already on the record, else the one due
        first. A re-engagement is the addon's own reminder to call, an
        escalation its reminder to the leader; two of them on one opportunity
        are one task shown twice.
        """
        if vals.get("active") is False:
            return self.browse()
        redundant = self.browse()
        for flag in FOLLOWUP_FLAGS:
            redundant |= (self - redundant)._followup_drop_duplicates_of(flag, vals)
        return redundant

    def _followup_drop_duplicates_of(self, flag, vals):
        moving = self.with_context(active_test=False).filtered(
            lambda act: act[flag] and (act.active or vals.get("active"))
        )
        if not moving:
            return self.browse()
        model_id = vals.get("res_model_id")
        res_model = (
            self.env["ir.model"].browse(model_id).model
            if model_id
            else vals.get("res_model")
        )
        targets = defaultdict(lambda: self.browse())
        for activity in moving:
            target = (
                res_model or activity.res_model,
                vals.get("res_id", activity.res_id),
            )
            targets[target] |= activity
        # Colleagues' activities count too, readable or not.
        existing = self.sudo().search(
            [
                (flag, "=", True),
                ("res_model", "in", list({model for model, _res_id in targets})),
                ("res_id", "in", list({res_id for _model, res_id in targets})),
                ("id", "not in", moving.ids),
            ]
        )
        for activity in existing:
            key = (activity.res_model, activity.res_id)
            if key in targets:
                targets[key] = activity.sudo(False) | targets[key]
        redundant = self.browse()
        for activities in targets.values():
            kept = (activities - moving)[:1] or min(
                activities, key=lambda act: (act.date_deadline, act.id)
            )
            redundant |= activities - kept
        # Deleting a colleague's reminder is the merge's consequence, not a
        # right the merging user needs on every activity.
        redundant.sudo().unlink()
        return redundant
