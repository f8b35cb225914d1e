"""Helpers for the tests of participant work: launches, form tokens, the data key.

A test module imports `data_key_fixture` so its tests run with a data key in
the keys folder the app uses.
"""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask
from sqlalchemy import Engine, func, select

from lti_tool.launches import token_digest
from lti_tool.work.crypto import generate_data_key
from tests.platform import INSTRUCTOR, LEARNER, LTI


@pytest.fixture(autouse=True, name="data_key")
def data_key_fixture(keys_dir: Path) -> Path:
    generate_data_key(keys_dir)
    return keys_dir


def launch(
    launcher: Any,
    *,
    coordinator: bool = False,
    target: str = "pss",
    context: str = "course-1",
    sub: str | None = None,
    name: str = "Alex Rivera",
) -> str:
    """Launch a new person (or `sub`) and return their session token."""
    claims: dict[str, Any] = {
        LTI + "roles": [INSTRUCTOR if coordinator else LEARNER],
        LTI + "custom": {"target": target},
        LTI + "context": {"id": context, "title": f"Cohort {context}"},
        "name": name,
    }
    if sub:
        claims["sub"] = sub
    response = launcher.launch_as(**claims)
    assert response.status_code == 303, response.text
    return parse_qs(urlsplit(response.headers["Location"]).query)["ls"][0]


def csrf(app: Flask, token: str) -> str:
    """The form token the tool issues for this launch session."""
    key = str(app.secret_key).encode()
    return hmac.new(key, token_digest(token).encode(), hashlib.sha256).hexdigest()


def form(app: Flask, token: str, **fields: Any) -> dict[str, Any]:
    return {"ls": token, "csrf_token": csrf(app, token), **fields}


def count(engine: Engine, model: Any, **where: Any) -> int:
    with engine.connect() as connection:
        query = select(func.count()).select_from(model).filter_by(**where)
        return int(connection.scalar(query) or 0)


def ledger_minutes(engine: Engine, **where: Any) -> int:
    from lti_tool.models import HoursEntry

    with engine.connect() as connection:
        query = select(func.coalesce(func.sum(HoursEntry.minutes), 0)).filter_by(
            **where
        )
        return int(connection.scalar(query) or 0)


def activity_of(app: Flask, program_id: str, kind: str, index: int = 0) -> Any:
    program = app.extensions["catalog"].program(program_id)
    return [a for a in program.activities() if a.kind == kind][index]


def participant_of(engine: Engine, sub: str, context: str = "course-1") -> Any:
    """The Participant (user id, context pk) a launch of `sub` recorded."""
    from lti_tool.hours.ledger import Participant
    from lti_tool.models import Context, User

    with engine.connect() as connection:
        user_id = connection.scalar(select(User.id).filter_by(sub=sub))
        context_pk = connection.scalar(select(Context.id).filter_by(context_id=context))
    assert user_id is not None and context_pk is not None
    return Participant(int(user_id), int(context_pk))


def credit_category(
    engine: Engine, app: Flask, who: Any, program_id: str, category: str, minutes: int
) -> None:
    """Give a participant `minutes` in a category through a ledger correction."""
    from sqlalchemy.orm import Session

    from lti_tool.hours.ledger import correct
    from lti_tool.hours.rules import CreditRules

    program = app.extensions["catalog"].program(program_id)
    with Session(engine) as session:
        correct(
            session,
            who,
            program,
            activity=None,
            category=category,
            minutes=minutes,
            reason="test set-up",
            by_user_id=who.user_id,
            rules=CreditRules(),
        )
        session.commit()


def today() -> Any:
    from lti_tool.hours.ledger import local_day
    from lti_tool.hours.rules import CreditRules
    from lti_tool.models.base import utcnow

    return local_day(CreditRules(), utcnow())
