"""Names and defaults that several model files share.

A leaf module: it imports no model file, so that moving a method from one
model file to another never makes a circle of imports.
"""

import psycopg2

from odoo.exceptions import UserError

WORKFLOW_NAME = "opportunity_follow_up"
PARAM_PREFIX = "crm_opportunity_followup."
LOG_ACTION = "crm_opportunity_followup.workflow_log_action"
DEFAULT_ACTIVITY_TYPE = "mail.mail_activity_data_call"
# Salespeople who see every opportunity, not only their own.
ALL_LEADS_GROUP = "sales_team.group_sale_salesman_all_leads"
SALES_MANAGER_GROUP = "sales_team.group_sale_manager"
# The email to the customer offered with a re-engagement, unless its stage
# has its own.
CUSTOMER_TEMPLATE = "crm_opportunity_followup.mail_template_reengagement"
ESCALATION_ACTIVITY_TYPE = "mail.mail_activity_data_todo"
# What a run reads as many of as it considers opportunities: forgotten after
# each chunk, for memory to stay flat on a big pipeline. The rest (users,
# teams, stages, activity types, calendars, templates) is shared by every
# chunk and kept for the run. (The documents linked to deals: see
# opportunity.followup.work; sale.order only where Sales is installed.)
PER_DEAL_MODELS = (
    "calendar.event",
    "crm.lead",
    "mail.activity",
    "mail.followers",
    "mail.message",
    "res.partner",
    "sale.order",
    "workflow.log.line",
)
# The team leader's activity for a deal re-engaged in vain: revive, pause or
# mark it lost.
DECIDE_ACTIVITY_TYPE = "crm_opportunity_followup.mail_activity_type_decide"
STALE_DAYS_MIN, STALE_DAYS_MAX = 1, 3650
# How long a deferral by the daily cap puts an opportunity first in the queue.
DEFERRED_PRIORITY_DAYS = 30
# The hour of a company's daily run, in its timezone, unless it chose another:
# before the working day starts.
FOLLOWUP_RUN_HOUR = 6.0
# What the settings', a team's and a stage's checks say, from the one range. A
# team's or a stage's number is optional: 0, what an emptied field saves,
# takes the next setting up.
STALE_DAYS_RANGE_MESSAGE = (
    f"Stale After must be between {STALE_DAYS_MIN} and {STALE_DAYS_MAX} days; on "
    "a stage or a team, 0 (empty) takes the next setting up: the team's, then "
    "the company's."
)

# The integer settings: settings field -> (system parameter, default, minimum,
# maximum). Stored as text by res.config.settings: Odoo deletes an integer
# parameter saved as 0, which would bring the default back. The maximum keeps
# a typo (5,000 days) from being saved as if it were meant.
INT_SETTINGS = {
    "followup_stale_days": ("stale_days", 14, STALE_DAYS_MIN, STALE_DAYS_MAX),
    "followup_deadline_days": ("deadline_days", 2, 0, 90),
    "followup_overdue_threshold": ("overdue_threshold", 20, 0, 10000),
    "followup_log_retention_days": ("log_retention_days", 180, 0, 3650),
    # At most this many new re-engagements per assignee and run; 0: no cap.
    "followup_daily_cap": ("daily_cap", 0, 0, 1000),
    # Working days past its deadline before an ignored re-engagement goes to
    # the team leader; 0: never.
    "followup_escalate_after_days": ("escalate_after_days", 3, 0, 365),
    # Days after a re-engagement during which what happens to the opportunity
    # counts as its result.
    "followup_revival_window_days": ("revival_window_days", 30, 1, 365),
    # Re-engagements in a row without a revival before the team leader is
    # asked to decide instead of a further one; 0: no limit.
    "followup_decide_after": ("decide_after", 2, 0, 20),
}

# What counts as an update for the stale clock.
CLOCK_WORK = "work"
CLOCK_WRITE_DATE = "write_date"
CLOCKS = [
    (CLOCK_WORK, "Any work on it: an edit, a message, a completed activity"),
    (CLOCK_WRITE_DATE, "Edits of the opportunity's own fields only"),
]

# Messages that show a person worked on an opportunity: notes and messages
# written in the chatter, e-mails sent or received. Tracking values, automatic
# notifications and out-of-office replies are not work (Odoo's own have their
# message type; the customer's are flagged, see mail.message).
# ("email_outgoing" is what a mass mailing leaves: no personal work.)
WORK_MESSAGE_TYPES = ("comment", "email")

