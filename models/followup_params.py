"""The parameters of one run, validated once (:meth:`RunParams.from_call`),
what a run learns chunk after chunk (:class:`RunState`), and what it decides
for one opportunity (:class:`Decision`).

A leaf module: it imports no model file.
"""

import dataclasses
import hashlib
from collections import Counter
from datetime import datetime

from odoo import fields

from .followup_const import (
    SALES_MANAGER_GROUP,
    STALE_DAYS_MAX,
    STALE_DAYS_MIN,
    TRIGGERS,
    FollowupParameterError,
)

# The settings a run takes as they are (res.config.settings._followup_settings).
SETTINGS_KEYS = (
    "stale_days",
    "deadline_days",
    "overdue_threshold",
    "activity_type_id",
    "default_user_id",
    "clock",
    "send_digest",
    "working_days",
    "daily_cap",
    "escalate_after_days",
    "decide_after",
)


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _holdout_percents(env):
    """((company id, percent), ...) of the companies measuring the lift."""
    # Sudo: the administrator's setting of every company, as the settings
    # are read for whoever runs (res.config.settings._followup_settings).
    companies = env["res.company"].sudo().search([("followup_holdout_percent", ">", 0)])
    return tuple(
        sorted((company.id, company.followup_holdout_percent) for company in companies)
    )


class LegacyParamsError(KeyError):
    """Parameters stored by a version before 19.0.1.1.0, without what a run
    now needs (its moment, its trigger): such a run can be neither resumed
    nor replayed. A ``KeyError``, as reading them used to raise."""


