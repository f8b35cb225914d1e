"""Appending credits to the hours ledger and reading totals from it.

The ledger is the single source of truth: nothing here updates or deletes a line.
Every credit is capped by what remains of the activity's planned time and, for
online study, by what remains of the participant's daily cap.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from lti_tool.content.model import Activity, Program
from lti_tool.hours.rules import DAILY_CAPPED_SOURCES, CreditRules, Source
from lti_tool.models import HoursEntry, ProgramCompletion
from lti_tool.models.base import utcnow
from lti_tool.services.outbox import mark_scores_due

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Participant:
    """A person in one context: the unit hours are counted for."""

    user_id: int
    context_pk: int


def local_day(rules: CreditRules, moment: datetime) -> date:
    """The calendar day of a moment in the program's time zone."""
    return moment.astimezone(rules.zone).date()


def credited_minutes(
    session: Session, who: Participant, program_id: str, activity_id: str
) -> int:
    """Minutes already credited for one activity, corrections included."""
    query = select(func.coalesce(func.sum(HoursEntry.minutes), 0)).where(
        HoursEntry.user_id == who.user_id,
        HoursEntry.context_pk == who.context_pk,
        HoursEntry.program_id == program_id,
        HoursEntry.activity_id == activity_id,
    )
    return int(session.scalar(query) or 0)


def capped_minutes_on(session: Session, user_id: int, day: date) -> int:
    """Online-study minutes credited to a person on one day, across contexts."""
    query = select(func.coalesce(func.sum(HoursEntry.minutes), 0)).where(
        HoursEntry.user_id == user_id,
        HoursEntry.credited_on == day,
        HoursEntry.source.in_([s.value for s in DAILY_CAPPED_SOURCES]),
    )
    return int(session.scalar(query) or 0)


def credit_activity(
    session: Session,
    rules: CreditRules,
    who: Participant,
    program: Program,
    activity: Activity,
    minutes: int,
    source: Source,
    *,
    event_key: str | None = None,
    approved_by: int | None = None,
    now: datetime | None = None,
) -> int:
    """Credit up to `minutes` for an activity; returns what was actually credited."""
    now = now or utcnow()
    for _attempt in range(3):
        already = credited_minutes(session, who, program.id, activity.id)
        allowed = _allowed_minutes(session, rules, who, activity, minutes, source, now)
        allowed = min(allowed, activity.minutes - already)
        if allowed <= 0:
            return 0
        entry = _activity_entry(who, program, activity, allowed, source, rules, now)
        entry.approved_by_user_id = approved_by
        entry.event_key = event_key
        entry.credit_key = (
            f"{who.user_id}:{who.context_pk}:{program.id}:{activity.id}@{already}"
        )
        outcome = _insert_once(session, entry, event_key)
        if outcome == "event_seen":
            return 0
        if outcome == "inserted":
            break
        # Another request credited this activity meanwhile: re-read and retry.
    else:
        return 0
    mark_scores_due(session, who, program.id)

    log.info(
        "hours credited user=%s context=%s program=%s activity=%s minutes=%s source=%s",
        who.user_id,
        who.context_pk,
        program.id,
        activity.id,
        allowed,
        source.value,
    )
    record_completion_if_met(session, who, program, now)
    return allowed


def _allowed_minutes(
    session: Session,
    rules: CreditRules,
    who: Participant,
    activity: Activity,
    minutes: int,
    source: Source,
    now: datetime,
) -> int:
    """The requested minutes, limited by the daily cap for online study."""
    if source not in DAILY_CAPPED_SOURCES:
        return minutes
    used = capped_minutes_on(session, who.user_id, local_day(rules, now))
    return min(minutes, rules.daily_cap_minutes - used)


def _activity_entry(
    who: Participant,
    program: Program,
    activity: Activity,
    minutes: int,
    source: Source,
    rules: CreditRules,
    now: datetime,
) -> HoursEntry:
    return HoursEntry(
        user_id=who.user_id,
        context_pk=who.context_pk,
        program_id=program.id,
        program_version=program.version,
        activity_id=activity.id,
        category=program.category_of(activity),
        competencies=list(activity.competencies),
        minutes=minutes,
        source=source.value,
        credited_on=local_day(rules, now),
        created_at=now,
    )


