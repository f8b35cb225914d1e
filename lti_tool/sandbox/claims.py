"""The id_token of a resource-link launch: its claims and its signature."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import urlencode

import jwt

from lti_tool.sandbox.auth import AuthRequest
from lti_tool.sandbox.config import PLATFORM_NAME, SandboxConfig
from lti_tool.sandbox.keys import SigningKey
from lti_tool.sandbox.vocab import (
    AGS_ENDPOINT_CLAIM,
    COURSE_OFFERING,
    DEEP_LINKING_SETTINGS_CLAIM,
    LTI_CLAIM,
    NRPS_CLAIM,
    AgsScope,
)


def build_launch_claims(
    config: SandboxConfig,
    request: AuthRequest,
    now: int,
    *,
    line_item_url: str | None = None,
) -> dict[str, Any]:
    """All claims of an LtiResourceLinkRequest for the accepted auth request.

    `line_item_url` is the link's own grade-book column, when it has one (a
    link that deep linking created with a line item).
    """
    assert request.link is not None
    claims = {
        **_identity_claims(config, request, now),
        **_message_claims(config, request),
        **_service_claims(config, request),
    }
    if line_item_url:
        claims[AGS_ENDPOINT_CLAIM]["lineitem"] = line_item_url
    custom = request.link.custom()
    if custom:
        claims[LTI_CLAIM + "custom"] = custom
    return claims


def build_deep_linking_claims(
    config: SandboxConfig,
    request: AuthRequest,
    now: int,
    settings: dict[str, Any],
) -> dict[str, Any]:
    """An LtiDeepLinkingRequest: no resource link, the picker's settings instead."""
    claims = {
        **_identity_claims(config, request, now),
        **_message_claims(config, request),
        **_service_claims(config, request),
        DEEP_LINKING_SETTINGS_CLAIM: settings,
    }
    claims[LTI_CLAIM + "message_type"] = "LtiDeepLinkingRequest"
    del claims[LTI_CLAIM + "resource_link"]
    return claims


def sign_id_token(claims: dict[str, Any], key: SigningKey) -> str:
    """The claims as an RS256 JWT whose header names the key."""
    return jwt.encode(
        claims, key.private_key, algorithm="RS256", headers={"kid": key.kid}
    )


def platform_guid(config: SandboxConfig) -> str:
    """A stable id of this sandbox instance, derived from its issuer."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, config.issuer))


def return_url(config: SandboxConfig, request: AuthRequest) -> str:
    """Where the tool sends the user back; it has a query, as Moodle's does."""
    query = urlencode(
        {
            "course": request.course.course_id,
            "link": request.link.link_id if request.link else "",
            "user": request.person.key,
        }
    )
    return config.url(f"/return?{query}")


def _identity_claims(
    config: SandboxConfig, request: AuthRequest, now: int
) -> dict[str, Any]:
    # Moodle's id_tokens live 60 seconds; aud is a plain string, as both
    # Moodle and Canvas send it. No email: the tool must not need one.
    person = request.person
    return {
        "iss": config.issuer,
        "aud": request.client.client_id,
        "azp": request.client.client_id,
        "sub": person.sub,
        "iat": now,
        "exp": now + config.id_token_ttl_seconds,
        "nonce": request.nonce,
        "name": person.name,
        "given_name": person.given_name,
        "family_name": person.family_name,
    }


def _message_claims(config: SandboxConfig, request: AuthRequest) -> dict[str, Any]:
    course, link = request.course, request.link
    target_link_uri = request.client.target_link_uri
    return {
        LTI_CLAIM + "message_type": "LtiResourceLinkRequest",
        LTI_CLAIM + "version": "1.3.0",
        LTI_CLAIM + "deployment_id": request.client.deployment_id,
        LTI_CLAIM + "target_link_uri": (
            link.target_link_uri(target_link_uri) if link else target_link_uri
        ),
        LTI_CLAIM + "resource_link": {
            "id": link.resource_link_id if link else "",
            "title": link.title if link else "",
        },
        LTI_CLAIM + "context": {
            "id": course.context_id,
            "label": course.label,
            "title": course.title,
            "type": [COURSE_OFFERING],
        },
        LTI_CLAIM + "roles": [str(role) for role in request.person.roles],
        LTI_CLAIM + "launch_presentation": {
            "document_target": request.hint.document_target,
            "return_url": return_url(config, request),
            "locale": "en",
        },
        LTI_CLAIM + "tool_platform": {
            "name": PLATFORM_NAME,
            "product_family_code": "sandbox",
            "version": "1",
            "guid": platform_guid(config),
        },
    }


def _service_claims(config: SandboxConfig, request: AuthRequest) -> dict[str, Any]:
    course_path = f"/api/courses/{request.course.course_id}"
    return {
        AGS_ENDPOINT_CLAIM: {
            "scope": [str(scope) for scope in AgsScope],
            "lineitems": config.url(f"{course_path}/lineitems"),
        },
        NRPS_CLAIM: {
            "context_memberships_url": config.url(f"{course_path}/memberships"),
            "service_versions": ["2.0"],
        },
    }