@dataclasses.dataclass(frozen=True)
class RunParams:
    """What one run does, decided before it starts.

    Stored on the run's log (``workflow.log.parameters``), so that a daily run
    stopped by its cron time budget resumes with exactly the same values.
    """

    trigger: str
    # The run's one moment (naive UTC): its days, cutoffs and deadlines all
    # count from it, even when the run crosses midnight.
    now: datetime
    stale_days: int
    deadline_days: int
    overdue_threshold: int
    activity_type_id: int
    default_user_id: int
    clock: str
    send_digest: bool
    # Due in deadline_days working days of the assignee (else calendar days).
    working_days: bool = True
    # At most this many new re-engagements per assignee in this run; 0: no cap.
    daily_cap: int = 0
    # Working days past its deadline before an open re-engagement is
    # escalated to the team leader; 0 (and runs started before 19.0.1.2.0): off.
    escalate_after_days: int = 0
    # Re-engagements in a row without a revival before the team leader is
    # asked to decide; 0 (and runs started before 19.0.1.4.0): no limit.
    decide_after: int = 0
    # ((team id, count), ...) of teams with their own number.
    team_decide_after: tuple[tuple[int, int], ...] = ()
    # The team leader's *Revive* from a Decide activity: these deals, stale
    # or not, past their open Decide and their touch budget.
    revive: bool = False
    # ((stage id, days), ...) of stages with their own threshold; empty when
    # the run was given an explicit stale_days.
    stage_days: tuple[tuple[int, int], ...] = ()
    # The run was given its stale_days (API, chat, code): no stage's or
    # team's own number applies.
    explicit_days: bool = False
    # ((team id, days), ...) likewise, for teams with their own threshold.
    team_days: tuple[tuple[int, int], ...] = ()
    # ((team id, activity type id), ...) of teams with their own activity.
    team_activity_types: tuple[tuple[int, int], ...] = ()
    # Teams whose opportunities the daily job leaves alone.
    teams_off: tuple[int, ...] = ()
    user_id: int = 0
    team_id: int = 0
    lead_ids: tuple[int, ...] | None = None
    # None: every company of the environment. False stands for "no company".
    company_ids: tuple[int | bool, ...] | None = None
    dry_run: bool = False
    # ((opportunity id, user id), ...): assignees a manager chose in the
    # scheduling wizard, over crm.lead's own choice.
    assignees: tuple[tuple[int, int], ...] = ()
    # Run-level warnings (an ignored filter, ...), added to the run's message.
    warnings: tuple[str, ...] = ()
    # Measure the lift: ((company id, percent), ...) of the companies that
    # hold out a share of their eligible deals; empty for a selection of
    # deals (a manager's choice is never held out). A preview keeps it, to
    # show the deals held out earlier, and draws none.
    holdout: tuple[tuple[int, int], ...] = ()
    # Days a held-out deal is left alone: its result window.
    holdout_days: int = 0
    # What the draw is seeded with: the run's, so that a resumed or replayed
    # run holds out the same deals (empty: the run's moment).
    seed: str = ""

    @classmethod
    def from_call(
        cls,
        env,
        stale_days=None,
        user_id=None,
        team_id=None,
        lead_ids=None,
        trigger="manual",
        dry_run=False,
        assignees=(),
    ):
        """The parameters of a run called with these values (see
        ``opportunity.followup.runner.run``), validated and completed from
        the settings, for ``env``'s user.

        :raise FollowupParameterError: a malformed value, named
        """
        if trigger not in dict(TRIGGERS):
            raise FollowupParameterError(
                env._(
                    "trigger must be one of %(triggers)s; received %(value)r.",
                    triggers=", ".join(dict(TRIGGERS)),
                    value=trigger,
                ),
                "trigger",
            )
        settings = env["res.config.settings"]._followup_settings()
        values = {key: settings[key] for key in SETTINGS_KEYS}
        if stale_days is not None:
            if not _is_int(stale_days) or not (
                STALE_DAYS_MIN <= stale_days <= STALE_DAYS_MAX
            ):
                raise FollowupParameterError(
                    env._(
                        "stale_days must be a whole number from %(min)s to %(max)s; "
                        "received %(value)r.",
                        min=STALE_DAYS_MIN,
                        max=STALE_DAYS_MAX,
                        value=stale_days,
                    ),
                    "stale_days",
                )
            values.update(stale_days=stale_days, explicit_days=True)
        else:
            # Each stage, else each team, its own threshold, unless the run
            # was given a number.
            values["stage_days"] = tuple(
                sorted(env["crm.stage"]._followup_days().items())
            )
            values["team_days"] = tuple(
                sorted(env["crm.team"]._followup_days().items())
            )
        activity_types, decide_after = env["crm.team"]._followup_team_rules()
        values["team_activity_types"] = tuple(sorted(activity_types.items()))
        values["team_decide_after"] = tuple(sorted(decide_after.items()))
        if trigger == "cron":
            values["teams_off"] = tuple(env["crm.team"]._followup_teams_off())
        # Escalating to the leader is the daily job's, and a sales manager's
        # over a pipeline: a salesperson's own run, or a selection of deals,
        # never escalates (it would be authored by the salesperson).
        if not (
            trigger == "cron"
            or env.su
            or (lead_ids is None and env.user.has_group(SALES_MANAGER_GROUP))
        ):
            values["escalate_after_days"] = 0
        warnings = []
        for key, model, record_id in (
            ("user_id", "res.users", user_id),
            ("team_id", "crm.team", team_id),
        ):
            if record_id in (None, False, 0):
                continue
            if not _is_int(record_id):
                raise FollowupParameterError(
                    env._(
                        "%(parameter)s must be the id of a record (a whole number); "
                        "received %(value)r.",
                        parameter=key,
                        value=record_id,
                    ),
                    key,
                )
            record = env[model].browse(record_id).exists()
            if record and record.has_access("read"):
                values[key] = record.id
            else:
                warnings.append(
                    env._(
                        "%(parameter)s %(value)s does not exist or is not visible to "
                        "you: filter ignored, all eligible opportunities processed.",
                        parameter=key,
                        value=record_id,
                    )
                )
        if lead_ids is not None:
            if not isinstance(lead_ids, (list, tuple)) or not all(
                map(_is_int, lead_ids)
            ):
                raise FollowupParameterError(
                    env._(
                        "lead_ids must be a list of opportunity ids; "
                        "received %(value)r.",
                        value=lead_ids,
                    ),
                    "lead_ids",
                )
            values["lead_ids"] = tuple(lead_ids)
        if lead_ids is None and (holdout := _holdout_percents(env)):
            values.update(holdout=holdout, holdout_days=settings["revival_window_days"])
            if dry_run:
                warnings.append(
                    env._(
                        "Measure the Lift is on: a run holds out a share of the "
                        "opportunities this preview would schedule, drawn when it "
                        "runs; a confirmed preview holds out none."
                    )
                )
        if not isinstance(dry_run, bool):
            raise FollowupParameterError(
                env._(
                    "dry_run must be true or false; received %(value)r.", value=dry_run
                ),
                "dry_run",
            )
        now = fields.Datetime.now()
        return cls(
            trigger=trigger,
            now=now,
            seed=fields.Datetime.to_string(now),
            dry_run=dry_run,
            warnings=tuple(warnings),
            assignees=tuple(assignees),
            **values,
        )

    def to_json(self):
        values = dataclasses.asdict(self)
        values["now"] = fields.Datetime.to_string(self.now)
        return values

    @classmethod
    def from_json(cls, values):
        """The parameters a log stored (see :meth:`to_json`).

        :raise LegacyParamsError: stored by a version before 19.0.1.1.0
        """
        required = {
            field.name
            for field in dataclasses.fields(cls)
            if field.default is dataclasses.MISSING
        }
        missing = required - set(values or ())
        if missing:
            raise LegacyParamsError(", ".join(sorted(missing)))
        values = dict(values)
        values["now"] = fields.Datetime.to_datetime(values["now"])
        for key in ("lead_ids", "company_ids", "warnings"):
            if values.get(key) is not None:
                values[key] = tuple(values[key])
        for key in (
            "stage_days",
            "team_days",
            "team_activity_types",
            "team_decide_after",
            "assignees",
            "holdout",
        ):
            values[key] = tuple(map(tuple, values.get(key, ())))
        values["teams_off"] = tuple(values.get("teams_off", ()))
        return cls(**values)

    def holds_out(self, lead):
        """Whether this run's draw holds ``lead`` out (crm.lead's rules
        decide whether it may be): each deal of a company measuring the
        lift, independently, with its company's chance. A hash of the run's
        seed and the deal, not a sample of a chunk: the same deals whatever
        the chunks, the order or a resumption."""
        percent = dict(self.holdout).get(lead.company_id.id)
        if not percent:
            return False
        digest = hashlib.sha256(
            f"{self.seed or fields.Datetime.to_string(self.now)}/{lead.id}".encode()
        ).digest()
        return int.from_bytes(digest[:8], "big") < percent * 2**64 // 100


