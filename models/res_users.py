from datetime import datetime, time, timedelta

import pytz

from odoo import models
from odoo.tools import format_date

# How far ahead working days are looked for: past that, an assignee away for
# longer gets calendar days and a warning.
HORIZON_DAYS = 90


class ResUsers(models.Model):
    _inherit = "res.users"

    def _followup_deadline(self, today, days):
        """When a re-engagement given to this assignee on ``today`` (the
        opportunity's company's day) is due: ``days`` working days later, on
        their working hours (else their company's), in their timezone,
        skipping public holidays and their own time off. An assignee away for
        all of those days gets their first working day back, with a warning.

        :return: ``(date, warning or None)``
        """
        self.ensure_one()
        return self._followup_calendar(today, today, days).deadline(today, days)

    def _followup_overdue_counts(self, today, threshold):
        """``{user id: overdue activities}`` of these users with more than
        ``threshold`` activities overdue on ``today``."""
        # Colleagues' activities count too, readable or not.
        groups = (
            self.env["mail.activity"]
            .sudo()
            ._read_group(
                [("user_id", "in", self.ids), ("date_deadline", "<", today)],
                ["user_id"],
                ["__count"],
            )
        )
        return {user.id: count for user, count in groups if count > threshold}

    def _followup_calendar(self, first, last, days):
        """This user's working days, read once for every deadline of
        ``days`` working days counted from a day between ``first`` and
        ``last`` (see :class:`FollowupWorkingDays`); ``cover()`` reads more."""
        self.ensure_one()
        return FollowupWorkingDays(self, first, last, days)


class FollowupWorkingDays:
    """A user's working days and their company's, read from their calendar
    for a span of days, so that many deadlines of one user cost one read.

    A user without a calendar counts calendar days.
    """

    def __init__(self, user, first, last, days):
        self.user = user
        company = user.company_id
        self.calendar = user.resource_calendar_id or company.resource_calendar_id
        self.tz = pytz.timezone(
            user.tz or (self.calendar and self.calendar.tz) or "UTC"
        )
        self.resource = user.resource_ids.filtered(lambda r: r.company_id == company)[
            :1
        ]
        self.start = self.end = None
        self.own, self.company = [], []
        self.cover(first, last, days)

    def cover(self, first, last, days):
        """Have the working days that deadlines ``days`` working days after
        ``first`` to ``last`` need, reading only what is missing. Two weeks
        and more are read only when the first ones are not enough: planning
        the calendar's days costs more the further it looks."""
        if self.calendar and days > 0:
            self._read(first + timedelta(days=1), last + timedelta(days=days * 2 + 15))
        return self

    def _read(self, start, end):
        """Read the working days from ``start`` to before ``end``, with those
        read already."""
        if self.start is not None and self.start <= start and end <= self.end:
            return
        if self.start is not None:
            start, end = min(start, self.start), max(end, self.end)
        begin = self.tz.localize(datetime.combine(start, time.min))
        # Sudo: the user's time off is read to plan around it, not shown.
        intervals = self.calendar.sudo()._work_intervals_batch(
            begin,
            begin + timedelta(days=(end - start).days),
            resources=self.resource.sudo(),
            tz=self.tz,
        )
        self.start, self.end = start, end
        self.own = sorted({b.date() for b, _e, _m in intervals[self.resource.id]})
        self.company = sorted({b.date() for b, _e, _m in intervals[False]})

    def _own_days(self, today, horizon_days):
        end = today + timedelta(days=horizon_days + 1)
        self._read(today + timedelta(days=1), end)
        return [day for day in self.own if today < day < end]

    def deadline(self, today, days):
        """``days`` working days of the user after ``today``: ``(date,
        warning or None)``."""
        if not self.calendar or days <= 0:
            return today + timedelta(days=days), None
        own_days = self._own_days(today, days * 2 + 14)
        if len(own_days) < days:
            own_days = self._own_days(today, HORIZON_DAYS)
        user, env = self.user, self.user.env
        if len(own_days) < days:
            return today + timedelta(days=days), env._(
                "%(user)s has no working day in the next %(horizon)s days: due in "
                "%(days)s calendar days.",
                user=user.name,
                horizon=HORIZON_DAYS,
                days=days,
            )
        horizon = [day for day in self.company if day > today][:days]
        if horizon and not set(horizon) & set(own_days):
            return own_days[0], env._(
                "%(user)s is away: due on their first working day back, %(date)s.",
                user=user.name,
                date=format_date(env, own_days[0]),
            )
        return own_days[days - 1], None
