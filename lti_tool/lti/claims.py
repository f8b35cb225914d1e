"""LTI 1.3 claim names and message types, and what makes a claim value usable."""

from __future__ import annotations

LTI = "https://purl.imsglobal.org/spec/lti/claim/"

MESSAGE_TYPE = LTI + "message_type"
VERSION = LTI + "version"
DEPLOYMENT_ID = LTI + "deployment_id"
TARGET_LINK_URI = LTI + "target_link_uri"
RESOURCE_LINK = LTI + "resource_link"
CONTEXT = LTI + "context"
ROLES = LTI + "roles"
CUSTOM = LTI + "custom"
LAUNCH_PRESENTATION = LTI + "launch_presentation"
TOOL_PLATFORM = LTI + "tool_platform"
AGS_ENDPOINT = "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"
NRPS = "https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice"
DEEP_LINKING_SETTINGS = (
    "https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings"
)

RESOURCE_LINK_REQUEST = "LtiResourceLinkRequest"
DEEP_LINKING_REQUEST = "LtiDeepLinkingRequest"


# LTI caps identifiers (sub, context and resource link ids) at 255 characters.
MAX_IDENTIFIER = 255


def is_identifier(value: object, max_length: int = MAX_IDENTIFIER) -> bool:
    """Text a database can store and match: 1 to max_length characters, no NUL,
    and valid Unicode (a lone surrogate cannot be encoded as UTF-8)."""
    if not isinstance(value, str) or not 0 < len(value) <= max_length:
        return False
    if "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def clean_text(value: object, max_length: int = 255) -> str:
    """Display text from a launch (a name, a title), made storable and cut short.

    NUL characters are dropped and invalid Unicode replaced, so an odd value
    shows oddly rather than failing the launch.
    """
    if not isinstance(value, str):
        return ""
    text = value.replace("\x00", "")
    text = text.encode("utf-8", errors="replace").decode("utf-8")
    return text[:max_length]