@dataclasses.dataclass
class RunState:
    """What a run learns chunk after chunk; not stored (a resumed run
    rebuilds it)."""

    # Assignee id -> new re-engagements in this run, for the daily cap.
    booked: Counter = dataclasses.field(default_factory=Counter)
    # User id -> their working days (res.users._followup_calendar), read
    # once a run for every deadline of theirs, due or to escalate.
    calendars: dict = dataclasses.field(default_factory=dict)

    def calendar(self, user, first, last, days):
        """``user``'s working days for deadlines of ``days`` working days
        from ``first`` to ``last`` (res.users._followup_calendar), read once a
        run."""
        calendar = self.calendars.get(user.id)
        if calendar is None:
            calendar = self.calendars[user.id] = user._followup_calendar(
                first, last, days
            )
        return calendar.cover(first, last, days)


@dataclasses.dataclass
class Decision:
    """What a run does with one opportunity (crm.lead._followup_decide)."""

    # A key of followup_const.OUTCOMES.
    outcome: str
    # Why, for the log's readers; None for the outcomes that need no reason.
    reason: str | None = None
    # Who gets its activity: the re-engagement's assignee, or the one an
    # escalation goes to (res.users).
    assignee: object = None
    warning: str | None = None
    # The ignored re-engagement an escalation is about (mail.activity).
    followup: object = None
    # What its log line records besides (a held-out deal's stage, team, ...,
    # for the effectiveness report).
    line: dict = dataclasses.field(default_factory=dict)
    # ``decide``: the log lines of the re-engagements in vain, the oldest
    # first (workflow.log.line).
    history: object = None
    # One call per customer: on the deal booked, the customer's other quiet
    # deals (crm.lead); on those, the deal booked.
    grouped: object = None

    def line_values(self, lead):
        """The values of ``lead``'s log line for this decision; the steps
        after the decision complete them."""
        return {
            "lead_id": lead.id,
            # Each line belongs to its opportunity's company.
            "company_id": lead.company_id.id,
            "outcome": self.outcome,
            "reason": self.reason,
            "warning": self.warning or False,
            # The deal booked instead (the others of a group are not lines').
            "grouped_lead_id": self.grouped.id if self.outcome == "grouped" else False,
            **self.line,
        }
