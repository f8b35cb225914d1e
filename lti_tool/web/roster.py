"""The coordinator's roster: everyone in the course, their hours and their grades."""

from __future__ import annotations

import logging

import requests
from flask import Blueprint, current_app, redirect, render_template, url_for
from werkzeug.wrappers import Response

from lti_tool import db
from lti_tool.launches import Visit
from lti_tool.lti.errors import NotPermitted
from lti_tool.services.client import ServiceClient, service_session
from lti_tool.services.endpoints import find_memberships_url
from lti_tool.services.errors import PlatformServiceError
from lti_tool.services.nrps import NRPS_SCOPE, Member, fetch_members
from lti_tool.services.outbox import mark_link_due, retry_failed
from lti_tool.services.roster import (
    failed_deliveries,
    participants_with_hours,
    roster_rows,
)
from lti_tool.services.targets import Target, find_target
from lti_tool.services.token import AccessTokens, ServiceAccount
from lti_tool.web.program import ROLE_LABELS, check_csrf, csrf_token, current_visit

log = logging.getLogger(__name__)
bp = Blueprint("roster", __name__)


def service_http() -> requests.Session:
    """One guarded session per app for calls to the URLs launches name."""
    extensions = current_app.extensions
    if "service_http" not in extensions:
        extensions["service_http"] = service_session(current_app.config["SETTINGS"])
    http: requests.Session = extensions["service_http"]
    return http


def access_tokens() -> AccessTokens:
    """One token cache per app, so a process asks for each token once."""
    extensions = current_app.extensions
    if "access_tokens" not in extensions:
        extensions["access_tokens"] = AccessTokens(
            extensions["store"], service_http(), extensions["key_ring"]
        )
    tokens: AccessTokens = extensions["access_tokens"]
    return tokens


def _coordinator_visit() -> Visit:
    visit = current_visit()
    if not visit.is_coordinator:
        raise NotPermitted("only a coordinator can see the course roster")
    return visit


def _target(visit: Visit) -> Target | None:
    link = visit.resource_link
    return find_target(current_app.extensions["catalog"], link.target if link else "")


@bp.get("/roster")
def page() -> str:
    visit = _coordinator_visit()
    session = db.get_session()
    members, problem = _platform_members(visit)
    target = _target(visit)
    return render_template(
        "roster/page.html",
        visit=visit,
        role_label=ROLE_LABELS[visit.role],
        target=target,
        rows=roster_rows(session, visit.context, members, target, visit.resource_link),
        roster_problem=problem,
        failures=failed_deliveries(session, visit.context),
        csrf_token=csrf_token(visit),
    )


@bp.post("/roster/retry")
def retry() -> Response:
    visit = _coordinator_visit()
    check_csrf(visit)
    session = db.get_session()
    count = retry_failed(session, visit.context.id)
    session.commit()
    log.info("scores retried context=%s rows=%s", visit.context.id, count)
    return redirect(url_for("roster.page"), code=303)


@bp.post("/roster/resend")
def resend() -> Response:
    visit = _coordinator_visit()
    check_csrf(visit)
    target = _target(visit)
    if target is None or visit.resource_link is None:
        raise NotPermitted("this link does not open a program or module yet")
    session = db.get_session()
    users = participants_with_hours(session, visit.context, target.program.id)
    mark_link_due(session, visit.resource_link, users)
    session.commit()
    log.info("scores resent context=%s rows=%s", visit.context.id, len(users))
    return redirect(url_for("roster.page"), code=303)


def _platform_members(visit: Visit) -> tuple[list[Member] | None, str | None]:
    """The platform's roster, or None and a sentence saying why it is missing."""
    nrps = visit.session.claims.get("nrps")
    url = nrps.get("context_memberships_url") if isinstance(nrps, dict) else None
    url = url or find_memberships_url(db.get_session(), visit.context.id)
    if not url:
        return None, "Your learning platform does not share its course roster."
    registration = visit.context.deployment.registration
    client = ServiceClient(
        access_tokens(),
        service_http(),
        ServiceAccount.of(registration),
        (NRPS_SCOPE,),
        "nrps",
    )
    try:
        return fetch_members(client, str(url)), None
    except PlatformServiceError as failure:
        # Only a code and the status: the answer may come from a host the
        # coordinator should not be shown, and the log has the details.
        return None, f"The roster could not be read ({failure.summary()})."
