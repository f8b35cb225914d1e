"""The tool launched from the sandbox LMS over real HTTP, one browser per person."""

from __future__ import annotations

import html
from typing import Any

import pytest
import requests
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from lti_tool.models import (
    Context,
    LaunchFailure,
    LaunchSession,
    Membership,
    ResourceLink,
    User,
)
from lti_tool.sandbox import PSS_MODULE_ID
from lti_tool.sandbox.demo import find_person
from tests.integration_http import Browser, read_page, submit
from tests.integration_sandbox_user import SandboxUser
from tests.live import LiveSetup

PSS_TITLE = "Medi-Cal Peer Support Specialist Training"
PCFM_TITLE = "Parent, Caregiver, and Family Member Peer Specialization"


def _user(live: LiveSetup, person: str, browser: Browser | None = None) -> SandboxUser:
    return SandboxUser(live.sandbox_url, live.tool_url, person, browser)


def _rows(engine: Engine, model: type) -> list[Any]:
    with Session(engine) as session:
        return list(session.scalars(select(model).order_by(model.id)))


def _membership_roles(engine: Engine) -> dict[str, str]:
    query = select(User.name, Membership.role).join(
        Membership, Membership.user_id == User.id
    )
    with engine.connect() as connection:
        return {name: role for name, role in connection.execute(query)}


def _link_targets(engine: Engine) -> dict[str, str]:
    query = select(ResourceLink.title, ResourceLink.target)
    with engine.connect() as connection:
        return {title: target for title, target in connection.execute(query)}


def _refused(response: requests.Response, reason: str) -> None:
    assert 400 <= response.status_code < 500, response.status_code
    assert f"Reason code: {reason}" in response.text
    assert "Traceback" not in response.text


def test_learner_launch_from_sandbox_lands_on_program_with_name(live, engine):
    page = _user(live, "learner").land("pss-cohort", "pss-program")

    assert PSS_TITLE in page.text
    assert "Alex Rivera" in page.text
    assert "(participant)" in page.text
    learner = find_person("learner")
    assert learner is not None
    (user,) = _rows(engine, User)
    assert (user.issuer, user.sub, user.name) == (
        live.sandbox.issuer,
        learner.sub,
        "Alex Rivera",
    )
    assert _membership_roles(engine) == {"Alex Rivera": "learner"}
    (context,) = _rows(engine, Context)
    assert context.title == "PSS Cohort (demo)"
    assert _link_targets(engine) == {"Peer Support Specialist program": "pss"}


def test_coordinator_launch_from_sandbox_lands_on_program_as_coordinator(live, engine):
    page = _user(live, "coordinator").land("pss-cohort", "pss-program")

    assert PSS_TITLE in page.text
    assert "Jordan Lee" in page.text
    assert "(coordinator)" in page.text
    assert _membership_roles(engine) == {"Jordan Lee": "coordinator"}


def test_unset_link_waits_for_coordinator_then_opens_the_chosen_program(live, engine):
    learner = _user(live, "learner")
    coordinator = _user(live, "coordinator")

    waiting = learner.land("pss-cohort", "not-set-up")
    assert "not set up yet" in waiting.text
    assert _link_targets(engine) == {"Not set up yet": ""}

    choose = coordinator.land("pss-cohort", "not-set-up").only_form()
    assert {"pcfm", "pss", f"pss/{PSS_MODULE_ID}"} <= set(choose.choices["target"])
    assert choose.values["csrf_token"] and choose.values["ls"]
    chosen = submit(coordinator.browser, choose, target="pcfm")
    assert chosen.status_code == 303, chosen.text
    confirmed = coordinator.browser.follow(chosen)
    assert confirmed.status_code == 200
    assert PCFM_TITLE in confirmed.text
    assert _link_targets(engine) == {"Not set up yet": "pcfm"}

    # The learner's browser kept lti_cookies_ok, so this login is a plain 302.
    assert learner.browser.has_cookie("lti_cookies_ok")
    again = learner.land("pss-cohort", "not-set-up")
    assert learner.login_statuses == [200, 302]
    assert PCFM_TITLE in again.text
    assert "(participant)" in again.text


