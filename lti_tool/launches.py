"""What a validated launch records: user, context, membership, link, session."""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, timedelta
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from lti_tool.launch_records import LaunchRow, write_launch
from lti_tool.lti import claims
from lti_tool.lti.claims import clean_text
from lti_tool.lti.errors import SessionExpired
from lti_tool.lti.launch import ValidatedLaunch
from lti_tool.lti.roles import ToolRole, tool_role
from lti_tool.models import Context, LaunchSession, ResourceLink, User
from lti_tool.models.base import utcnow

log = logging.getLogger(__name__)

TARGET_PARAMETER = "target"


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
    try:
        link_uri = urlsplit(str(launch.claim(claims.TARGET_LINK_URI, "")))
    except ValueError:  # not a URL (an unclosed IPv6 bracket, say): names nothing
        return ""
    return parse_qs(link_uri.query).get(TARGET_PARAMETER, [""])[0].strip()


@dataclass(frozen=True)
class RecordedLaunch:
    """What a launch left in the database, and the session token for its pages."""

    token: str
    user_id: int
    context_pk: int
    resource_link_pk: int | None
    role: ToolRole


def record_launch(
    engine: Engine,
    launch: ValidatedLaunch,
    ttl: int,
    is_known: Callable[[str], bool],
) -> RecordedLaunch:
    """Record everything a launch tells us, in one transaction.

    Whoever launches, the same rows are written: the user keyed by (issuer,
    sub) with their display name, the context keyed by (deployment, context id),
    the resource link and the target it opens, the membership with its role,
    and a launch session. See `lti_tool.launch_records` for how.
    """
    context_claim = launch.claim(claims.CONTEXT) or {}
    link_claim = launch.claim(claims.RESOURCE_LINK) or {}
    presentation = launch.claim(claims.LAUNCH_PRESENTATION) or {}
    role = tool_role(launch.claim(claims.ROLES) or [])
    candidate = requested_target(launch)
    if candidate and not is_known(candidate):
        log.warning("launch target unknown target_length=%d", len(candidate))
        candidate = ""

    token = secrets.token_urlsafe(32)
    now = utcnow()
    launch_row = LaunchRow(
        issuer=launch.registration.issuer,
        sub=str(launch.payload["sub"]),
        name=display_name(launch),
        deployment_pk=launch.deployment_pk,
        # A launch from outside any course still needs somewhere to keep its data.
        context_id=str(context_claim.get("id") or f"deployment:{launch.deployment_id}"),
        context_title=clean_text(context_claim.get("title")),
        context_label=clean_text(context_claim.get("label")),
        resource_link_id=str(link_claim.get("id") or ""),
        link_title=clean_text(link_claim.get("title")),
        target=candidate,
        role=role.value,
        session_id=token_digest(token),
        session_claims={
            "message_type": launch.message_type,
            "return_url": presentation.get("return_url"),
            "document_target": presentation.get("document_target"),
            "ags": launch.claim(claims.AGS_ENDPOINT),
            "nrps": launch.claim(claims.NRPS),
            "deep_linking": launch.claim(claims.DEEP_LINKING_SETTINGS),
        },
        now=now,
        expires_at=now + timedelta(seconds=ttl),
    )
    written = write_launch(engine, launch_row)

    return RecordedLaunch(
        token=token,
        user_id=written.user_id,
        context_pk=written.context_pk,
        resource_link_pk=written.resource_link_pk,
        role=role,
    )


def display_name(launch: ValidatedLaunch) -> str:
    """The name to show: `name`, else given and family names; nothing else kept."""
    name = launch.claim("name") or " ".join(
        part
        for part in (launch.claim("given_name"), launch.claim("family_name"))
        if part
    )
    return clean_text(name)


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