# What became of a scheduled re-engagement, the best first: what happened to
# its opportunity within the result window (see workflow.log.line).
REVIVAL_RESULTS = [
    ("pending", "Pending"),
    ("won", "Won"),
    ("lost", "Lost"),
    ("advanced", "Advanced"),
    ("worked", "Worked"),
    ("ignored", "Ignored"),
]
# The results that count as a revival.
REVIVED = ("won", "advanced", "worked")
# The results that reset the touch budget (see crm.lead._followup_streaks):
# "worked" may be our own notes only; the customer's word is read apart.
CUSTOMER_REVIVED = ("won", "advanced")
# What a team leader decided about a deal re-engaged in vain.
DECISIONS = [
    ("revive", "Revived"),
    ("pause", "Paused"),
    ("lost", "Marked Lost"),
]
# The outcomes whose opportunity gets a result: the re-engaged ones, and the
# held-out ones they are compared with.
RESULT_OUTCOMES = ("scheduled", "held_out")

# Measure the lift: at most this share (%) of the eligible opportunities of a
# run is held out. More would deprive too many deals of their re-engagement
# for a measure that 5 to 10 % gives in a few months.
HOLDOUT_PERCENT_MAX = 20
HOLDOUT_PERCENT_MESSAGE = (
    f"Measure the Lift holds out from 0 to {HOLDOUT_PERCENT_MAX} % of the eligible "
    "opportunities."
)
# Below this many opportunities with a result in either group (re-engaged,
# held out), the lift is "too few to tell": the normal approximation of its
# 95 % interval needs about 30 per group.
LIFT_MIN_DEALS = 30
# The 95 % quantile of the normal distribution (two-sided).
LIFT_Z = 1.96

# What a run does with an opportunity, each declared once, in the order
# crm.lead._followup_decide tries them: outcome -> (label, its count in run()'s
# "counts", the run log's field for it, listed in the summary email).
OUTCOMES = {
    "skipped_won": ("Skipped: Won", "skipped_won", "skipped_won_count", False),
    "skipped_paused": (
        "Skipped: Paused",
        "skipped_paused",
        "skipped_paused_count",
        False,
    ),
    "skipped_pending": (
        "Skipped: Open Activity",
        "skipped_pending",
        "skipped_pending_count",
        False,
    ),
    "escalated": ("Escalated", "escalated", "escalated_count", True),
    "decide": ("Decision Asked", "decide", "decide_count", True),
    # Held out by an earlier run, left alone until its result window closes.
    "skipped_held_out": (
        "Skipped: Held Out",
        "skipped_held_out",
        "skipped_held_out_count",
        False,
    ),
    "skipped_unassigned": (
        "Skipped: No Assignee",
        "skipped_unassigned",
        "skipped_unassigned_count",
        False,
    ),
    "grouped": ("Grouped: Same Customer", "grouped", "grouped_count", False),
    # Drawn to measure the lift: not booked, its result compared with the
    # re-engaged ones' (see HOLDOUT_PERCENT_MAX).
    "held_out": ("Held Out: Lift", "held_out", "held_out_count", False),
    "deferred": ("Deferred: Daily Cap", "deferred", "deferred_count", False),
    "scheduled": ("Scheduled", "scheduled", "scheduled_count", True),
    "preview": ("Would Be Scheduled", "scheduled", "scheduled_count", False),
    "error": ("Error", "errors", "error_count", False),
}
# The counts of a run: count -> the run log's field.
COUNT_FIELDS = {
    "stale": "stale_count",
    "eligible": "eligible_count",
    **{count: field for _label, count, field, _listed in OUTCOMES.values()},
    "warnings": "warning_count",
}
# The outcomes the summary email lists, each apart.
DIGEST_OUTCOMES = tuple(key for key, (*_, listed) in OUTCOMES.items() if listed)

# What started a run, as stored on its log (and accepted by run()).
TRIGGERS = [
    ("cron", "Scheduled Action"),
    ("settings_button", "Settings Button"),
    ("server_action", "Opportunities List Action"),
    ("menu", "CRM Menu"),
    ("api", "HTTP API"),
    ("chat", "Chat Command"),
    ("manual", "Manual / Code"),
]


class FollowupParameterError(UserError):
    """A parameter of a run is malformed; ``parameter`` names it (the HTTP
    API answers 400 with that field)."""

    def __init__(self, message, parameter):
        super().__init__(message)
        self.parameter = parameter


def error_text(exc):
    """An error as a log line says it: the database's own message, else the
    exception's."""
    if isinstance(exc, psycopg2.Error):
        return (exc.pgerror or str(exc)).strip()
    return str(exc.args[0]) if getattr(exc, "args", None) else repr(exc)
