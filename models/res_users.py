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
        company = self.company_id
        calendar = self.resource_calendar_id or company.resource_calendar_id
        if not calendar or days <= 0:
            return today + timedelta(days=days), None
        tz = pytz.timezone(self.tz or calendar.tz or "UTC")
        resource = self.resource_ids.filtered(lambda r: r.company_id == company)[:1]
        start = tz.localize(datetime.combine(today + timedelta(days=1), time.min))
        # Two weeks and more are read only when the first ones are not enough:
        # planning the calendar's days costs more the further it looks.
        for horizon_days in (days * 2 + 14, HORIZON_DAYS):
            # Sudo: the assignee's time off is read to plan around it, not shown.
            intervals = calendar.sudo()._work_intervals_batch(
                start,
                start + timedelta(days=horizon_days),
                resources=resource.sudo(),
                tz=tz,
            )
            own_days = sorted(
                {begin.date() for begin, _end, _meta in intervals[resource.id]}
            )
            if len(own_days) >= days:
                break
        if len(own_days) < days:
            return today + timedelta(days=days), self.env._(
                "%(user)s has no working day in the next %(horizon)s days: due in "
                "%(days)s calendar days.",
                user=self.name,
                horizon=HORIZON_DAYS,
                days=days,
            )
        horizon = sorted({begin.date() for begin, _end, _meta in intervals[False]})[
            :days
        ]
        if horizon and not set(horizon) & set(own_days):
            return own_days[0], self.env._(
                "%(user)s is away: due on their first working day back, %(date)s.",
                user=self.name,
                date=format_date(self.env, own_days[0]),
            )
        return own_days[days - 1], None
