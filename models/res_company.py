from datetime import datetime, time, timedelta
from functools import lru_cache

import pytz

from odoo import api, fields, models
from odoo.exceptions import ValidationError

from .followup_const import (
    FOLLOWUP_RUN_HOUR,
    HOLDOUT_PERCENT_MAX,
    HOLDOUT_PERCENT_MESSAGE,
)


@lru_cache(maxsize=1024)
def _local_day(tz_name, now):
    """The day it is at ``now`` (naive UTC) in ``tz_name``: a run asks it of
    each opportunity, for a few companies and moments."""
    return pytz.utc.localize(now).astimezone(pytz.timezone(tz_name)).date()


class ResCompany(models.Model):
    _inherit = "res.company"

    # Where its days are counted: read for each opportunity of a run, so
    # computed once and kept until its calendar or address changes.
    followup_tz_name = fields.Char(
        string="Re-engagement Timezone", compute="_compute_followup_tz_name"
    )

    # Off at install, as Odoo ships its own Lead Assignment job: on a database
    # with history, nobody should wake up to a pile of calls that no one
    # previewed. The daily job runs the companies switched on; run() called
    # directly (buttons, list, API, chat) works whatever this says.
    followup_active = fields.Boolean(
        string="Daily Re-engagement",
        default=False,
        help="Every day, find this company's stale opportunities and schedule a "
        "re-engagement activity for their salesperson.",
    )
    # Each company its own morning: the job runs every hour and opens a
    # company's run once its hour has come where it is.
    followup_run_hour = fields.Float(
        string="Daily Re-engagement At",
        default=FOLLOWUP_RUN_HOUR,
        help="The time of this company's daily run, in its timezone (its working "
        "hours'); the scheduled action checks every hour.",
    )

    # On by default: a reminder to chase a deal that came back to life by
    # other means is noise on the salesperson's list.
    followup_auto_resolve = fields.Boolean(
        string="Close Revived Re-engagements",
        default=True,
        help="An open re-engagement (and its escalation) is marked done by itself "
        "when the deal comes back to life: the customer writes (on the deal or "
        "its quotation), a quotation is sent or confirmed, the stage moves "
        "forward, or the deal is won or lost.",
    )

    # Measure the lift: per company, as its pipeline and its daily run are.
    followup_holdout_percent = fields.Integer(
        string="Measure the Lift (%)",
        default=0,
        help="Each run leaves this share of the eligible opportunities, drawn at "
        "random, without a re-engagement, and logs them as held out: the "
        "Re-engagement Effectiveness report compares what became of them with "
        "the re-engaged ones (the lift). A held-out deal is left alone for the "
        "result window, never held out twice in a row; the deals a manager "
        f"picks by hand never are. 0: off; at most {HOLDOUT_PERCENT_MAX} %.",
    )

    _followup_holdout_percent_range = models.Constraint(
        f"CHECK(followup_holdout_percent BETWEEN 0 AND {HOLDOUT_PERCENT_MAX})",
        HOLDOUT_PERCENT_MESSAGE,
    )
    _followup_run_hour_range = models.Constraint(
        "CHECK(followup_run_hour >= 0 AND followup_run_hour < 24)",
        "The daily re-engagement runs at a time of the day, from 00:00 to 23:59.",
    )

    @api.constrains("followup_run_hour")
    def _check_followup_run_hour(self):
        # Before the database's check, which would log an ERROR with the
        # query for a typo in the settings.
        if any(not 0 <= company.followup_run_hour < 24 for company in self):
            raise ValidationError(
                self.env._(
                    "The daily re-engagement runs at a time of the day, from "
                    "00:00 to 23:59."
                )
            )

    def _followup_run_moment(self, day, hour=None):
        """When this company's run is due on ``day`` (its local day), at its
        time or ``hour``, as a timezone-aware moment."""
        self.ensure_one()
        tz = self._followup_tz()
        minutes = round((self.followup_run_hour if hour is None else hour) * 60)
        return tz.localize(datetime.combine(day, time(minutes // 60, minutes % 60)))

    def _followup_last_daily_starts(self, now):
        """``{company: start}`` of each company's latest daily run of the last
        two days (naive UTC): enough to know whether it ran today anywhere."""
        # The logs are the runner's own records, read for the scheduler.
        return dict(
            self.env["workflow.log"]
            .sudo()
            ._read_group(
                [
                    ("trigger", "=", "cron"),
                    ("company_id", "in", self.ids),
                    ("date_start", ">", now - timedelta(days=2)),
                ],
                ["company_id"],
                ["date_start:max"],
            )
        )

    def _followup_latest_moment(self, now, hour=None):
        """This company's latest run moment at or before ``now`` (naive UTC),
        at its time or ``hour``: today's if it has come where the company is,
        else yesterday's (timezone-aware)."""
        self.ensure_one()
        local_now = pytz.utc.localize(now).astimezone(self._followup_tz())
        moment = self._followup_run_moment(local_now.date(), hour)
        if moment > local_now:
            moment = self._followup_run_moment(
                local_now.date() - timedelta(days=1), hour
            )
        return moment

    def _followup_due(self, now):
        """The companies of ``self`` whose daily run is due at ``now`` (naive
        UTC): no daily run of theirs started since their latest run moment.
        A run moment the job's calls missed (a time after its last call of the
        day, a late scheduler) is caught up at the next call, never lost; a
        company that has not run lately waits for today's time."""
        last_starts = self._followup_last_daily_starts(now)
        due = self.browse()
        for company in self:
            latest = company._followup_latest_moment(now)
            last = last_starts.get(company)
            if last is None:
                if latest.date() == company._followup_today(now):
                    due |= company
            elif pytz.utc.localize(last) < latest:
                due |= company
        return due

    def _followup_next_run(self, now, hour=None):
        """When this company's next daily run is due (naive UTC), at its time
        or ``hour``; ``now`` when it is due already (see
        :meth:`_followup_due`)."""
        self.ensure_one()
        latest = self._followup_latest_moment(now, hour)
        last = self._followup_last_daily_starts(now).get(self)
        if last is None:
            handled = latest.date() != self._followup_today(now)
        else:
            handled = pytz.utc.localize(last) >= latest
        if not handled:
            return now
        moment = self._followup_run_moment(latest.date() + timedelta(days=1), hour)
        return moment.astimezone(pytz.utc).replace(tzinfo=None)

    @api.depends("resource_calendar_id.tz", "partner_id.tz")
    def _compute_followup_tz_name(self):
        for company in self:
            company.followup_tz_name = (
                company.resource_calendar_id.tz or company.partner_id.tz or "UTC"
            )

    def _followup_tz(self):
        """The timezone the company's days are counted in."""
        self.ensure_one()
        return pytz.timezone(self.followup_tz_name)

    def _followup_today(self, now):
        """The day it is at ``now`` (naive UTC) where the company is."""
        self.ensure_one()
        return _local_day(self.followup_tz_name, now)

    @api.model
    def _followup_migrate_switch(self):
        """Upgrading from 19.0.1.1.0, where the daily job ran for every company
        once installed: a job that was running stays on, for every company."""
        cron = self.env.ref(
            "crm_opportunity_followup.ir_cron_opportunity_followup",
            raise_if_not_found=False,
        )
        if cron and cron.active:
            self.with_context(active_test=False).search(
                [("followup_active", "=", False)]
            ).followup_active = True
