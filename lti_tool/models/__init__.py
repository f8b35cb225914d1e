"""SQLAlchemy models, one module per part of the domain."""

from lti_tool.models.admin import AdminAccount
from lti_tool.models.base import Base
from lti_tool.models.certificates import Certificate, CertificateSignature, LegalName
from lti_tool.models.field import (
    FieldHours,
    SupportGroupAttendance,
    SupportGroupSession,
)
from lti_tool.models.grades import LineItem, ScoreOutbox
from lti_tool.models.hours import (
    ActivityProgress,
    HoursEntry,
    ProgramCompletion,
    StudyClock,
)
from lti_tool.models.paper import PaperSubmission
from lti_tool.models.people import Context, Membership, ResourceLink, User
from lti_tool.models.ratelimit import RateLimitWindow
from lti_tool.models.reflection import Reflection, WorkEvent
from lti_tool.models.registration import Deployment, LaunchFailure, Registration
from lti_tool.models.store import LaunchSession, StoreEntry
from lti_tool.models.work import KnowledgeCheckAttempt

__all__ = [
    "AdminAccount",
    "ActivityProgress",
    "HoursEntry",
    "KnowledgeCheckAttempt",
    "LineItem",
    "ScoreOutbox",
    "FieldHours",
    "PaperSubmission",
    "Reflection",
    "SupportGroupAttendance",
    "SupportGroupSession",
    "WorkEvent",
    "ProgramCompletion",
    "StudyClock",
    "Base",
    "Certificate",
    "CertificateSignature",
    "LegalName",
    "RateLimitWindow",
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
