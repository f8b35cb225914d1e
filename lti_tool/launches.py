"""What a validated launch records: user, context, membership, link, session."""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import Select, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from lti_tool.lti import claims
from lti_tool.lti.errors import SessionExpired
from lti_tool.lti.launch import ValidatedLaunch
from lti_tool.lti.roles import ToolRole, tool_role
from lti_tool.models import Context, LaunchSession, Membership, ResourceLink, User
from lti_tool.models.base import utcnow

log = logging.getLogger(__name__)

TARGET_PARAMETER = "target"
STALE = timedelta(seconds=60)


@dataclass(frozen=True)
class Visit:
    """The signed-in person of one page view, restored from a launch session."""

    session: LaunchSession
    user: User
    context: Context
    resource_link: ResourceLink | None

    @property
    def role(self) -> ToolRole:
        return ToolRole(self.session.role)

    @property
    def is_coordinator(self) -> bool:
        return self.role in (ToolRole.COORDINATOR, ToolRole.ADMIN)


def _upsert(
    session: Session,
    model: type,
    keys: dict[str, Any],
    defaults: dict[str, Any] | None = None,
) -> Any:
    """The row with these unique keys, created if missing – safe under races.

    A whole cohort opening a new course at once sends many first launches into
    the same context: the loser of an insert race re-reads the winner's row.
    """
    query: Select[Any] = select(model).filter_by(**keys)
    row = session.scalars(query).first()
    if row is not None:
        return row
    try:
        with session.begin_nested():
            row = model(**keys, **(defaults or {}))
            session.add(row)
    except IntegrityError:
        row = session.scalars(query).one()
    return row


def sync_user_from_launch(session: Session, launch: ValidatedLaunch) -> User:
    """The user keyed by (issuer, sub), with their current display name."""
    user: User = _upsert(
        session,
        User,
        {"issuer": launch.registration.issuer, "sub": str(launch.payload["sub"])},
    )
    name = launch.claim("name") or " ".join(
        part
        for part in (launch.claim("given_name"), launch.claim("family_name"))
        if part
    )
    user.name = str(name or "")[:255]
    return user


def sync_context_from_launch(session: Session, launch: ValidatedLaunch) -> Context:
    """The context keyed by (deployment, context id); one per deployment if absent."""
    claim = launch.claim(claims.CONTEXT) or {}
    # A launch from outside any course still needs somewhere to keep its data.
    context_id = str(claim.get("id") or f"deployment:{launch.deployment.deployment_id}")
    context: Context = _upsert(
        session,
        Context,
        {"deployment_pk": launch.deployment.id, "context_id": context_id},
    )
    context.title = str(claim.get("title") or context.title or "")[:255]
    context.label = str(claim.get("label") or context.label or "")[:255]
    return context


def sync_resource_link_from_launch(
    session: Session, launch: ValidatedLaunch, context: Context
) -> ResourceLink | None:
    """The resource link of this launch, if the message has one."""
    claim = launch.claim(claims.RESOURCE_LINK) or {}
    if not claim.get("id"):
        return None
    link: ResourceLink = _upsert(
        session,
        ResourceLink,
        {"context_pk": context.id, "resource_link_id": str(claim["id"])},
    )
    link.title = str(claim.get("title") or "")[:255]
    return link


def requested_target(launch: ValidatedLaunch) -> str:
    """The target named by the launch: custom parameter, else target_link_uri query.

    Canvas keeps a link's query but drops deep-linked custom values; Moodle the
    reverse, and a site-level custom value may override an activity's own. A
    custom value still starting with `$` is an unexpanded platform variable.
    """
    custom = launch.claim(claims.CUSTOM) or {}
    value = custom.get(TARGET_PARAMETER)
    if isinstance(value, str) and value.strip() and not value.startswith("$"):
        return value.strip()
    query = parse_qs(urlsplit(str(launch.claim(claims.TARGET_LINK_URI, ""))).query)
    return query.get(TARGET_PARAMETER, [""])[0].strip()


def resolve_target(
    launch: ValidatedLaunch,
    link: ResourceLink | None,
    is_known: Callable[[str], bool],
) -> str:
    """The program or module to open; remembers a newly named target on the link."""
    candidate = requested_target(launch)
    if candidate and is_known(candidate):
        if link is not None:
            link.target = candidate
        return candidate
    if candidate:
        log.warning("launch target unknown target_length=%d", len(candidate))
    if link is not None and link.target and is_known(link.target):
        return link.target
    return ""


def record_launch(
    session: Session, launch: ValidatedLaunch, ttl: int, is_known: Callable[[str], bool]
) -> tuple[str, Visit, str]:
    """Record everything a launch tells us; returns (session token, visit, target)."""
    user = sync_user_from_launch(session, launch)
    context = sync_context_from_launch(session, launch)
    session.flush()
    link = sync_resource_link_from_launch(session, launch, context)
    role = tool_role(launch.claim(claims.ROLES) or [])

    membership: Membership = _upsert(
        session,
        Membership,
        {"user_id": user.id, "context_pk": context.id},
        {"role": role.value},
    )
    now = utcnow()
    membership.role = role.value
    membership.last_launch_at = now
    # Every launch of a platform would otherwise update the same two rows, and
    # concurrent launches would queue on them; a minute's precision is plenty.
    for row in (launch.deployment, launch.registration):
        last = row.last_launch_at
        if last is None or (last.replace(tzinfo=last.tzinfo or UTC) < now - STALE):
            row.last_launch_at = now
    target = resolve_target(launch, link, is_known)
    session.flush()

    token = secrets.token_urlsafe(32)
    presentation = launch.claim(claims.LAUNCH_PRESENTATION) or {}
    launch_session = LaunchSession(
        id=token_digest(token),
        user_id=user.id,
        context_pk=context.id,
        resource_link_pk=link.id if link is not None else None,
        role=role.value,
        claims={
            "message_type": launch.message_type,
            "return_url": presentation.get("return_url"),
            "document_target": presentation.get("document_target"),
            "ags": launch.claim(claims.AGS_ENDPOINT),
            "nrps": launch.claim(claims.NRPS),
            "deep_linking": launch.claim(claims.DEEP_LINKING_SETTINGS),
        },
        expires_at=now + timedelta(seconds=ttl),
    )
    session.add(launch_session)
    session.flush()
    visit = Visit(launch_session, user, context, link)
    return token, visit, target


def token_digest(token: str) -> str:
    """Sessions are stored by hash, so a database copy cannot be replayed."""
    return hashlib.sha256(token.encode()).hexdigest()


def restore_visit(session: Session, token: str) -> Visit:
    """The visit a session token stands for; SessionExpired when gone or stale."""
    if not token:
        raise SessionExpired("no such session")
    # One round trip: every page and every heartbeat starts here.
    query = (
        select(LaunchSession, User, Context, ResourceLink)
        .join(User, User.id == LaunchSession.user_id)
        .join(Context, Context.id == LaunchSession.context_pk)
        .outerjoin(ResourceLink, ResourceLink.id == LaunchSession.resource_link_pk)
        .where(LaunchSession.id == token_digest(token))
    )
    row = session.execute(query).first()
    if row is None:
        raise SessionExpired("no such session")
    launch_session, user, context, link = row
    expires_at = launch_session.expires_at
    if expires_at.tzinfo is None:
        expires_at = expires_at.replace(tzinfo=UTC)
    if expires_at <= utcnow():
        raise SessionExpired("the session has expired")
    return Visit(launch_session, user, context, link)
