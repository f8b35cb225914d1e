"""SQLAlchemy models, one module per part of the domain."""

from lti_tool.models.admin import AdminAccount
from lti_tool.models.base import Base
from lti_tool.models.hours import (
    ActivityProgress,
    HoursEntry,
    ProgramCompletion,
    StudyClock,
)
from lti_tool.models.people import Context, Membership, ResourceLink, User
from lti_tool.models.registration import Deployment, LaunchFailure, Registration
from lti_tool.models.store import LaunchSession, StoreEntry
from lti_tool.models.work import KnowledgeCheckAttempt

__all__ = [
    "AdminAccount",
    "ActivityProgress",
    "HoursEntry",
    "KnowledgeCheckAttempt",
    "ProgramCompletion",
    "StudyClock",
    "Base",
    "Context",
    "Deployment",
    "LaunchFailure",
    "LaunchSession",
    "Membership",
    "Registration",
    "ResourceLink",
    "StoreEntry",
    "User",
]
