"""The parameters of one run, validated once by the runner's _prepare_params.

A leaf module: it imports no model file.
"""

import dataclasses
from collections import Counter
from datetime import datetime

from odoo import fields


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
        for key in ("stage_days", "team_days", "team_activity_types", "assignees"):
            values[key] = tuple(map(tuple, values.get(key, ())))
        values["teams_off"] = tuple(values.get("teams_off", ()))
        return cls(**values)


@dataclasses.dataclass
class RunState:
    """What a run learns chunk after chunk; not stored (a resumed run
    rebuilds it)."""

    # Assignee id -> new re-engagements in this run, for the daily cap.
    booked: Counter = dataclasses.field(default_factory=Counter)
    # (assignee id, day) -> (deadline, warning): a calendar is read once a run.
    deadlines: dict = dataclasses.field(default_factory=dict)
    # (salesperson id, deadline) -> the last working day before escalating.
    escalation_days: dict = dataclasses.field(default_factory=dict)