def test_choose_form_refuses_a_wrong_csrf_token(live, engine):
    coordinator = _user(live, "coordinator")
    choose = coordinator.land("pss-cohort", "not-set-up").only_form()

    refused = submit(coordinator.browser, choose, target="pss", csrf_token="forged")

    _refused(refused, "not_permitted")
    assert _link_targets(engine) == {"Not set up yet": ""}


def test_module_link_lands_on_the_module(live, engine):
    found = live.tool_app.extensions["catalog"].find_target(f"pss/{PSS_MODULE_ID}")
    assert found is not None
    _program, module = found

    page = _user(live, "learner").land("pss-cohort", "pss-module")

    assert PSS_TITLE in page.text
    assert f"Module: {html.escape(module.title)}" in page.text
    assert _link_targets(engine) == {
        "PSS module: why peer support": f"pss/{PSS_MODULE_ID}"
    }


def test_link_with_target_only_in_launch_url_lands_on_pcfm(live, engine):
    page = _user(live, "learner").land("pcfm-cohort", "pcfm-canvas-style")

    assert PCFM_TITLE in page.text
    assert _link_targets(engine) == {
        "PCFM program (target in the launch URL only)": "pcfm"
    }


def test_replay_of_a_used_launch_from_another_browser_is_refused(live, engine):
    victim = _user(live, "learner")
    launch = victim.launch("pss-cohort", "pss-program")
    assert launch.response.status_code == 303

    replay = Browser().post(
        live.tool_url + "/lti/launch",
        data={"id_token": launch.id_token, "state": launch.state},
    )

    _refused(replay, "state_invalid")
    assert replay.status_code == 400
    assert "ls=" not in replay.headers.get("Location", "")
    assert len(_rows(engine, LaunchSession)) == 1
    assert [row.reason for row in _rows(engine, LaunchFailure)] == ["state_invalid"]


def test_launch_stolen_before_use_is_refused_and_leaves_the_owner_able(live, engine):
    owner = _user(live, "learner")
    form = owner.authorize("pss-cohort", "pss-program")

    stolen = submit(Browser(), form)
    _refused(stolen, "state_cookie_missing")

    own = submit(owner.browser, form)
    assert own.status_code == 303, own.text
    assert len(_rows(engine, LaunchSession)) == 1


def test_launch_without_state_cookie_gets_a_refusal_page(live, engine):
    learner = _user(live, "learner")
    form = learner.authorize("pss-cohort", "pss-program")
    assert learner.browser.drop_cookies("lti_state_") == 1

    response = submit(learner.browser, form)

    _refused(response, "state_cookie_missing")
    assert _rows(engine, LaunchSession) == []


def test_launch_through_platform_storage_when_tool_cookies_are_blocked(live, engine):
    blocked = Browser(blocked_cookie_hosts=("localhost",))
    learner = _user(live, "learner", blocked)
    form = learner.authorize("pss-cohort", "pss-program", storage=True)
    assert not any(cookie.name.startswith("lti_") for cookie in learner.browser.cookies)
    assert learner.login_page is not None
    login = learner.login_page.elements["lti-login"]
    assert login["data-mode"] == "storage"
    assert login["data-platform-origin"] == live.sandbox_url

    asked = submit(learner.browser, form)
    assert asked.status_code == 200, asked.text
    storage_form = read_page(asked).only_form()
    assert storage_form.action == live.tool_url + "/lti/launch/storage"
    assert storage_form.attrs["data-storage-key"] == login["data-storage-key"]
    # What launch-storage.js does: fetch the secret back from the platform frame.
    launched = submit(
        learner.browser, storage_form, browser_secret=login["data-browser-secret"]
    )

    assert launched.status_code == 303, launched.text
    assert "lti_cookies_ok" not in launched.headers.get("Set-Cookie", "")
    landing = learner.browser.follow(launched)
    assert landing.status_code == 200
    assert PSS_TITLE in landing.text


@pytest.mark.parametrize("secret", ["", "not-the-secret"])
def test_platform_storage_launch_with_wrong_secret_is_refused(live, engine, secret):
    blocked = Browser(blocked_cookie_hosts=("localhost",))
    learner = _user(live, "learner", blocked)
    form = learner.authorize("pss-cohort", "pss-program", storage=True)
    storage_form = read_page(submit(learner.browser, form)).only_form()

    response = submit(learner.browser, storage_form, browser_secret=secret)

    _refused(response, "state_invalid")
    assert _rows(engine, LaunchSession) == []
