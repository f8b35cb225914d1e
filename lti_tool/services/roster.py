"""The coordinator's roster: the platform's members merged with their progress."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lti_tool.hours.rules import round_down_to_quarter_hour
from lti_tool.lti.roles import ToolRole
from lti_tool.models import (
    Context,
    HoursEntry,
    Membership,
    ProgramCompletion,
    ResourceLink,
    ScoreOutbox,
    User,
)
from lti_tool.services.nrps import Member
from lti_tool.services.targets import Target


@dataclass(frozen=True)
class Delivery:
    """Where this participant's score for the link stands."""

    state: str
    sent_score: float | None
    last_status: int | None
    last_error: str | None
    attempts: int


@dataclass(frozen=True)
class RosterRow:
    """One person: as the platform lists them, and what the tool knows."""

    name: str
    role: str
    status: str
    in_platform_roster: bool
    has_launched: bool
    credited_hours: float
    planned_hours: float
    progress: str
    delivery: Delivery | None


@dataclass(frozen=True)
class FailedDelivery:
    """A score the platform refused, with its answer, for a coordinator to act on."""

    participant: str
    link_title: str
    status: int | None
    answer: str


def roster_rows(
    session: Session,
    context: Context,
    members: list[Member] | None,
    target: Target | None,
    link: ResourceLink | None,
) -> list[RosterRow]:
    """Every platform member (launched or not), then tool users the roster lacks."""
    issuer = context.deployment.registration.issuer
    users: dict[str, tuple[User, str | None]] = {
        user.sub: (user, role)
        for user, role in session.execute(
            select(User, Membership.role)
            .join(Membership, Membership.user_id == User.id)
            .where(Membership.context_pk == context.id)
        )
    }
    if members:
        subs = [m.user_id for m in members if m.user_id not in users]
        for user in session.scalars(
            select(User).where(User.issuer == issuer, User.sub.in_(subs))
        ):
            users[user.sub] = (user, None)
    minutes = _credited_minutes(session, context, target)
    completed = _completed(session, context, target)
    deliveries = _deliveries(session, context, link)

    def row(member: Member | None, sub: str) -> RosterRow:
        user, launched_role = users.get(sub, (None, None))
        credited = minutes.get(user.id, 0) if user else 0
        complete = user is not None and user.id in completed
        if target is not None and target.module is not None:
            complete = credited >= target.planned_minutes
        return RosterRow(
            name=(member.name if member else "") or (user.name if user else "") or sub,
            role=(member.role.value if member else launched_role or ToolRole.LEARNER),
            status=member.status if member else "Not in the platform's roster",
            in_platform_roster=member is not None,
            has_launched=launched_role is not None,
            credited_hours=round_down_to_quarter_hour(credited),
            planned_hours=target.planned_hours if target else 0.0,
            progress=_progress_label(credited, complete),
            delivery=deliveries.get(user.id) if user else None,
        )

    rows = [row(member, member.user_id) for member in members or []]
    listed = {member.user_id for member in members or []}
    rows += [
        row(None, sub)
        for sub, (_, role) in sorted(users.items(), key=lambda item: item[1][0].name)
        if sub not in listed and role is not None
    ]
    return rows


def failed_deliveries(session: Session, context: Context) -> list[FailedDelivery]:
    """The context's refused scores, newest first."""
    query = (
        select(ScoreOutbox, User.name, ResourceLink.title)
        .join(User, User.id == ScoreOutbox.user_id)
        .join(ResourceLink, ResourceLink.id == ScoreOutbox.resource_link_pk)
        .where(ScoreOutbox.context_pk == context.id, ScoreOutbox.state == "failed")
        .order_by(ScoreOutbox.last_attempt_at.desc())
    )
    return [
        FailedDelivery(name, title, row.last_status, row.last_error or "")
        for row, name, title in session.execute(query)
    ]


def participants_with_hours(
    session: Session, context: Context, program_id: str
) -> list[int]:
    """Users of the context who have any hours in the program."""
    query = (
        select(HoursEntry.user_id)
        .where(HoursEntry.context_pk == context.id, HoursEntry.program_id == program_id)
        .distinct()
    )
    return list(session.scalars(query))


def _credited_minutes(
    session: Session, context: Context, target: Target | None
) -> dict[int, int]:
    if target is None:
        return {}
    query = select(HoursEntry.user_id, func.sum(HoursEntry.minutes)).where(
        HoursEntry.context_pk == context.id,
        HoursEntry.program_id == target.program.id,
    )
    if target.activity_ids is not None:
        query = query.where(HoursEntry.activity_id.in_(target.activity_ids))
    totals: dict[int, int] = defaultdict(int)
    for user_id, minutes in session.execute(query.group_by(HoursEntry.user_id)):
        totals[user_id] = int(minutes or 0)
    return totals


def _completed(session: Session, context: Context, target: Target | None) -> set[int]:
    if target is None or target.module is not None:
        return set()
    query = select(ProgramCompletion.user_id).where(
        ProgramCompletion.context_pk == context.id,
        ProgramCompletion.program_id == target.program.id,
    )
    return set(session.scalars(query))


def _deliveries(
    session: Session, context: Context, link: ResourceLink | None
) -> dict[int, Delivery]:
    if link is None:
        return {}
    query = select(ScoreOutbox).where(
        ScoreOutbox.context_pk == context.id, ScoreOutbox.resource_link_pk == link.id
    )
    return {
        row.user_id: Delivery(
            row.state, row.sent_score, row.last_status, row.last_error, row.attempts
        )
        for row in session.scalars(query)
    }


def _progress_label(credited_minutes: int, completed: bool) -> str:
    if completed:
        return "Complete"
    return "In progress" if credited_minutes > 0 else "Not started"
