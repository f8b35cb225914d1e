"""How far a participant is: per activity, per module, and where to continue."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from lti_tool.content.model import Activity, Module, Program
from lti_tool.hours.ledger import Participant, Totals, program_totals
from lti_tool.models import ActivityProgress


@dataclass(frozen=True)
class ActivityStatus:
    activity: Activity
    credited_minutes: int
    measured_seconds: int
    is_complete: bool
    last_seen_at: datetime | None

    @property
    def label(self) -> str:
        if self.is_complete:
            return "Complete"
        if self.credited_minutes or self.measured_seconds:
            return "In progress"
        return "Not started"


@dataclass(frozen=True)
class ProgramProgress:
    program: Program
    totals: Totals
    activities: dict[str, ActivityStatus]

    def module_share(self, module: Module) -> float:
        """Credited share of a module's planned minutes, 0.0 to 1.0."""
        planned = module.planned_minutes or 1
        credited = sum(
            self.activities[a.id].credited_minutes for a in module.activities
        )
        return min(credited / planned, 1.0)

    def continue_with(self, activities: list[Activity]) -> Activity | None:
        """The last activity studied if unfinished, else the first unfinished one."""
        seen = [
            self.activities[a.id]
            for a in activities
            if self.activities[a.id].last_seen_at is not None
        ]
        if seen:
            latest = max(seen, key=lambda s: s.last_seen_at or datetime.min)
            if not latest.is_complete:
                return latest.activity
        return next(
            (a for a in activities if not self.activities[a.id].is_complete), None
        )


def program_progress(
    session: Session, who: Participant, program: Program
) -> ProgramProgress:
    """Everything the overview and module pages show, in two queries."""
    totals = program_totals(session, who, program.id)
    rows = session.scalars(
        select(ActivityProgress).filter_by(
            user_id=who.user_id, context_pk=who.context_pk, program_id=program.id
        )
    )
    measured = {row.activity_id: row for row in rows}
    statuses = {}
    for activity in program.activities():
        row = measured.get(activity.id)
        credited = totals.by_activity.get(activity.id, 0)
        complete = credited >= activity.minutes or bool(row and row.completed_at)
        statuses[activity.id] = ActivityStatus(
            activity=activity,
            credited_minutes=credited,
            measured_seconds=row.active_seconds if row else 0,
            is_complete=complete,
            last_seen_at=row.last_seen_at if row else None,
        )
    return ProgramProgress(program, totals, statuses)
