"""Participants' scores for targets, read from the hours ledger in a few queries.

A worker scores a whole batch at once: per course and program, one query sums
the ledger, one reads measured study, and one per kind of reviewed work finds
what awaits a person; the rules below then apply to each participant alike.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lti_tool.hours.ledger import Participant, Totals, missing_by_category
from lti_tool.hours.rules import round_down_to_quarter_hour
from lti_tool.models import ActivityProgress as StudyProgress
from lti_tool.models import HoursEntry
from lti_tool.services.ags import ActivityProgress, GradingProgress
from lti_tool.services.review import pending_reviews
from lti_tool.services.targets import Target


@dataclass(frozen=True)
class ScoreValue:
    """What the grade book should show for one participant and one target."""

    score_given: float
    score_maximum: float
    activity_progress: ActivityProgress
    grading_progress: GradingProgress
    comment: str
    submitted_at: datetime | None


@dataclass
class _Record:
    """One participant's ledger and study in one program."""

    by_category: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    by_activity: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    latest: dict[str | None, datetime] = field(default_factory=dict)
    seen: set[str] = field(default_factory=set)
    completed: set[str] = field(default_factory=set)
    pending: set[str] = field(default_factory=set)


def compute_score(session: Session, who: Participant, target: Target) -> ScoreValue:
    """Credited hours (rounded down to the quarter hour) out of the planned hours."""
    return compute_scores(session, [(who, target)])[(who, target.id)]


def compute_scores(
    session: Session, wanted: Iterable[tuple[Participant, Target]]
) -> dict[tuple[Participant, str], ScoreValue]:
    """Scores for many (participant, target) pairs, keyed by (participant, id)."""
    pairs = list(wanted)
    groups: dict[tuple[int, str], set[int]] = defaultdict(set)
    for who, target in pairs:
        groups[(who.context_pk, target.program.id)].add(who.user_id)
    records: dict[tuple[int, int, str], _Record] = {}
    for (context_pk, program_id), user_ids in groups.items():
        records.update(_load(session, context_pk, program_id, user_ids))
    return {
        (who, target.id): _score(
            records.get((who.user_id, who.context_pk, target.program.id), _Record()),
            target,
        )
        for who, target in pairs
    }


def _load(
    session: Session, context_pk: int, program_id: str, user_ids: set[int]
) -> dict[tuple[int, int, str], _Record]:
    records: dict[int, _Record] = defaultdict(_Record)
    ledger = select(
        HoursEntry.user_id,
        HoursEntry.category,
        HoursEntry.activity_id,
        func.sum(HoursEntry.minutes),
        func.max(HoursEntry.created_at),
    ).where(
        HoursEntry.context_pk == context_pk,
        HoursEntry.program_id == program_id,
        HoursEntry.user_id.in_(user_ids),
    )
    grouped = ledger.group_by(
        HoursEntry.user_id, HoursEntry.category, HoursEntry.activity_id
    )
    for user_id, category, activity_id, minutes, latest in session.execute(grouped):
        record = records[user_id]
        record.by_category[category] += int(minutes or 0)
        if activity_id:
            record.by_activity[activity_id] += int(minutes or 0)
        when = _aware(latest)
        if when and (
            activity_id not in record.latest or record.latest[activity_id] < when
        ):
            record.latest[activity_id] = when
    study = select(
        StudyProgress.user_id,
        StudyProgress.activity_id,
        StudyProgress.active_seconds,
        StudyProgress.last_seen_at,
        StudyProgress.completed_at,
    ).where(
        StudyProgress.context_pk == context_pk,
        StudyProgress.program_id == program_id,
        StudyProgress.user_id.in_(user_ids),
    )
    for user_id, activity_id, seconds, last_seen, completed in session.execute(study):
        if seconds or last_seen:
            records[user_id].seen.add(activity_id)
        if completed:
            records[user_id].completed.add(activity_id)
    for user_id, activities in pending_reviews(
        session, context_pk, program_id, user_ids
    ).items():
        records[user_id].pending |= activities
    return {
        (user_id, context_pk, program_id): record for user_id, record in records.items()
    }


def _score(record: _Record, target: Target) -> ScoreValue:
    activities = target.activity_ids
    if activities is None:
        credited = sum(record.by_category.values())
        pending = bool(record.pending)
        latest = max(record.latest.values(), default=None)
    else:
        credited = sum(record.by_activity.get(a, 0) for a in activities)
        pending = bool(record.pending & activities)
        latest = max(
            (record.latest[a] for a in activities if a in record.latest), default=None
        )
    maximum = target.planned_hours
    given = min(round_down_to_quarter_hour(credited), maximum)
    comment = f"{given:g} of {maximum:g} hours credited"
    if pending:
        comment += "; work awaits review"
    return ScoreValue(
        score_given=given,
        score_maximum=maximum,
        activity_progress=_activity_progress(record, target, credited, pending),
        grading_progress=(
            GradingProgress.PENDING_MANUAL if pending else GradingProgress.FULLY_GRADED
        ),
        comment=comment,
        submitted_at=latest,
    )


def _activity_progress(
    record: _Record, target: Target, credited: int, pending: bool
) -> ActivityProgress:
    if _is_complete(record, target):
        return ActivityProgress.COMPLETED
    if pending:
        return ActivityProgress.SUBMITTED
    if credited > 0:
        return ActivityProgress.IN_PROGRESS
    activities = target.activity_ids
    if record.seen if activities is None else record.seen & activities:
        return ActivityProgress.STARTED
    return ActivityProgress.INITIALIZED


def _is_complete(record: _Record, target: Target) -> bool:
    """A program's every hour requirement met; a module's every activity done."""
    if target.module is None:
        totals = Totals(by_category=dict(record.by_category))
        return not any(missing_by_category(target.program, totals).values())
    # The same rule as the participant's progress page.
    return all(
        record.by_activity.get(a.id, 0) >= a.minutes or a.id in record.completed
        for a in target.module.activities
    )


def _aware(moment: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes even for timezone-aware columns.
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)
