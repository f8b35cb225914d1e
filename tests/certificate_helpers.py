"""Shared steps for the certificate tests: settings, completing, claiming, reading."""

from __future__ import annotations

import hmac
import html
import io
import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

from flask import Flask
from flask.testing import FlaskClient
from pypdf import PdfReader
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from lti_tool.hours.ledger import Participant, correct
from lti_tool.hours.rules import CreditRules
from lti_tool.launches import token_digest
from lti_tool.models import Certificate, Context, User
from tests.platform import INSTRUCTOR, LTI

CERTIFICATE_SETTINGS = {
    "provider_name": "Lutheran Social Services of Southern California",
    "provider_approval_id": "TP-2026-017",
    "certificate_signer_name": "Dana Whitfield",
    "certificate_signer_title": "Director of Training",
}
LEARNER_SUB = "learner-1"
LMS_NAME = "Alex Rivera"
LEGAL_NAME = "Alexandra María Rivera Soto"


def session_token(response: Any) -> str:
    return parse_qs(urlsplit(response.headers["Location"]).query)["ls"][0]


def launch_learner(launcher: Any, sub: str = LEARNER_SUB) -> str:
    response = launcher.launch_as(sub=sub, name=LMS_NAME)
    assert response.status_code == 303, response.text
    return session_token(response)


def launch_coordinator(launcher: Any, sub: str = "coordinator-1") -> str:
    response = launcher.launch_as(
        sub=sub, name="Jordan Lee", **{LTI + "roles": [INSTRUCTOR]}
    )
    assert response.status_code == 303, response.text
    return session_token(response)


def participant_of(engine: Engine, sub: str = LEARNER_SUB) -> Participant:
    with Session(engine) as session:
        user = session.scalars(select(User).filter_by(sub=sub)).one()
        context = session.scalars(select(Context)).one()
        return Participant(user.id, context.id)


def complete_program(
    app: Flask, engine: Engine, sub: str = LEARNER_SUB, program_id: str = "pss"
) -> Participant:
    """Credit every required category in full through the ledger's corrections."""
    program = app.extensions["catalog"].program(program_id)
    who = participant_of(engine, sub)
    with Session(engine) as session:
        for category, minutes in program.requirements.items():
            correct(
                session,
                who,
                program,
                activity=None,
                category=category,
                minutes=minutes,
                reason="completed in the test",
                by_user_id=who.user_id,
                rules=CreditRules(),
            )
        session.commit()
    return who


def csrf_for(token: str, secret: str = "test-secret") -> str:
    """The form token the tool issues for a launch session (for pages without forms)."""
    return hmac.new(secret.encode(), token_digest(token).encode(), "sha256").hexdigest()


def csrf_of(page_html: str) -> str:
    return page_html.split('name="csrf_token" value="')[1].split('"')[0]


def claim(client: FlaskClient, token: str, name: str = LEGAL_NAME) -> str:
    """Confirm a legal name and claim; returns the number shown afterwards."""
    page = client.get("/certificates", query_string={"ls": token})
    csrf = csrf_of(page.text)
    review = client.post(
        "/certificates/name",
        data={"ls": token, "csrf_token": csrf, "legal_name": name},
    )
    assert review.status_code == 200, review.text
    issued = client.post(
        "/certificates/claim",
        data={"ls": token, "csrf_token": csrf, "legal_name": name, "confirm": "yes"},
    )
    assert issued.status_code == 303, issued.text
    mine = client.get(issued.headers["Location"])
    found = re.search(r'class="number">([A-Z0-9-]+)<', mine.text)
    assert found, mine.text
    return found.group(1)


def certificates(engine: Engine) -> list[Certificate]:
    with Session(engine) as session:
        return list(session.scalars(select(Certificate).order_by(Certificate.id)))


def visible_text(page_html: str) -> str:
    """The words a reader sees: tags dropped, entities decoded, spaces collapsed."""
    without_tags = re.sub(r"<[^>]+>", " ", page_html)
    return " ".join(html.unescape(without_tags).split())


def pdf_text(data: bytes) -> str:
    reader = PdfReader(io.BytesIO(data))
    return "\n".join(page.extract_text() for page in reader.pages)
