"""Service URLs from launches: only the platform's own hosts, no redirects, and
no platform answer from an unknown host shown to a coordinator (pen test M1)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import responses

from lti_tool.lti.claims import NRPS
from lti_tool.lti.http import PlatformSession
from lti_tool.lti.keys import KeyRing
from lti_tool.models import Registration
from lti_tool.services.ags import AgsClient
from lti_tool.services.client import ServiceClient
from lti_tool.services.errors import PlatformServiceError
from lti_tool.services.nrps import MEMBERSHIP_MEDIA, NRPS_SCOPE, fetch_members
from lti_tool.services.token import AccessTokens, ServiceAccount
from tests.platform import INSTRUCTOR, LTI
from tests.services_helpers import MemoryStore
from tests.test_ags import a_score

MOODLE = Registration(
    id=1,
    issuer="http://127.0.0.1:8081",
    client_id="moodle-client",
    auth_login_url="http://127.0.0.1:8081/mod/lti/auth.php",
    auth_token_url="http://127.0.0.1:8081/mod/lti/token.php",
    key_set_url="http://127.0.0.1:8081/mod/lti/certs.php",
)
CANVAS = Registration(
    id=2,
    issuer="https://canvas.instructure.com",
    client_id="170000000000123",
    auth_login_url="https://sso.canvaslms.com/api/lti/authorize_redirect",
    auth_token_url="https://sso.canvaslms.com/login/oauth2/token",
    key_set_url="https://sso.canvaslms.com/api/lti/security/jwks",
)
MOODLE_ROSTER = "http://127.0.0.1:8081/mod/lti/services.php/CourseSection/2/memberships"
FOREIGN = "http://127.0.0.1:9999/internal/admin"


def test_a_registration_allows_its_own_hosts_and_canvas_its_school_domains():
    moodle, canvas = ServiceAccount.of(MOODLE), ServiceAccount.of(CANVAS)

    assert moodle.allows(MOODLE_ROSTER)
    # Same address, another port: another service, not the platform's.
    assert not moodle.allows(FOREIGN)
    assert not moodle.allows("https://127.0.0.1/mod/lti/services.php")
    assert not moodle.allows("http://user:pw@127.0.0.1:8081/x")
    assert not moodle.allows("file:///etc/passwd")
    assert canvas.allows("https://westfield.instructure.com/api/lti/courses/1/x")
    assert canvas.allows("https://sso.canvaslms.com/login/oauth2/token")
    assert not canvas.allows("http://westfield.instructure.com/api/lti/x")
    assert not canvas.allows("https://evilinstructure.com/api/lti/x")
    assert not canvas.allows("https://169.254.169.254/latest/meta-data/")


def service_client(keys_dir: Path, service: str = "nrps") -> ServiceClient:
    tokens = AccessTokens(
        MemoryStore(), PlatformSession(5), KeyRing(keys_dir, timedelta(days=14))
    )
    return ServiceClient(
        tokens, PlatformSession(5), ServiceAccount.of(MOODLE), [NRPS_SCOPE], service
    )


def token_answer(mock: responses.RequestsMock) -> None:
    mock.post(MOODLE.auth_token_url, json={"access_token": "t-1", "expires_in": 3600})


def test_a_roster_url_on_a_foreign_host_is_refused_without_any_request(keys_dir):
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        token_answer(mock)
        with pytest.raises(PlatformServiceError) as refused:
            fetch_members(service_client(keys_dir), FOREIGN)

        # Not even a token was fetched for it.
        assert len(mock.calls) == 0
    assert refused.value.reason == "host_refused"
    assert not refused.value.is_transient


def test_a_line_item_url_on_a_foreign_host_is_refused_without_any_request(keys_dir):
    ags = AgsClient(service_client(keys_dir, "ags"))
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        token_answer(mock)
        with pytest.raises(PlatformServiceError) as refused:
            ags.publish_score(FOREIGN + "/lineitems/1", a_score())

        assert len(mock.calls) == 0
    assert refused.value.reason == "host_refused"


def test_a_next_page_on_a_foreign_host_is_not_fetched(keys_dir):
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        token_answer(mock)
        mock.get(
            MOODLE_ROSTER,
            json={"members": [{"user_id": "u1", "roles": ["Learner"]}]},
            headers={"Link": f'<{FOREIGN}>; rel="next"'},
        )
        with pytest.raises(PlatformServiceError) as refused:
            fetch_members(service_client(keys_dir), MOODLE_ROSTER)

        assert [call.request.url for call in mock.calls] == [
            MOODLE.auth_token_url,
            MOODLE_ROSTER,
        ]
    assert refused.value.reason == "host_refused"


def test_a_redirect_from_a_service_is_not_followed(keys_dir):
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        token_answer(mock)
        mock.get(MOODLE_ROSTER, status=302, headers={"Location": FOREIGN})
        with pytest.raises(PlatformServiceError) as refused:
            fetch_members(service_client(keys_dir), MOODLE_ROSTER)

        assert [call.request.url for call in mock.calls] == [
            MOODLE.auth_token_url,
            MOODLE_ROSTER,
        ]
    assert (refused.value.reason, refused.value.status) == ("redirect_refused", 302)


def test_a_redirect_from_the_token_endpoint_is_not_followed(keys_dir):
    tokens = AccessTokens(
        MemoryStore(), PlatformSession(5), KeyRing(keys_dir, timedelta(days=14))
    )
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.post(MOODLE.auth_token_url, status=307, headers={"Location": FOREIGN})
        with pytest.raises(PlatformServiceError) as refused:
            tokens.get(ServiceAccount.of(MOODLE), [NRPS_SCOPE])

        assert len(mock.calls) == 1
    assert refused.value.reason == "redirect_refused"


def coordinator_roster(launcher: Any, memberships_url: str) -> Any:
    launched = launcher.launch_as(
        **{
            LTI + "roles": [INSTRUCTOR],
            NRPS: {
                "context_memberships_url": memberships_url,
                "service_versions": ["2.0"],
            },
        }
    )
    assert launched.status_code == 303, launched.text
    token = parse_qs(urlsplit(launched.headers["Location"]).query)["ls"][0]
    return launcher.client.get("/roster", query_string={"ls": token})


def test_the_roster_page_names_a_refused_host_by_code_only(
    launcher, platform, platform_http
):
    page = coordinator_roster(launcher, "https://attacker.example/members")

    assert page.status_code == 200, page.text
    assert "host_refused" in page.text
    assert "attacker.example" not in page.text
    assert not [c for c in platform_http.calls if "attacker" in c.request.url]


def test_the_roster_page_shows_the_status_but_not_the_body_of_a_failure(
    launcher, platform, platform_http
):
    roster_url = platform.issuer + "/api/memberships"
    platform_http.post(
        platform.auth_token_url, json={"access_token": "t-1", "expires_in": 3600}
    )
    platform_http.get(
        roster_url,
        status=500,
        body="root:x:0:0 internal-secret-body",
        content_type=MEMBERSHIP_MEDIA,
    )

    page = coordinator_roster(launcher, roster_url)

    assert "HTTP 500" in page.text and "platform_refused" in page.text
    assert "internal-secret-body" not in page.text
