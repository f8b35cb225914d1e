"""What every view of participant work needs: keys, rules, access checks."""

from __future__ import annotations

import logging
from typing import Any, Protocol, TypeVar

from flask import abort, current_app, g, render_template

from lti_tool import db
from lti_tool.content.model import Activity, Program
from lti_tool.hours.rules import CreditRules
from lti_tool.launches import Visit
from lti_tool.lti.errors import NotPermitted
from lti_tool.web.program import ROLE_LABELS, csrf_token
from lti_tool.web.work import bp
from lti_tool.work.crypto import DataCipher, DataKeyMissing, DataKeys

log = logging.getLogger(__name__)


class OwnedItem(Protocol):
    user_id: int
    context_pk: int


Item = TypeVar("Item", bound=OwnedItem)


def cipher() -> DataCipher:
    """The data cipher of this process, loaded on first use."""
    keys = current_app.extensions.get("data_keys")
    if keys is None:
        keys = DataKeys(current_app.config["SETTINGS"].keys_dir)
        current_app.extensions["data_keys"] = keys
    return keys.cipher()


def rules() -> CreditRules:
    return CreditRules.from_settings(current_app.config["SETTINGS"])


def program_activity(program_id: str, activity_id: str) -> tuple[Program, Activity]:
    """The program and activity an item was made for; 404 once gone from content."""
    program = current_app.extensions["catalog"].programs.get(program_id)
    activity = program.find_activity(activity_id) if program else None
    if program is None or activity is None:
        abort(404)
    return program, activity


def activity_title(program_id: str, activity_id: str) -> str:
    program = current_app.extensions["catalog"].programs.get(program_id)
    activity = program.find_activity(activity_id) if program else None
    return activity.title if activity else activity_id


def require_coordinator(visit: Visit) -> None:
    if not visit.is_coordinator:
        raise NotPermitted("only a coordinator of this course can do this")


def own(visit: Visit, item: Item | None) -> Item:
    """The participant's own item in this course; 404 for anything else."""
    if (
        item is None
        or item.context_pk != visit.context.id
        or item.user_id != visit.user.id
    ):
        abort(404)
    return item


def coordinated(visit: Visit, item: Item | None) -> Item:
    """An item of the coordinator's own course; 403 for learners, else 404."""
    require_coordinator(visit)
    if item is None or item.context_pk != visit.context.id:
        abort(404)
    return item


def visible(visit: Visit, item: Item | None) -> Item:
    """The author's own item, or any item of a coordinator's course."""
    return coordinated(visit, item) if visit.is_coordinator else own(visit, item)


def page(visit: Visit, **values: Any) -> dict[str, Any]:
    """What every work page template gets besides its own values."""
    return {
        "visit": visit,
        "role_label": ROLE_LABELS[visit.role],
        "csrf_token": csrf_token(visit),
        "session_token": g.session_token,
        **values,
    }


def rollback() -> None:
    db.get_session().rollback()


@bp.app_errorhandler(DataKeyMissing)
def _data_key_missing(error: DataKeyMissing) -> tuple[str, int]:
    rollback()
    log.error("config problem=data_key_missing detail=%s", error)
    body = render_template(
        "error.html",
        title="Written work cannot be opened right now",
        advice="Nothing you did caused this. Please try again later.",
        detail="",
        reason="data_key_missing",
    )
    return body, 500
