"""Deep linking: the picker and its signed answer, for Moodle and Canvas settings."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jwt
import pytest
from jwt.algorithms import RSAAlgorithm

from lti_tool.content.loader import load_catalog
from lti_tool.lti.keys import KeyRing
from lti_tool.models import Registration
from lti_tool.sandbox import PSS_MODULE_ID
from lti_tool.services.deep_linking import (
    DATA_CLAIM,
    DeepLinkingSettings,
    response_jwt,
)
from lti_tool.services.targets import Target, find_target
from lti_tool.settings import PROJECT_ROOT
from tests.platform import INSTRUCTOR, LEARNER, LTI
from tests.services_helpers import fixture

DL_SETTINGS = "https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings"
CONTENT_ITEMS = "https://purl.imsglobal.org/spec/lti-dl/claim/content_items"
MESSAGE = "https://purl.imsglobal.org/spec/lti-dl/claim/msg"
BASE_URL = "https://training.example.org"
MOODLE = fixture("moodle-4.5/launch-deep-linking-request.json")["payload"][DL_SETTINGS]
CANVAS = fixture("canvas/launch-deep-linking-request.json")["claims"][DL_SETTINGS]


@pytest.fixture(scope="module")
def catalog() -> Any:
    return load_catalog(PROJECT_ROOT / "content")


@pytest.fixture
def ring(keys_dir: Path) -> KeyRing:
    return KeyRing(keys_dir, timedelta(days=14))


def target(catalog: Any, name: str) -> Target:
    found = find_target(catalog, name)
    assert found is not None
    return found


def registration() -> Registration:
    return Registration(issuer="http://127.0.0.1:8081", client_id="n9Dm4XeRJBumHRs")


def verified(ring: KeyRing, token: str) -> dict[str, Any]:
    kid = jwt.get_unverified_header(token)["kid"]
    (jwk,) = [key for key in ring.jwks()["keys"] if key["kid"] == kid]
    claims: dict[str, Any] = jwt.decode(
        token,
        RSAAlgorithm.from_jwk(json.dumps(jwk)),
        algorithms=["RS256"],
        audience="http://127.0.0.1:8081",
        issuer="n9Dm4XeRJBumHRs",
    )
    return claims


# Settings


def test_moodle_settings_accept_several_links_and_send_no_data() -> None:
    settings = DeepLinkingSettings.from_claim(MOODLE)

    assert settings is not None
    assert settings.accepts_links and settings.accept_multiple
    assert not settings.auto_create and not settings.has_data
    assert settings.return_url.startswith(
        "http://127.0.0.1:8081/mod/lti/contentitem_return.php"
    )


def test_canvas_settings_accept_one_link() -> None:
    settings = DeepLinkingSettings.from_claim(CANVAS)

    assert settings is not None
    assert settings.accepts_links and not settings.accept_multiple


def test_flags_written_as_strings_are_understood() -> None:
    settings = DeepLinkingSettings.from_claim(
        {**MOODLE, "accept_multiple": "false", "auto_create": "true"}
    )

    assert settings is not None
    assert not settings.accept_multiple and settings.auto_create


def test_a_claim_without_a_return_url_is_not_deep_linking() -> None:
    assert DeepLinkingSettings.from_claim({"accept_types": ["ltiResourceLink"]}) is None
    assert DeepLinkingSettings.from_claim(None) is None


# The signed answer


def test_answer_is_signed_with_our_current_key_and_names_each_target_twice(
    catalog: Any, ring: KeyRing
) -> None:
    settings = DeepLinkingSettings.from_claim(MOODLE)
    assert settings is not None
    chosen = [target(catalog, "pss"), target(catalog, f"pss/{PSS_MODULE_ID}")]

    token = response_jwt(
        registration(), "1", settings, chosen, ring.current(), BASE_URL
    )
    claims = verified(ring, token)

    assert jwt.get_unverified_header(token)["kid"] == ring.current().kid
    assert claims[LTI + "message_type"] == "LtiDeepLinkingResponse"
    assert claims[LTI + "version"] == "1.3.0"
    assert claims[LTI + "deployment_id"] == "1"
    assert claims["nonce"]
    assert DATA_CLAIM not in claims
    program, module = claims[CONTENT_ITEMS]
    assert program == {
        "type": "ltiResourceLink",
        "title": "Medi-Cal Peer Support Specialist Training",
        "url": f"{BASE_URL}/lti/launch?target=pss",
        "custom": {"target": "pss"},
        "lineItem": {
            "scoreMaximum": 100.0,
            "label": "Medi-Cal Peer Support Specialist Training",
            "resourceId": "pss",
            "tag": "hours",
        },
    }
    assert module["custom"] == {"target": f"pss/{PSS_MODULE_ID}"}
    assert module["url"] == f"{BASE_URL}/lti/launch?target=pss/{PSS_MODULE_ID}"
    assert module["lineItem"]["resourceId"] == f"pss/{PSS_MODULE_ID}"
    assert module["lineItem"]["scoreMaximum"] == chosen[1].planned_hours
    assert claims[MESSAGE] == (
        "Added Medi-Cal Peer Support Specialist Training, " + chosen[1].title
    )


def test_the_message_for_many_items_stays_short(catalog: Any, ring: KeyRing) -> None:
    settings = DeepLinkingSettings.from_claim(MOODLE)
    assert settings is not None
    program = catalog.program("pss")
    every_module = [target(catalog, f"pss/{m.id}") for m in program.modules]

    claims = verified(
        ring,
        response_jwt(
            registration(), "1", settings, every_module, ring.current(), BASE_URL
        ),
    )

    assert len(claims[CONTENT_ITEMS]) == len(program.modules)
    assert 0 < len(claims[MESSAGE]) <= 200


def test_the_platforms_data_comes_back_unchanged(catalog: Any, ring: KeyRing) -> None:
    settings = DeepLinkingSettings.from_claim({**MOODLE, "data": {"opaque": [1, "x"]}})
    assert settings is not None

    claims = verified(
        ring,
        response_jwt(registration(), "1", settings, [], ring.current(), BASE_URL),
    )

    assert claims[DATA_CLAIM] == {"opaque": [1, "x"]}
    assert claims[CONTENT_ITEMS] == []


def test_two_items_are_refused_where_one_is_accepted(
    catalog: Any, ring: KeyRing
) -> None:
    settings = DeepLinkingSettings.from_claim(CANVAS)
    assert settings is not None
    two = [target(catalog, "pss"), target(catalog, "pcfm")]

    with pytest.raises(ValueError, match="one item"):
        response_jwt(registration(), "1", settings, two, ring.current(), BASE_URL)


def test_links_are_refused_where_the_platform_accepts_none(
    catalog: Any, ring: KeyRing
) -> None:
    settings = DeepLinkingSettings.from_claim({**MOODLE, "accept_types": ["file"]})
    assert settings is not None

    with pytest.raises(ValueError, match="resource links"):
        response_jwt(
            registration(),
            "1",
            settings,
            [target(catalog, "pss")],
            ring.current(),
            BASE_URL,
        )


# The picker, after a deep-linking launch


def deep_linking_launch(launcher: Any, settings: dict[str, Any], role: str) -> Any:
    return launcher.launch_as(
        **{
            LTI + "message_type": "LtiDeepLinkingRequest",
            LTI + "resource_link": None,
            LTI + "custom": None,
            LTI + "roles": [role],
            DL_SETTINGS: settings,
        }
    )


def open_picker(launcher: Any, settings: dict[str, Any], role: str = INSTRUCTOR) -> Any:
    landing = deep_linking_launch(launcher, settings, role)
    assert landing.status_code == 303, landing.text
    assert urlsplit(landing.headers["Location"]).path == "/deep-linking"
    return launcher.client.get(landing.headers["Location"])


def form_fields(page: Any) -> dict[str, str]:
    return dict(re.findall(r'name="(ls|csrf_token)" value="([^"]*)"', page.text))


def test_coordinator_gets_checkboxes_when_several_are_accepted(launcher: Any) -> None:
    page = open_picker(launcher, MOODLE)

    assert page.status_code == 200
    assert 'type="checkbox"' in page.text and 'type="radio"' not in page.text
    assert f'value="pss/{PSS_MODULE_ID}"' in page.text
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]


def test_coordinator_gets_one_choice_when_one_is_accepted(launcher: Any) -> None:
    page = open_picker(launcher, CANVAS)

    assert 'type="radio"' in page.text and 'type="checkbox"' not in page.text


def test_learner_is_not_shown_the_picker(launcher: Any) -> None:
    page = open_picker(launcher, MOODLE, role=LEARNER)

    assert page.status_code == 403


def test_choice_posts_the_signed_answer_to_the_return_url(
    launcher: Any, ring: KeyRing
) -> None:
    page = open_picker(launcher, MOODLE)
    fields = form_fields(page)

    answer = launcher.client.post(
        "/deep-linking", data={**fields, "target": ["pss", "pcfm"]}
    )

    assert answer.status_code == 200
    action = re.search(
        r'<form id="deep-linking-return" method="post" action="([^"]+)"', answer.text
    )
    assert action is not None
    assert action.group(1).replace("&amp;", "&") == MOODLE["deep_link_return_url"]
    token = re.search(r'name="JWT" value="([^"]+)"', answer.text)
    assert token is not None
    claims = jwt.decode(token.group(1), options={"verify_signature": False})
    assert [item["custom"]["target"] for item in claims[CONTENT_ITEMS]] == [
        "pss",
        "pcfm",
    ]
    assert '<script src="/static/js/deep-linking-return.js"></script>' in answer.text
    assert "<script>" not in answer.text


def test_cancel_answers_with_no_items(launcher: Any) -> None:
    fields = form_fields(open_picker(launcher, MOODLE))

    answer = launcher.client.post("/deep-linking", data={**fields, "cancel": "1"})

    token = re.search(r'name="JWT" value="([^"]+)"', answer.text)
    assert token is not None
    claims = jwt.decode(token.group(1), options={"verify_signature": False})
    assert claims[CONTENT_ITEMS] == []


@pytest.mark.parametrize(
    ("settings", "extra"),
    [
        (CANVAS, {"target": ["pss", "pcfm"]}),
        (MOODLE, {"target": ["pss/no-such-module"]}),
        (MOODLE, {}),
        (MOODLE, {"target": ["pss"], "csrf_token": "forged"}),
    ],
    ids=["two where one", "unknown target", "nothing chosen", "forged form"],
)
def test_bad_choices_are_refused(
    launcher: Any, settings: dict[str, Any], extra: dict[str, Any]
) -> None:
    fields = form_fields(open_picker(launcher, settings))

    answer = launcher.client.post("/deep-linking", data={**fields, **extra})

    assert answer.status_code == 403
    assert "JWT" not in answer.text


def test_the_picker_needs_a_deep_linking_launch(launcher: Any) -> None:
    landing = launcher.launch_as(**{LTI + "roles": [INSTRUCTOR]})

    page = launcher.client.get(
        "/deep-linking",
        query_string={"ls": landing.headers["Location"].split("ls=")[1]},
    )

    assert page.status_code == 403
