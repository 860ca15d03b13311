import logging

from odoo import api, fields, models
from odoo.exceptions import ValidationError

from .followup_const import (
    ALL_LEADS_GROUP,
    CLOCK_WORK,
    CLOCKS,
    DEFAULT_ACTIVITY_TYPE,
    INT_SETTINGS,
    PARAM_PREFIX,
    STALE_DAYS_MAX,
    STALE_DAYS_MIN,
    STALE_DAYS_RANGE_MESSAGE,
)

_logger = logging.getLogger(__name__)


class ResConfigSettings(models.TransientModel):
    _inherit = "res.config.settings"

    # The integer settings are stored by set_values below, not through
    # config_parameter: Odoo deletes an integer parameter saved as 0.
    followup_stale_days = fields.Integer(
        string="Stale After (Days)",
        default=INT_SETTINGS["followup_stale_days"][1],
    )
    followup_clock = fields.Selection(
        CLOCKS,
        string="Counts as an Update",
        default=CLOCK_WORK,
        required=True,
        config_parameter=PARAM_PREFIX + "clock",
        help="What resets the stale clock. By default any work on the opportunity "
        "does: an edit, a note or message, an e-mail from or to the customer, a "
        "completed activity. The workflow document's literal rule counts edits of "
        "the record only, which books a new re-engagement right after a "
        "salesperson completed one.",
    )
    followup_activity_type_id = fields.Many2one(
        "mail.activity.type",
        string="Re-engagement Activity",
        default=lambda self: self.env.ref(
            DEFAULT_ACTIVITY_TYPE, raise_if_not_found=False
        ),
        config_parameter=PARAM_PREFIX + "activity_type_id",
        domain="[('res_model', 'in', (False, 'crm.lead'))]",
    )
    followup_default_user_id = fields.Many2one(
        "res.users",
        string="Default Re-engagement User",
        config_parameter=PARAM_PREFIX + "default_user_id",
        # Who gets anybody's opportunities must be able to open them.
        domain=lambda self: [
            ("share", "=", False),
            ("all_group_ids", "in", self.env.ref(ALL_LEADS_GROUP).ids),
        ],
        help="Gets the re-engagements of opportunities that have neither an active "
        "salesperson nor a team leader. Without one, those opportunities are "
        "skipped and the log says so.",
    )
    followup_deadline_days = fields.Integer(
        string="Due In (Days)",
        default=INT_SETTINGS["followup_deadline_days"][1],
    )
    followup_overdue_threshold = fields.Integer(
        string="Overdue Warning Above",
        default=INT_SETTINGS["followup_overdue_threshold"][1],
    )
    followup_log_retention_days = fields.Integer(
        string="Keep Logs (Days)",
        default=INT_SETTINGS["followup_log_retention_days"][1],
        help="Re-engagement logs older than this are deleted every day; 0 keeps "
        "them all. The re-engagements they scheduled are kept, with their "
        "results: the Re-engagement Effectiveness report's history is never cut.",
    )
    followup_send_digest = fields.Boolean(
        string="Re-engagement Summary Email",
        default=True,
        help="After each run, send every salesperson one email listing their new "
        "re-engagement activities (never one email per activity).",
    )
    followup_deadline_working_days = fields.Boolean(
        string="Working Days",
        default=True,
        help="Count the due days in working days of the assignee: their working "
        "hours (else the company's), public holidays and their own time off. "
        "Off: calendar days, as the workflow document says.",
    )
    followup_daily_cap = fields.Integer(
        string="Daily Cap",
        default=INT_SETTINGS["followup_daily_cap"][1],
        help="At most this many new re-engagements per salesperson and run; the "
        "others are deferred and come first next time. 0: no cap.",
    )
    followup_escalate_after_days = fields.Integer(
        string="Escalate After (Working Days)",
        default=INT_SETTINGS["followup_escalate_after_days"][1],
        help="A re-engagement still open this many of its salesperson's working "
        "days past its deadline, on an opportunity still stale, gets one "
        "escalation activity for the team leader (else the default re-engagement "
        "user). 0: never.",
    )
    followup_decide_after = fields.Integer(
        string="Re-engagements Before a Decision",
        default=INT_SETTINGS["followup_decide_after"][1],
        help="A deal re-engaged this many times in a row with no revival (no "
        "customer answer, no stage forward) gets no further re-engagement: its "
        "team leader (else the default re-engagement user) gets one Decide "
        "activity instead. 0: no limit.",
    )
    followup_revival_window_days = fields.Integer(
        string="Result Window (Days)",
        default=INT_SETTINGS["followup_revival_window_days"][1],
        help="What happens to an opportunity this many days after its "
        "re-engagement counts as the re-engagement's result (won, lost, advanced, "
        "worked or ignored); the result is provisional until then.",
    )
    # The main switch, per company (see res.company.followup_active).
    followup_active = fields.Boolean(
        related="company_id.followup_active", readonly=False
    )
    followup_run_hour = fields.Float(
        related="company_id.followup_run_hour", readonly=False
    )
    followup_auto_resolve = fields.Boolean(
        related="company_id.followup_auto_resolve", readonly=False
    )
    followup_holdout_percent = fields.Integer(
        related="company_id.followup_holdout_percent", readonly=False
    )
    followup_next_run = fields.Datetime(
        string="Next Run",
        compute="_compute_followup_next_run",
        help="When this company's daily run comes next; then every day at its "
        "time, where the company is.",
    )

    _followup_stale_days_range = models.Constraint(
        f"CHECK(followup_stale_days BETWEEN {STALE_DAYS_MIN} AND {STALE_DAYS_MAX})",
        STALE_DAYS_RANGE_MESSAGE,
    )
    _followup_deadline_days_positive = models.Constraint(
        "CHECK(followup_deadline_days >= 0)",
        "The re-engagement due days cannot be negative.",
    )
    _followup_log_retention_days_positive = models.Constraint(
        "CHECK(followup_log_retention_days >= 0)",
        "The log retention cannot be negative.",
    )
    _followup_daily_cap_positive = models.Constraint(
        "CHECK(followup_daily_cap >= 0)",
        "The daily cap cannot be negative.",
    )
    _followup_decide_after_positive = models.Constraint(
        "CHECK(followup_decide_after >= 0)",
        "The re-engagements before a decision cannot be negative.",
    )
    _followup_escalate_after_days_positive = models.Constraint(
        "CHECK(followup_escalate_after_days >= 0)",
        "The escalation delay cannot be negative.",
    )
    _followup_revival_window_days_positive = models.Constraint(
        "CHECK(followup_revival_window_days >= 1)",
        "The result window must be at least one day.",
    )
    _followup_overdue_threshold_positive = models.Constraint(
        "CHECK(followup_overdue_threshold >= 0)",
        "The overdue warning threshold cannot be negative.",
    )

    @api.model_create_multi
    def create(self, vals_list):
        # Before the insert: the database's checks would refuse it too, but
        # with an ERROR and the query in the server log for a mere typo.
        for vals in vals_list:
            self._followup_check_ranges(vals)
        return super().create(vals_list)

    def write(self, vals):
        self._followup_check_ranges(vals)
        return super().write(vals)

    @api.model
    def _followup_check_ranges(self, vals):
        """Refuse an integer setting out of its range, naming the range."""
        for name, (_key, _default, minimum, maximum) in INT_SETTINGS.items():
            value = vals.get(name)
            if value is None or minimum <= (value or 0) <= maximum:
                continue
            raise ValidationError(
                self.env._(
                    "%(setting)s must be between %(min)s and %(max)s.",
                    setting=self._fields[name]._description_string(self.env),
                    min=minimum,
                    max=maximum,
                )
            )

    @api.model
    def _followup_settings(self):
        """The follow-up's configured values, with the workflow document's
        defaults, for whoever runs it.

        A malformed value (set by hand in the system parameters) falls back to
        its default with a warning in the server log, never a crash.
        """
        # Settings are system parameters, readable by administrators only; every
        # user allowed to run the workflow must still read its configuration.
        icp = self.env["ir.config_parameter"].sudo()

        def get(key):
            return icp.get_param(PARAM_PREFIX + key)

        def invalid(key, value):
            _logger.warning("Ignoring invalid setting %s=%r", PARAM_PREFIX + key, value)

        settings = {}
        for key, default, minimum, maximum in INT_SETTINGS.values():
            value = get(key)
            try:
                number = int(value) if value not in (None, False, "") else default
            except ValueError:
                invalid(key, value)
                number = default
            if not minimum <= number <= maximum:
                invalid(key, value)
                number = default
            settings[key] = number
        activity_type = self._followup_setting_record(
            "mail.activity.type", get("activity_type_id")
        )
        default_user = self._followup_setting_record(
            "res.users", get("default_user_id")
        )
        clock = get("clock") or CLOCK_WORK
        if clock not in dict(CLOCKS):
            invalid("clock", clock)
            clock = CLOCK_WORK
        return {
            **settings,
            "activity_type_id": (
                activity_type or self.env.ref(DEFAULT_ACTIVITY_TYPE)
            ).id,
            "default_user_id": default_user.id or 0,
            "clock": clock,
            # Stored inverted: Odoo deletes a system parameter set to False.
            "send_digest": not get("digest_disabled"),
            "working_days": not get("calendar_days"),
        }

    @api.model
    def _followup_setting_record(self, model, value):
        try:
            record_id = int(value or 0)
        except ValueError:
            return self.env[model]
        # The setting is the administrator's choice, not the running user's.
        return self.env[model].sudo().browse(record_id).exists().sudo(False)

    @api.model
    def get_values(self):
        res = super().get_values()
        settings = self._followup_settings()
        for name, (key, *_bounds) in INT_SETTINGS.items():
            res[name] = settings[key]
        res["followup_send_digest"] = settings["send_digest"]
        res["followup_deadline_working_days"] = settings["working_days"]
        return res

    def set_values(self):
        res = super().set_values()
        icp = self.env["ir.config_parameter"].sudo()
        for name, (key, *_bounds) in INT_SETTINGS.items():
            # As text, so that 0 is kept (see the fields above).
            icp.set_param(PARAM_PREFIX + key, str(self[name]))
        # Stored inverted: Odoo deletes a system parameter set to False.
        icp.set_param(PARAM_PREFIX + "digest_disabled", not self.followup_send_digest)
        icp.set_param(
            PARAM_PREFIX + "calendar_days", not self.followup_deadline_working_days
        )
        self._followup_set_cron()
        return res

    def _followup_cron(self):
        # The cron is a technical record, switched on and off from here.
        cron = self.env.ref(
            "crm_opportunity_followup.ir_cron_opportunity_followup",
            raise_if_not_found=False,
        )
        return (cron or self.env["ir.cron"]).sudo()

    @api.depends("followup_active", "followup_run_hour")
    def _compute_followup_next_run(self):
        cron = self._followup_cron()
        now = fields.Datetime.now()
        for settings in self:
            # No time yet for an hour out of the day: saving refuses it.
            if not settings.followup_active or not (
                0 <= settings.followup_run_hour < 24
            ):
                settings.followup_next_run = False
                continue
            # The time in the form, saved or not.
            due = settings.company_id._followup_next_run(
                now, settings.followup_run_hour
            )
            # A time already come is the job's next call.
            if due <= now and cron.active and cron.nextcall:
                due = max(cron.nextcall, now)
            settings.followup_next_run = due

    def _followup_set_cron(self):
        """The job runs every hour while any company is switched on; each
        company's run comes at its own time (see res.company)."""
        cron = self._followup_cron()
        if not cron:
            return
        active = bool(
            self.env["res.company"]
            .sudo()
            .search_count([("followup_active", "=", True)], limit=1)
        )
        if cron.active != active:
            cron.active = active

    def action_run_followup(self):
        """The *Run follow-up* button: save the settings, then run with them."""
        return self._followup_after_save(dry_run=False)

    def action_preview_followup(self):
        """The *Preview* button: save the settings, then show what a run would
        schedule."""
        return self._followup_after_save(dry_run=True)

    def _followup_after_save(self, dry_run):
        saved = self.execute()
        result = self.env["opportunity.followup.runner"].run(
            trigger="settings_button", dry_run=dry_run
        )
        log = self.env["workflow.log"].browse(result["log_id"])
        action = log._action_preview() if dry_run else log._action_notify()
        if action.get("tag") != "display_notification" or not isinstance(saved, dict):
            return action
        # What saving asks the web client to do comes after the run's
        # notification. Its plain "reload" would reload the page and drop the
        # notification at once: reload the settings view instead.
        if saved.get("tag") == "reload":
            saved = {"type": "ir.actions.client", "tag": "soft_reload"}
        action["params"]["next"] = saved
        return action
