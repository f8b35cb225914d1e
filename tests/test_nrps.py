"""Rosters: Link-header paging and members as Moodle 4.5 and Canvas list them."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import responses

from lti_tool.lti.http import PlatformSession
from lti_tool.lti.keys import KeyRing
from lti_tool.lti.roles import ToolRole
from lti_tool.services.client import MAX_PAGES, ServiceClient, next_page_url
from lti_tool.services.errors import PlatformServiceError
from lti_tool.services.nrps import MEMBERSHIP_MEDIA, NRPS_SCOPE, fetch_members
from lti_tool.services.token import AccessTokens, ServiceAccount
from tests.services_helpers import MemoryStore, fixture

TOKEN_URL = "https://lms.example.edu/token"
# The recorded Moodle's and Canvas's service hosts, as ServiceAccount.of names them.
SERVICE_HOSTS = ("127.0.0.1:8081", "*.instructure.com:443")
CANVAS_ROSTER = "https://westfield.instructure.com/api/lti/courses/4821/names_and_roles"
MOODLE_ROSTER = (
    "http://127.0.0.1:8081/mod/lti/services.php/CourseSection/2/bindings/1/memberships"
)


@pytest.fixture
def client(keys_dir: Path) -> ServiceClient:
    tokens = AccessTokens(
        MemoryStore(), PlatformSession(5), KeyRing(keys_dir, timedelta(days=14))
    )
    account = ServiceAccount(1, "client-1", TOKEN_URL, TOKEN_URL, SERVICE_HOSTS)
    return ServiceClient(tokens, PlatformSession(5), account, [NRPS_SCOPE], "nrps")


def token_answer(mock: responses.RequestsMock) -> None:
    mock.post(TOKEN_URL, json={"access_token": "token-1", "expires_in": 3600})


# Link headers


def test_next_url_from_canvas_link_header_is_taken_exactly() -> None:
    header = fixture("canvas/nrps-page1-headers.json")["headers"]["Link"]

    assert next_page_url(header) == CANVAS_ROSTER + "?page=2&per_page=2"


@pytest.mark.parametrize(
    "header",
    [
        '<https://lms.example.edu/Roster?Page=2&Key=AbC>; rel="next"',
        "<https://lms.example.edu/Roster?Page=2&Key=AbC>; rel=next",
        '<https://lms.example.edu/Roster?Page=2&Key=AbC>; REL="Next"',
        '<https://lms.example.edu/Roster?Page=1>; rel="first", '
        '<https://lms.example.edu/Roster?Page=2&Key=AbC>;rel="next last"',
        '<https://lms.example.edu/Roster?Page=1>; rel="prev",\n '
        '<https://lms.example.edu/Roster?Page=2&Key=AbC>; title="x"; rel=next',
    ],
    ids=["quoted", "unquoted", "capitals", "several rels", "folded"],
)
def test_next_url_is_found_however_the_relation_is_written(header: str) -> None:
    assert next_page_url(header) == "https://lms.example.edu/Roster?Page=2&Key=AbC"


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        fixture("canvas/nrps-page1-headers.json")["page2_headers"]["Link"],
        '<https://lms.example.edu/nextgen>; rel="prev"',
    ],
)
def test_no_next_url_on_the_last_page(header: str | None) -> None:
    assert next_page_url(header) is None


# Members


def test_canvas_roster_is_read_over_both_pages(client: ServiceClient) -> None:
    page_one = fixture("canvas/nrps-page1.json")
    headers = fixture("canvas/nrps-page1-headers.json")
    page_two = fixture("canvas/nrps-page2.json")
    with responses.RequestsMock() as mock:
        token_answer(mock)
        mock.get(
            page_one["request"]["url"],
            json=page_one["body"],
            headers={"Link": headers["headers"]["Link"]},
        )
        mock.get(
            page_two["request"]["url"],
            json=page_two["body"],
            headers={"Link": headers["page2_headers"]["Link"]},
        )
        members = fetch_members(client, page_one["request"]["url"])
        roster_calls = mock.calls[1:]

    assert [m.name for m in members] == [
        "Dr. Maya Okafor",
        "Jordan Rivera",
        "Priya Natarajan",
        "Sam Lee",
    ]
    assert [m.role for m in members] == [
        ToolRole.COORDINATOR,
        ToolRole.LEARNER,
        ToolRole.COORDINATOR,
        ToolRole.LEARNER,
    ]
    assert members[1].user_id == "5d8f2b6e-91c4-4a7d-b3e0-6f1a9c2d7e48"
    assert all(c.request.headers["Accept"] == MEMBERSHIP_MEDIA for c in roster_calls)
    assert all(
        c.request.headers["Authorization"] == "Bearer token-1" for c in roster_calls
    )
    assert not any(hasattr(m, "email") for m in members)


def test_moodle_short_role_names_map_to_tool_roles(client: ServiceClient) -> None:
    body = fixture("moodle-4.5/nrps-memberships.json")
    with responses.RequestsMock() as mock:
        token_answer(mock)
        mock.get(MOODLE_ROSTER, json=body)
        members = fetch_members(client, MOODLE_ROSTER)

    assert [(m.name, m.role, m.roles) for m in members] == [
        ("Sara Scholar", ToolRole.LEARNER, ("Learner",)),
        ("Sam Student", ToolRole.LEARNER, ("Learner",)),
        ("Tina Teacher", ToolRole.COORDINATOR, ("Instructor",)),
    ]


def test_a_person_listed_on_two_pages_appears_once(client: ServiceClient) -> None:
    member = {"user_id": "u1", "name": "Ana", "roles": ["Learner"], "status": "Active"}
    with responses.RequestsMock() as mock:
        token_answer(mock)
        mock.get(
            MOODLE_ROSTER,
            json={"members": [member]},
            headers={"Link": f"<{MOODLE_ROSTER}?page=2>; rel=next"},
        )
        mock.get(MOODLE_ROSTER + "?page=2", json={"members": [member]})
        members = fetch_members(client, MOODLE_ROSTER)

    assert [m.user_id for m in members] == ["u1"]


def test_a_page_linking_to_itself_does_not_loop(client: ServiceClient) -> None:
    with responses.RequestsMock() as mock:
        token_answer(mock)
        mock.get(
            MOODLE_ROSTER,
            json={"members": []},
            headers={"Link": f"<{MOODLE_ROSTER}>; rel=next"},
        )
        fetch_members(client, MOODLE_ROSTER)
        roster_calls = [c for c in mock.calls if c.request.url == MOODLE_ROSTER]

    assert len(roster_calls) == 1


def test_paging_stops_at_the_page_limit(client: ServiceClient) -> None:
    def endless(request: Any) -> tuple[int, dict[str, str], str]:
        base, number = request.url.rsplit("=", 1)
        return 200, {"Link": f"<{base}={int(number) + 1}>; rel=next"}, '{"members": []}'

    with responses.RequestsMock() as mock:
        token_answer(mock)
        pattern = re.compile(re.escape(MOODLE_ROSTER) + r"\?page=\d+")
        mock.add_callback(responses.GET, pattern, callback=endless)
        fetch_members(client, MOODLE_ROSTER + "?page=1")
        pages = len(mock.calls) - 1

    assert pages == MAX_PAGES


def test_a_roster_answer_without_members_is_an_error(client: ServiceClient) -> None:
    with responses.RequestsMock() as mock:
        token_answer(mock)
        mock.get(MOODLE_ROSTER, json={"id": MOODLE_ROSTER})
        with pytest.raises(PlatformServiceError, match="no members"):
            fetch_members(client, MOODLE_ROSTER)


def test_a_roster_the_platform_refuses_says_why(client: ServiceClient) -> None:
    with responses.RequestsMock() as mock:
        mock.post(
            TOKEN_URL,
            status=400,
            json={
                "error": "invalid_scope",
                "error_description": "contextmembership.readonly not granted",
            },
        )
        with pytest.raises(PlatformServiceError) as raised:
            fetch_members(client, MOODLE_ROSTER)

    assert raised.value.describe() == (
        "the platform refused an access token "
        "(HTTP 400: invalid_scope: contextmembership.readonly not granted)"
    )
