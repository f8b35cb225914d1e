"""Names and Role Provisioning Services 2.0: a context's whole roster.

https://www.imsglobal.org/spec/lti-nrps/v2p0 – pages are followed through the
`Link` header's `rel="next"` until there is none (LTI-NOTES case 23). Names are
read for display and never stored; e-mail addresses are not read at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lti_tool.lti.roles import ToolRole, tool_role
from lti_tool.services.client import ServiceClient
from lti_tool.services.errors import PlatformServiceError

MEMBERSHIP_MEDIA = "application/vnd.ims.lti-nrps.v2.membershipcontainer+json"
NRPS_SCOPE = "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"


@dataclass(frozen=True)
class Member:
    """One person in the context as the platform lists them."""

    user_id: str
    name: str
    roles: tuple[str, ...]
    status: str = "Active"

    @property
    def role(self) -> ToolRole:
        """The tool's role; short ("Learner") and long role names alike."""
        return tool_role(self.roles)

    @property
    def is_active(self) -> bool:
        return self.status.lower() == "active"

    @classmethod
    def from_json(cls, body: Any) -> Member | None:
        if not isinstance(body, dict) or not body.get("user_id"):
            return None
        name = body.get("name") or " ".join(
            str(part)
            for part in (body.get("given_name"), body.get("family_name"))
            if part
        )
        roles = body.get("roles") or []
        return cls(
            user_id=str(body["user_id"]),
            name=str(name or "")[:255],
            roles=tuple(str(role) for role in roles if isinstance(role, str)),
            status=str(body.get("status") or "Active"),
        )


def fetch_members(client: ServiceClient, memberships_url: str) -> list[Member]:
    """Every member over every page, once each, in the platform's order."""
    members: dict[str, Member] = {}
    for page in client.pages(memberships_url, accept=MEMBERSHIP_MEDIA):
        try:
            body = page.json()
        except ValueError:
            raise PlatformServiceError(
                "the roster answer is not JSON", url=page.url, transient=False
            ) from None
        entries = body.get("members") if isinstance(body, dict) else None
        if not isinstance(entries, list):
            raise PlatformServiceError(
                "the roster answer has no members list", url=page.url, transient=False
            )
        for entry in entries:
            member = Member.from_json(entry)
            # Canvas merges a person's enrolments; others may repeat them.
            if member is not None and member.user_id not in members:
                members[member.user_id] = member
    return list(members.values())
