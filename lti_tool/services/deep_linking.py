"""Deep linking 2.0: the signed answer that places programs and modules in a course.

pylti1p3 lays out the response message and its content items (DeepLink,
DeepLinkResource, LineItem); the tool signs it with its own current key, so the
`kid` is one the platform finds in our JWKS (pylti1p3 would derive another),
and leaves out `data` when the platform sent none instead of sending null.
https://www.imsglobal.org/spec/lti-dl/v2p0
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import jwt
from pylti1p3.deep_link import DeepLink
from pylti1p3.deep_link_resource import DeepLinkResource
from pylti1p3.lineitem import LineItem as LibraryLineItem
from pylti1p3.registration import Registration as LibraryRegistration

from lti_tool.launches import TARGET_PARAMETER
from lti_tool.lti.keys import ToolKey
from lti_tool.models import Registration
from lti_tool.services.ags import HOURS_TAG
from lti_tool.services.targets import Target

RESOURCE_LINK_TYPE = "ltiResourceLink"
DATA_CLAIM = "https://purl.imsglobal.org/spec/lti-dl/claim/data"
MESSAGE_CLAIM = "https://purl.imsglobal.org/spec/lti-dl/claim/msg"
# Platforms show the message in a banner; a whole program's modules would not fit.
MESSAGE_LIMIT = 200


def _flag(value: Any) -> bool:
    # Booleans in JSON, or "true"/"false" strings from older platforms.
    return value is True or str(value).lower() == "true"


@dataclass(frozen=True)
class DeepLinkingSettings:
    """The platform's deep_linking_settings claim, read defensively."""

    return_url: str
    accept_types: tuple[str, ...]
    accept_multiple: bool
    auto_create: bool
    has_data: bool
    data: Any = None
    title: str = ""

    @classmethod
    def from_claim(cls, claim: Any) -> DeepLinkingSettings | None:
        """None when the claim lacks a return URL (not a deep-linking launch)."""
        if not isinstance(claim, dict) or not isinstance(
            claim.get("deep_link_return_url"), str
        ):
            return None
        accept_types = claim.get("accept_types") or []
        if isinstance(accept_types, str):
            accept_types = accept_types.split(",")
        return cls(
            return_url=claim["deep_link_return_url"],
            accept_types=tuple(str(kind).strip() for kind in accept_types),
            accept_multiple=_flag(claim.get("accept_multiple", False)),
            auto_create=_flag(claim.get("auto_create", False)),
            has_data="data" in claim,
            data=claim.get("data"),
            title=str(claim.get("title") or ""),
        )

    @property
    def accepts_links(self) -> bool:
        return RESOURCE_LINK_TYPE in self.accept_types


def launch_url(base_url: str, target: Target) -> str:
    """The target link URI; Canvas keeps its query (LTI-NOTES case 27)."""
    return f"{base_url.rstrip('/')}/lti/launch?{TARGET_PARAMETER}={target.id}"


def content_item(target: Target, base_url: str) -> DeepLinkResource:
    """A resource link naming the target twice, with its grade-book column."""
    line_item = (
        LibraryLineItem()
        .set_score_maximum(target.planned_hours)
        .set_label(target.title)
        .set_resource_id(target.id)
        .set_tag(HOURS_TAG)
    )
    return (
        DeepLinkResource()
        .set_title(target.title)
        .set_url(launch_url(base_url, target))
        # Moodle keeps custom values but may drop the query: send both.
        .set_custom_params({TARGET_PARAMETER: target.id})
        .set_lineitem(line_item)
    )


def response_jwt(
    registration: Registration,
    deployment_id: str,
    settings: DeepLinkingSettings,
    targets: Sequence[Target],
    key: ToolKey,
    base_url: str,
) -> str:
    """The signed LtiDeepLinkingResponse for the chosen targets (none = cancel)."""
    if len(targets) > 1 and not settings.accept_multiple:
        raise ValueError("the platform accepts one item only")
    if targets and not settings.accepts_links:
        raise ValueError("the platform does not accept LTI resource links here")
    library_registration = (
        LibraryRegistration()
        .set_issuer(registration.issuer)
        .set_client_id(registration.client_id)
    )
    message = DeepLink(
        library_registration,
        deployment_id,
        {"deep_link_return_url": settings.return_url, "data": settings.data},
    ).get_message_jwt([content_item(target, base_url) for target in targets])
    if not settings.has_data:
        del message[DATA_CLAIM]
    if targets:
        titles = ", ".join(target.title for target in targets)
        message[MESSAGE_CLAIM] = f"Added {titles}"[:MESSAGE_LIMIT]
    return jwt.encode(
        message, key.private_pem, algorithm="RS256", headers={"kid": key.kid}
    )