def _insert_once(session: Session, entry: HoursEntry, event_key: str | None) -> str:
    """Insert in a savepoint: "inserted", "event_seen" or "raced"."""
    if event_key is not None:
        seen = session.scalar(
            select(HoursEntry.id).where(HoursEntry.event_key == event_key)
        )
        if seen is not None:
            return "event_seen"
    try:
        with session.begin_nested():
            session.add(entry)
    except IntegrityError:
        if entry in session:
            session.expunge(entry)
        if event_key is not None and session.scalar(
            select(HoursEntry.id).where(HoursEntry.event_key == event_key)
        ):
            return "event_seen"
        return "raced"
    return "inserted"


def correct(
    session: Session,
    who: Participant,
    program: Program,
    *,
    activity: Activity | None,
    category: str,
    minutes: int,
    reason: str,
    by_user_id: int,
    rules: CreditRules,
    now: datetime | None = None,
) -> HoursEntry:
    """A manual correction: a new line with a reason, never an edit."""
    now = now or utcnow()
    if not reason.strip():
        raise ValueError("a correction needs a reason")
    if minutes == 0 or abs(minutes) > 100 * 60:
        raise ValueError("a correction must be between -6000 and 6000 minutes, not 0")
    if category not in program.requirements:
        raise ValueError(f"{program.id} has no category {category!r}")
    entry = HoursEntry(
        user_id=who.user_id,
        context_pk=who.context_pk,
        program_id=program.id,
        program_version=program.version,
        activity_id=activity.id if activity else None,
        category=category,
        competencies=list(activity.competencies) if activity else [],
        minutes=minutes,
        source=Source.MANUAL_CORRECTION.value,
        approved_by_user_id=by_user_id,
        reason=reason.strip()[:2000],
        credited_on=local_day(rules, now),
        created_at=now,
    )
    session.add(entry)
    session.flush()
    mark_scores_due(session, who, program.id)
    record_completion_if_met(session, who, program, now)
    return entry


@dataclass
class Totals:
    """Credited minutes of one participant in one program, by category etc."""

    by_category: dict[str, int] = field(default_factory=dict)
    by_competency: dict[str, float] = field(default_factory=dict)
    by_activity: dict[str, int] = field(default_factory=dict)
    first_credit_at: datetime | None = None

    def category(self, name: str) -> int:
        return self.by_category.get(name, 0)


def program_totals(session: Session, who: Participant, program_id: str) -> Totals:
    """Sum the ledger; competencies share an entry's minutes evenly."""
    rows = session.execute(
        select(
            HoursEntry.category,
            HoursEntry.activity_id,
            HoursEntry.competencies,
            HoursEntry.minutes,
            HoursEntry.created_at,
        ).where(
            HoursEntry.user_id == who.user_id,
            HoursEntry.context_pk == who.context_pk,
            HoursEntry.program_id == program_id,
        )
    )
    by_category: dict[str, int] = defaultdict(int)
    by_competency: dict[str, float] = defaultdict(float)
    by_activity: dict[str, int] = defaultdict(int)
    first: datetime | None = None
    for category, activity_id, competencies, minutes, created in rows:
        by_category[category] += minutes
        if activity_id:
            by_activity[activity_id] += minutes
        for competency in competencies or []:
            by_competency[competency] += minutes / len(competencies)
        first = created if first is None or created < first else first
    return Totals(dict(by_category), dict(by_competency), dict(by_activity), first)


def missing_by_category(program: Program, totals: Totals) -> dict[str, int]:
    """Minutes still needed in each category (0 when met)."""
    return {
        category: max(required - totals.category(category), 0)
        for category, required in program.requirements.items()
    }


def record_completion_if_met(
    session: Session, who: Participant, program: Program, now: datetime
) -> ProgramCompletion | None:
    """Record the completion date the first time every requirement is met."""
    existing = session.scalars(
        select(ProgramCompletion).filter_by(
            user_id=who.user_id, context_pk=who.context_pk, program_id=program.id
        )
    ).first()
    if existing is not None:
        return existing
    totals = program_totals(session, who, program.id)
    if any(missing_by_category(program, totals).values()):
        return None
    completion = ProgramCompletion(
        user_id=who.user_id,
        context_pk=who.context_pk,
        program_id=program.id,
        program_version=program.version,
        started_at=totals.first_credit_at or now,
        completed_at=now,
    )
    session.add(completion)
    session.flush()
    log.info(
        "program completed user=%s context=%s program=%s",
        who.user_id,
        who.context_pk,
        program.id,
    )
    return completion
