"""LTI role and service-scope URIs the sandbox puts into its messages."""

from __future__ import annotations

from enum import StrEnum

LTI_CLAIM = "https://purl.imsglobal.org/spec/lti/claim/"
AGS_ENDPOINT_CLAIM = "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"
NRPS_CLAIM = "https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice"
DEEP_LINKING_SETTINGS_CLAIM = (
    "https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings"
)
COURSE_OFFERING = "http://purl.imsglobal.org/vocab/lis/v2/course#CourseOffering"


class Role(StrEnum):
    """Context and institution roles from the LIS v2 vocabulary."""

    LEARNER = "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"
    INSTRUCTOR = "http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"
    INSTITUTION_STUDENT = (
        "http://purl.imsglobal.org/vocab/lis/v2/institution/person#Student"
    )
    INSTITUTION_INSTRUCTOR = (
        "http://purl.imsglobal.org/vocab/lis/v2/institution/person#Instructor"
    )


class AgsScope(StrEnum):
    """Assignment and Grade Services scopes the sandbox grants the tool."""

    LINE_ITEM = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem"
    LINE_ITEM_READONLY = (
        "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem.readonly"
    )
    RESULT_READONLY = "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly"
    SCORE = "https://purl.imsglobal.org/spec/lti-ags/scope/score"


NRPS_SCOPE = "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"
