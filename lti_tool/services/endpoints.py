"""Where a context's services live, as its launches told us.

Every launch session keeps the AGS and NRPS claims of its launch. A resource
link's own launches name its line item; any launch in the context names the
line-items container and the roster URL.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from lti_tool.models import Context, LaunchSession, Registration, ResourceLink
from lti_tool.services.ags import WANTED_SCOPES
from lti_tool.services.token import ServiceAccount

# Launch sessions read per lookup: the newest ones say everything needed.
RECENT_LAUNCHES = 50


@dataclass(frozen=True)
class AgsEndpoint:
    """The grade service of a context, and the line item a link's launch named."""

    line_items_url: str | None
    line_item_url: str | None
    offered_scopes: frozenset[str]

    @property
    def scopes(self) -> tuple[str, ...]:
        """The scopes to ask for: what we need, within what the platform offers."""
        return tuple(sorted(WANTED_SCOPES & self.offered_scopes))

    def allows(self, scope: str) -> bool:
        return scope in self.offered_scopes


def _recent_claims(session: Session, *conditions: Any) -> Iterable[dict[str, Any]]:
    query = (
        select(LaunchSession.claims)
        .where(*conditions)
        .order_by(LaunchSession.created_at.desc())
        .limit(RECENT_LAUNCHES)
    )
    return (claims or {} for claims in session.scalars(query))


def find_ags_endpoint(session: Session, link: ResourceLink) -> AgsEndpoint | None:
    """The link's newest AGS claim, else the context's; None if never offered."""
    for claims in _recent_claims(session, LaunchSession.resource_link_pk == link.id):
        endpoint = _ags_from(claims.get("ags"))
        if endpoint is not None:
            return endpoint
    for claims in _recent_claims(session, LaunchSession.context_pk == link.context_pk):
        endpoint = _ags_from(claims.get("ags"))
        if endpoint is not None and endpoint.line_items_url:
            # Another link's line item is not this link's.
            return AgsEndpoint(endpoint.line_items_url, None, endpoint.offered_scopes)
    return None


def find_memberships_url(session: Session, context_pk: int) -> str | None:
    """The context's roster URL from its newest launch that offered one."""
    for claims in _recent_claims(session, LaunchSession.context_pk == context_pk):
        nrps = claims.get("nrps")
        if isinstance(nrps, dict) and isinstance(
            nrps.get("context_memberships_url"), str
        ):
            return str(nrps["context_memberships_url"])
    return None


def _ags_from(claim: Any) -> AgsEndpoint | None:
    if not isinstance(claim, dict):
        return None
    line_items = claim.get("lineitems")
    line_item = claim.get("lineitem")
    scopes = claim.get("scope") or []
    if not isinstance(line_items, str) and not isinstance(line_item, str):
        return None
    return AgsEndpoint(
        line_items if isinstance(line_items, str) else None,
        line_item if isinstance(line_item, str) else None,
        frozenset(str(scope) for scope in scopes if isinstance(scope, str)),
    )


def registration_of(session: Session, context_pk: int) -> Registration:
    """The registration a context belongs to, through its deployment."""
    context = session.get(Context, context_pk)
    if context is None:
        raise LookupError(f"no context {context_pk}")
    return context.deployment.registration


def service_account(session: Session, context_pk: int) -> ServiceAccount:
    """The token-endpoint identity for a context's platform."""
    return ServiceAccount.of(registration_of(session, context_pk))
