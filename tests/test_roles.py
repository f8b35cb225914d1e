"""Role mapping: context roles first, institution roles only without them."""

from __future__ import annotations

import pytest

from lti_tool.lti.roles import ToolRole, tool_role

LIS = "http://purl.imsglobal.org/vocab/lis/v2/"


@pytest.mark.parametrize(
    ("roles", "expected"),
    [
        ([LIS + "membership#Learner"], ToolRole.LEARNER),
        (["Learner"], ToolRole.LEARNER),
        ([LIS + "membership#Instructor"], ToolRole.COORDINATOR),
        (["Instructor"], ToolRole.COORDINATOR),
        ([LIS + "membership/Instructor#TeachingAssistant"], ToolRole.COORDINATOR),
        ([LIS + "membership#ContentDeveloper"], ToolRole.COORDINATOR),
        ([LIS + "membership#Mentor"], ToolRole.LEARNER),
        ([LIS + "membership/Learner#Learner", 7, None], ToolRole.LEARNER),
        ([LIS + "membership#Administrator"], ToolRole.COORDINATOR),
        ([LIS + "system/person#Administrator"], ToolRole.ADMIN),
        ([LIS + "institution/person#Instructor"], ToolRole.COORDINATOR),
        ([LIS + "institution/person#Student"], ToolRole.LEARNER),
        ([], ToolRole.LEARNER),
        (["http://example.com/unknown#Thing"], ToolRole.LEARNER),
    ],
)
def test_role_uris_map_to_tool_roles(roles, expected):
    assert tool_role(roles) is expected


def test_canvas_institution_admin_who_is_a_learner_here_stays_learner():
    roles = [
        LIS + "institution/person#Administrator",
        LIS + "institution/person#Instructor",
        LIS + "membership#Learner",
    ]
    assert tool_role(roles) is ToolRole.LEARNER


def test_moodle_instructor_roles_from_fixture_map_to_coordinator():
    import json
    from pathlib import Path

    fixture = Path(__file__).resolve().parent / "fixtures/moodle-4.5"
    launch = json.loads((fixture / "launch-instructor.json").read_text())
    roles = launch["payload"]["https://purl.imsglobal.org/spec/lti/claim/roles"]
    assert tool_role(roles) is ToolRole.COORDINATOR
