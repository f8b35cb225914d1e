"""The one place LTI role URIs become the tool's roles: learner, coordinator, admin.

Course permissions come from context (membership) roles. Institution roles count
only when the launch carries no context role at all: Canvas sends a teacher's or
an administrator's institution roles even when they are a learner in this course.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

LIS = "http://purl.imsglobal.org/vocab/lis/v2/"


class ToolRole(StrEnum):
    LEARNER = "learner"
    COORDINATOR = "coordinator"
    ADMIN = "admin"


# Mentor is left out on purpose: Canvas sends course observers (often a
# participant's relatives) as Mentor, and reflections hold recovery stories.
_CONTEXT_COORDINATOR = {
    "Instructor",
    "TeachingAssistant",
    "Administrator",
    "ContentDeveloper",
    "Manager",
}
_CONTEXT_LEARNER = {"Learner", "Member"}
_INSTITUTION_COORDINATOR = {"Instructor", "Faculty", "Staff"}
_SYSTEM_ADMIN = {"Administrator", "SysAdmin"}


def _split(uri: str) -> tuple[str, str]:
    """(vocabulary, name) for long URIs, short names and sub-roles alike."""
    if uri.startswith(LIS):
        vocabulary, _, rest = uri.removeprefix(LIS).partition("#")
        # Sub-roles (membership/Instructor#TeachingAssistant) name the principal
        # role in the path; the fragment is the specific sub-role.
        if "/" in vocabulary:
            vocabulary, principal = vocabulary.split("/", 1)
            return vocabulary, rest or principal
        return vocabulary, rest
    # Short forms ("Learner", "Instructor") are context roles per LTI 1.3 §A.2.3.
    return "membership", uri.rsplit("#", 1)[-1]


def tool_role(role_uris: Iterable[str]) -> ToolRole:
    """Map a launch's roles claim to the tool's role."""
    by_vocabulary: dict[str, set[str]] = {}
    for uri in role_uris:
        if not isinstance(uri, str):
            continue
        vocabulary, name = _split(uri)
        by_vocabulary.setdefault(vocabulary, set()).add(name)

    if by_vocabulary.get("system", set()) & _SYSTEM_ADMIN:
        return ToolRole.ADMIN
    context_roles = by_vocabulary.get("membership", set())
    if context_roles & _CONTEXT_COORDINATOR:
        return ToolRole.COORDINATOR
    if context_roles:
        return ToolRole.LEARNER
    if by_vocabulary.get("institution", set()) & _INSTITUTION_COORDINATOR:
        return ToolRole.COORDINATOR
    return ToolRole.LEARNER
