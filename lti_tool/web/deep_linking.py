"""The deep-linking picker: a coordinator places programs and modules in a course."""

from __future__ import annotations

import logging

from flask import Blueprint, current_app, render_template, request

from lti_tool.launches import Visit
from lti_tool.lti.errors import NotPermitted
from lti_tool.services.deep_linking import DeepLinkingSettings, response_jwt
from lti_tool.services.targets import Target, find_target
from lti_tool.web.program import ROLE_LABELS, check_csrf, csrf_token, current_visit

log = logging.getLogger(__name__)
bp = Blueprint("deep_linking", __name__)


def _coordinator_settings(visit: Visit) -> DeepLinkingSettings:
    if not visit.is_coordinator:
        raise NotPermitted("only a coordinator can add the training to a course")
    settings = DeepLinkingSettings.from_claim(visit.session.claims.get("deep_linking"))
    if settings is None:
        raise NotPermitted("this page opens from the platform's content picker")
    return settings


@bp.get("/deep-linking")
def picker() -> str:
    visit = current_visit()
    settings = _coordinator_settings(visit)
    return render_template(
        "deep_linking/picker.html",
        visit=visit,
        role_label=ROLE_LABELS[visit.role],
        settings=settings,
        programs=list(current_app.extensions["catalog"].programs.values()),
        csrf_token=csrf_token(visit),
    )


@bp.post("/deep-linking")
def respond() -> str:
    visit = current_visit()
    check_csrf(visit)
    settings = _coordinator_settings(visit)
    targets = [] if "cancel" in request.form else _chosen_targets(settings)

    deployment = visit.context.deployment
    token = response_jwt(
        deployment.registration,
        deployment.deployment_id,
        settings,
        targets,
        current_app.extensions["key_ring"].current(),
        current_app.config["SETTINGS"].base_url,
    )
    log.info(
        "deep linking answered registration=%s deployment=%s context=%s items=%s",
        deployment.registration_id,
        deployment.id,
        visit.context.id,
        len(targets),
    )
    return render_template(
        "deep_linking/return.html", return_url=settings.return_url, token=token
    )


def _chosen_targets(settings: DeepLinkingSettings) -> list[Target]:
    catalog = current_app.extensions["catalog"]
    chosen: list[Target] = []
    for value in dict.fromkeys(request.form.getlist("target")):
        target = find_target(catalog, value)
        if target is None:
            raise NotPermitted("that program or module does not exist")
        chosen.append(target)
    if not chosen:
        raise NotPermitted("choose at least one program or module, or cancel")
    if len(chosen) > 1 and not settings.accept_multiple:
        raise NotPermitted("your platform accepts one program or module at a time")
    if not settings.accepts_links:
        raise NotPermitted("your platform does not accept links from this picker")
    return chosen
