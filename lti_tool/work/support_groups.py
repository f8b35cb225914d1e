"""Support-group sessions a coordinator records, and the attendance they credit."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from lti_tool.content.model import Activity, Program
from lti_tool.hours.ledger import Participant, credit_activity, local_day
from lti_tool.hours.rules import CreditRules, Source
from lti_tool.lti.roles import ToolRole
from lti_tool.models import (
    Membership,
    SupportGroupAttendance,
    SupportGroupSession,
    User,
)
from lti_tool.models.base import utcnow
from lti_tool.work.errors import OwnWork, WorkRejected
from lti_tool.work.inputs import past_date, required_text, whole_minutes

log = logging.getLogger(__name__)

MIN_SESSION_MINUTES = 15
MAX_SESSION_MINUTES = 240
MAX_TOPIC_CHARS = 200


class NotInCourse(LookupError):
    """An attendee who is not a participant of the session's course."""


@dataclass(frozen=True)
class SessionForm:
    """The session fields of the form, as typed."""

    held_on: str
    topic: str
    minutes: str


def roster(session: Session, context_pk: int) -> list[User]:
    """The participants (learners) of a course, by name."""
    query = (
        select(User)
        .join(Membership, Membership.user_id == User.id)
        .where(
            Membership.context_pk == context_pk,
            Membership.role == ToolRole.LEARNER.value,
        )
        .order_by(User.name, User.id)
    )
    return list(session.scalars(query))


def parse_attendance(raw: dict[int, str], length_minutes: int) -> dict[int, int]:
    """Minutes present per participant id, each within the session's length."""
    present = {}
    for user_id, minutes in raw.items():
        present[user_id] = whole_minutes(
            minutes or str(length_minutes), "minutes present", 1, length_minutes
        )
    return present


def _refuse_own_attendance(attendance: Mapping[int, object], recorder_id: int) -> None:
    """Whoever records attendance cannot credit themselves, on any roster."""
    if recorder_id in attendance:
        raise OwnWork(
            "You cannot record your own attendance; another coordinator of this "
            "course has to record it."
        )


def record_session(
    session: Session,
    rules: CreditRules,
    program: Program,
    activity: Activity,
    *,
    context_pk: int,
    recorder_id: int,
    form: SessionForm,
    attendance: dict[int, str],
    now: datetime | None = None,
) -> SupportGroupSession:
    """Store a session and credit everyone present."""
    now = now or utcnow()
    if activity.kind != "support_group":
        raise WorkRejected("Choose one of the program's support-group activities.")
    _refuse_own_attendance(attendance, recorder_id)
    minutes = whole_minutes(
        form.minutes, "session length", MIN_SESSION_MINUTES, MAX_SESSION_MINUTES
    )
    group = SupportGroupSession(
        context_pk=context_pk,
        program_id=program.id,
        program_version=program.version,
        activity_id=activity.id,
        held_on=past_date(form.held_on, local_day(rules, now), "session date"),
        topic=required_text(form.topic, "topic", MAX_TOPIC_CHARS),
        minutes=minutes,
        recorded_by_user_id=recorder_id,
        created_at=now,
    )
    present = parse_attendance(attendance, minutes)
    session.add(group)
    session.flush()
    log.info(
        "support group recorded session=%s context=%s activity=%s minutes=%s",
        group.id,
        context_pk,
        activity.id,
        minutes,
    )
    record_attendance(
        session, rules, program, activity, group, present, recorder_id, now=now
    )
    return group


def record_attendance(
    session: Session,
    rules: CreditRules,
    program: Program,
    activity: Activity,
    group: SupportGroupSession,
    present: dict[int, int],
    recorder_id: int,
    *,
    now: datetime | None = None,
) -> int:
    """Add attendees to a session; returns the minutes credited in all."""
    now = now or utcnow()
    _refuse_own_attendance(present, recorder_id)
    members = {user.id for user in roster(session, group.context_pk)}
    if not set(present) <= members:
        raise NotInCourse("an attendee is not a participant of this course")
    recorded = set(
        session.scalars(
            select(SupportGroupAttendance.user_id).filter_by(session_id=group.id)
        )
    )
    if set(present) & recorded:
        raise WorkRejected("Attendance for one of these participants is already in.")

    credited = 0
    for user_id, minutes in sorted(present.items()):
        row = SupportGroupAttendance(
            session_id=group.id,
            user_id=user_id,
            minutes_present=minutes,
            recorded_by_user_id=recorder_id,
            created_at=now,
        )
        try:
            with session.begin_nested():
                session.add(row)
        except IntegrityError:
            # Recorded by another request (a second click) since the check above.
            raise WorkRejected(
                "Attendance for one of these participants is already in."
            ) from None
        credited += credit_activity(
            session,
            rules,
            Participant(user_id, group.context_pk),
            program,
            activity,
            min(minutes, group.minutes),
            Source.SUPPORT_GROUP_ATTENDED,
            event_key=f"attendance:{row.id}",
            approved_by=recorder_id,
            now=now,
        )
    log.info(
        "support group attendance session=%s attendees=%s credited_minutes=%s",
        group.id,
        len(present),
        credited,
    )
    return credited


def sessions_of(
    session: Session, context_pk: int, program_id: str
) -> list[SupportGroupSession]:
    """A course's sessions for one program, newest first."""
    query = (
        select(SupportGroupSession)
        .filter_by(context_pk=context_pk, program_id=program_id)
        .order_by(SupportGroupSession.held_on.desc(), SupportGroupSession.id.desc())
    )
    return list(session.scalars(query))


def attendance_of(
    session: Session, group_id: int
) -> list[tuple[SupportGroupAttendance, User]]:
    query = (
        select(SupportGroupAttendance, User)
        .join(User, User.id == SupportGroupAttendance.user_id)
        .where(SupportGroupAttendance.session_id == group_id)
        .order_by(User.name, User.id)
    )
    return [(row, user) for row, user in session.execute(query)]


def attended_by(
    session: Session, who: Participant, program_id: str
) -> list[tuple[SupportGroupSession, SupportGroupAttendance]]:
    """The sessions a participant attended in one program, newest first."""
    query = (
        select(SupportGroupSession, SupportGroupAttendance)
        .join(
            SupportGroupAttendance,
            SupportGroupAttendance.session_id == SupportGroupSession.id,
        )
        .where(
            SupportGroupAttendance.user_id == who.user_id,
            SupportGroupSession.context_pk == who.context_pk,
            SupportGroupSession.program_id == program_id,
        )
        .order_by(SupportGroupSession.held_on.desc())
    )
    return [(group, row) for group, row in session.execute(query)]
