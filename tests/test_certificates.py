"""Issuing, reissuing and revoking certificates; what the PDF and HTML show."""

from __future__ import annotations

import io
import re
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
import segno
from pypdf import PdfReader
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from lti_tool import create_app
from lti_tool.certificates.document import TEMPLATE_VERSION
from lti_tool.certificates.numbers import (
    ALPHABET,
    RANDOM_CHARACTERS,
    canonical,
    new_number,
)
from lti_tool.certificates.pdf import render_pdf
from lti_tool.certificates.service import (
    InvalidAction,
    InvalidName,
    Issuer,
    NameNeeded,
    NotComplete,
    NotConfigured,
    clean_legal_name,
    confirm_legal_name,
    correct_legal_name,
    document_for,
    hours_lines,
    issue_certificate,
    revoke,
    verify,
)
from lti_tool.hours.ledger import Participant, correct
from lti_tool.hours.rules import CreditRules
from lti_tool.models import (
    Certificate,
    CertificateSignature,
    Context,
    Deployment,
    LegalName,
    Registration,
    User,
)
from lti_tool.settings import load_settings
from tests.certificate_helpers import (
    CERTIFICATE_SETTINGS,
    LEGAL_NAME,
    LMS_NAME,
    certificates,
    claim,
    complete_program,
    csrf_for,
    csrf_of,
    launch_coordinator,
    launch_learner,
    pdf_text,
    session_token,
    visible_text,
)
from tests.conftest import TOOL_URL
from tests.platform import INSTRUCTOR, LTI
from tests.programs import tiny_program

A4 = (595.28, 841.89)
LETTER = (612.0, 792.0)


@pytest.fixture
def app(database_url, keys_dir):  # type: ignore[no-untyped-def]
    """The tool with its certificate settings filled in."""
    return create_app(
        {
            "database_url": database_url,
            "keys_dir": keys_dir,
            "base_url": TOOL_URL,
            "secret_key": "test-secret",
            "redis_url": "",
            **CERTIFICATE_SETTINGS,
        }
    )


@pytest.fixture
def issuer() -> Issuer:
    return Issuer.from_settings(load_settings(CERTIFICATE_SETTINGS))


@pytest.fixture
def session(engine):  # type: ignore[no-untyped-def]
    with Session(engine) as db_session:
        yield db_session


@pytest.fixture
def who(session) -> Participant:  # type: ignore[no-untyped-def]
    registration = Registration(
        issuer="https://lms.example.edu",
        client_id="c",
        auth_login_url="https://lms.example.edu/a",
        auth_token_url="https://lms.example.edu/t",
        key_set_url="https://lms.example.edu/k",
    )
    deployment = Deployment(deployment_id="d")
    registration.deployments.append(deployment)
    user = User(issuer=registration.issuer, sub="s1", name="P")
    session.add_all([registration, user])
    session.flush()
    context = Context(deployment_pk=deployment.id, context_id="c1")
    session.add(context)
    session.commit()
    return Participant(user.id, context.id)


def finish_tiny(session, who) -> None:  # type: ignore[no-untyped-def]
    """Credit the whole tiny program through a correction and record completion."""
    program = tiny_program()
    correct(
        session,
        who,
        program,
        activity=None,
        category="online",
        minutes=program.requirements["online"],
        reason="done",
        by_user_id=who.user_id,
        rules=CreditRules(),
        now=datetime(2026, 3, 2, 18, 0, tzinfo=UTC),
    )


# ------------------------------------------------------------------ issuing


def test_issue_refuses_a_program_that_is_not_complete(session, who, issuer):
    confirm_legal_name(session, who, LEGAL_NAME)
    with pytest.raises(NotComplete):
        issue_certificate(session, issuer, who, tiny_program())
    assert session.scalar(select(func.count()).select_from(Certificate)) == 0


def test_issue_needs_a_confirmed_legal_name(session, who, issuer):
    finish_tiny(session, who)
    with pytest.raises(NameNeeded):
        issue_certificate(session, issuer, who, tiny_program())


def test_issue_needs_a_configured_signer(session, who):
    finish_tiny(session, who)
    confirm_legal_name(session, who, LEGAL_NAME)
    unsigned = Issuer.from_settings(load_settings({"certificate_signer_name": ""}))
    with pytest.raises(NotConfigured):
        issue_certificate(session, unsigned, who, tiny_program())


def test_issue_copies_the_facts_and_is_idempotent(session, who, issuer):
    program = tiny_program()
    finish_tiny(session, who)
    confirm_legal_name(session, who, "  Alexandra   Rivera  ")
    now = datetime(2026, 3, 3, 17, 0, tzinfo=UTC)

    first = issue_certificate(session, issuer, who, program, now=now)
    again = issue_certificate(session, issuer, who, program)

    assert again.id == first.id
    assert session.scalar(select(func.count()).select_from(Certificate)) == 1
    assert first.legal_name == "Alexandra Rivera"
    assert first.program_title == program.title
    assert first.program_version == program.version
    assert first.provider_name == CERTIFICATE_SETTINGS["provider_name"]
    assert first.provider_approval_id == "TP-2026-017"
    assert first.signer_name == "Dana Whitfield"
    assert first.template_version == TEMPLATE_VERSION
    assert first.started_on == date(2026, 3, 2)
    assert first.completed_on == date(2026, 3, 2)
    assert first.hours_lines == [{"label": "Course hours", "minutes": 135}]
    assert first.competency_statement == (
        "The course covered all 2 competencies required for this program."
    )
    assert first.retain_until == date(2033, 3, 3)
    assert re.fullmatch(r"TINY(-[0-9A-HJKMNP-TV-Z]{5}){4}", first.number)


def test_retention_follows_the_setting(session, who):
    finish_tiny(session, who)
    confirm_legal_name(session, who, LEGAL_NAME)
    settings = load_settings(
        {**CERTIFICATE_SETTINGS, "certificate_retention_years": 10}
    )
    certificate = issue_certificate(
        session,
        Issuer.from_settings(settings),
        who,
        tiny_program(),
        now=datetime(2028, 2, 29, 20, 0, tzinfo=UTC),
    )
    assert certificate.retain_until == date(2038, 2, 28)


def test_pss_prints_the_internship_on_its_own_line(app):
    pss = app.extensions["catalog"].program("pss")
    pcfm = app.extensions["catalog"].program("pcfm")
    assert hours_lines(pss) == [
        {"label": "Course hours", "minutes": 80 * 60},
        {"label": "Supervised internship (in addition to the course)", "minutes": 1200},
    ]
    assert hours_lines(pcfm) == [{"label": "Course hours", "minutes": 40 * 60}]


@pytest.mark.parametrize(
    "raw", ["", "   ", "1234", "Ann\u0000Lee", "山田 太郎", "x" * 201]
)
def test_names_that_cannot_be_printed_are_refused(raw):
    with pytest.raises(InvalidName):
        clean_legal_name(raw)


def test_names_are_tidied_not_changed():
    assert clean_legal_name(" Siobhán  Ní\tBhriain ") == "Siobhán Ní Bhriain"
    assert clean_legal_name("Zoë O'Connor-Díaz") == "Zoë O'Connor-Díaz"


def test_numbers_are_long_random_and_forgiving_to_type():
    numbers = {new_number("pss") for _ in range(2000)}
    assert len(numbers) == 2000
    body = "".join(n.removeprefix("PSS-").replace("-", "") for n in numbers)
    assert set(body) == set(ALPHABET)
    assert all(len(n.replace("-", "")) == 3 + RANDOM_CHARACTERS for n in numbers)

    number = "PSS-7K2QD-M9XRT-0B4NF-H6WZ1"
    assert canonical(" pss 7k2qd m9xrt ob4nf h6wzl ") == number
    assert canonical("PSS7K2QDM9XRT0B4NFH6WZI") == number
    assert canonical("Alexandra Rivera") != number


# ------------------------------------------------------------ participant flow


def test_claim_is_refused_until_the_program_is_complete(client, launcher, engine):
    token = launch_learner(launcher)
    page = client.get("/certificates", query_string={"ls": token})
    overview = client.get("/program", query_string={"ls": token})

    assert page.status_code == 200
    assert "becomes available once you have completed" in page.text
    assert "/certificates?ls=" not in overview.text
    refused = client.post(
        "/certificates/claim",
        data={
            "ls": token,
            "csrf_token": csrf_for(token),
            "legal_name": LEGAL_NAME,
            "confirm": "yes",
        },
    )
    assert refused.status_code == 409
    assert certificates(engine) == []


def test_participant_confirms_the_name_then_gets_a_certificate(
    app, client, launcher, engine
):
    token = launch_learner(launcher)
    complete_program(app, engine)

    overview = client.get("/program", query_string={"ls": token})
    assert f'href="/certificates?ls={token}"' in overview.text
    form = client.get("/certificates", query_string={"ls": token})
    assert f'value="{LMS_NAME}"' in form.text
    review = client.post(
        "/certificates/name",
        data={"ls": token, "csrf_token": csrf_of(form.text), "legal_name": LEGAL_NAME},
    )
    assert LEGAL_NAME in visible_text(review.text)
    assert certificates(engine) == []

    number = claim(client, token)
    [certificate] = certificates(engine)
    assert certificate.number == number
    assert certificate.legal_name == LEGAL_NAME
    with Session(engine) as session:
        legal = session.scalars(select(LegalName)).one()
    assert legal.name == LEGAL_NAME and legal.corrected_by_user_id is None


def test_claim_without_confirming_the_name_issues_nothing(
    app, client, launcher, engine
):
    token = launch_learner(launcher)
    complete_program(app, engine)
    page = client.get("/certificates", query_string={"ls": token})

    response = client.post(
        "/certificates/claim",
        data={"ls": token, "csrf_token": csrf_of(page.text), "legal_name": "X Y"},
    )
    missing_csrf = client.post(
        "/certificates/claim",
        data={"ls": token, "legal_name": "X Y", "confirm": "yes"},
    )
    assert response.status_code == 422
    assert missing_csrf.status_code == 403
    assert certificates(engine) == []


def test_a_confirmed_name_cannot_be_changed_by_the_participant(
    app, client, launcher, engine
):
    token = launch_learner(launcher)
    complete_program(app, engine)
    claim(client, token)

    again = client.post(
        "/certificates/claim",
        data={
            "ls": token,
            "csrf_token": csrf_for(token),
            "legal_name": "Somebody Else",
            "confirm": "yes",
        },
    )
    assert again.status_code == 303
    assert [c.legal_name for c in certificates(engine)] == [LEGAL_NAME]


def test_unknown_names_in_the_form_are_sent_back(app, client, launcher, engine):
    token = launch_learner(launcher)
    complete_program(app, engine)
    page = client.get("/certificates", query_string={"ls": token})

    response = client.post(
        "/certificates/name",
        data={"ls": token, "csrf_token": csrf_of(page.text), "legal_name": "12345"},
    )
    assert response.status_code == 422
    assert "Enter your full legal name" in response.text


def test_certificates_are_not_offered_without_a_signer(
    database_url, keys_dir, launcher, engine
):
    app = create_app(
        {
            "database_url": database_url,
            "keys_dir": keys_dir,
            "base_url": TOOL_URL,
            "secret_key": "test-secret",
            "redis_url": "",
        }
    )
    launcher.client = app.test_client()
    token = launch_learner(launcher)
    complete_program(app, engine)
    page = launcher.client.get("/certificates", query_string={"ls": token})
    csrf = csrf_of(page.text)

    response = launcher.client.post(
        "/certificates/claim",
        data={
            "ls": token,
            "csrf_token": csrf,
            "legal_name": LEGAL_NAME,
            "confirm": "yes",
        },
    )
    assert response.status_code == 503
    assert "not set up yet" in response.text
    assert certificates(engine) == []


# ---------------------------------------------------------- what is printed


def expected_lines(number: str) -> list[str]:
    """Every fact a PSS certificate must carry, as the reader sees each line."""
    today = datetime.now(UTC).astimezone(ZoneInfo("America/Los_Angeles")).date()
    when = f"{today:%B} {today.day}, {today.year}"
    return [
        "Lutheran Social Services of Southern California",
        "Approved training provider, approval no. TP-2026-017",
        "Certificate of Completion",
        "This certifies that",
        LEGAL_NAME,
        "has completed",
        "Medi-Cal Peer Support Specialist Training",
        "Course hours: 80 hours",
        "Supervised internship (in addition to the course): 20 hours",
        "The course covered all 17 competencies required for this program.",
        f"Course started: {when}",
        f"Course completed: {when}",
        f"Certificate issued: {when}",
        "Dana Whitfield",
        "Director of Training",
        f"Certificate number: {number}",
        "Check this certificate at:",
        f"{TOOL_URL}/verify/{number}",
        f"Certificate design {TEMPLATE_VERSION}",
    ]


@pytest.fixture
def issued(app, client, launcher, engine):  # type: ignore[no-untyped-def]
    """A learner with a PSS certificate: (session token, number)."""
    token = launch_learner(launcher)
    complete_program(app, engine)
    return token, claim(client, token)


@pytest.mark.parametrize(("paper", "size"), [("a4", A4), ("letter", LETTER)])
def test_pdf_prints_every_field_on_the_chosen_paper(client, issued, paper, size):
    token, number = issued
    response = client.get(
        f"/certificates/{number}.pdf", query_string={"ls": token, "paper": paper}
    )

    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert (
        f"certificate-{number}-{paper}.pdf" in response.headers["Content-Disposition"]
    )
    lines = pdf_text(response.data).splitlines()
    assert lines == expected_lines(number)
    page = PdfReader(io.BytesIO(response.data)).pages[0]
    assert (float(page.mediabox.width), float(page.mediabox.height)) == size


def test_pdf_passes_a_pdfa_style_check(client, issued):
    token, number = issued
    data = client.get(f"/certificates/{number}.pdf", query_string={"ls": token}).data
    reader = PdfReader(io.BytesIO(data))

    fonts = reader.pages[0]["/Resources"]["/Font"]
    assert len(fonts) == 2
    for reference in fonts.values():
        font = reference.get_object()
        descendant = font["/DescendantFonts"][0].get_object()
        descriptor = descendant["/FontDescriptor"].get_object()
        assert "/FontFile2" in descriptor, font["/BaseFont"]
        assert "/ToUnicode" in font, font["/BaseFont"]
        assert "DejaVuSans" in font["/BaseFont"]
    metadata = reader.trailer["/Root"]["/Metadata"].get_object().get_data()
    assert b"<pdfaid:part>2</pdfaid:part>" in metadata
    assert b"<pdfaid:conformance>U</pdfaid:conformance>" in metadata
    assert "/OutputIntents" in reader.trailer["/Root"]
    # The person's name is in the text, never in the document's metadata.
    assert LEGAL_NAME.encode() not in metadata
    assert number in str(reader.metadata or "") or number.encode() in metadata


def test_html_view_shows_the_same_fields(client, issued):
    token, number = issued
    page = client.get(f"/certificates/{number}/view", query_string={"ls": token})

    assert page.status_code == 200
    text = visible_text(page.text)
    for line in expected_lines(number):
        assert line in text, line
    assert "Valid certificate" in text
    assert 'alt="QR code linking to the verification page"' in page.text
    assert '<img src="data:image/svg+xml' in page.text
    assert f'href="{TOOL_URL}/verify/{number}" target="_blank"' in page.text


def test_certificate_pages_are_the_owners_and_the_coordinators(
    client, launcher, issued
):
    _, number = issued
    other = launch_learner(launcher, sub="learner-2")
    coordinator = launch_coordinator(launcher)

    for path in (f"/certificates/{number}.pdf", f"/certificates/{number}/view"):
        assert client.get(path, query_string={"ls": other}).status_code == 403
        assert client.get(path).status_code == 401
        assert client.get(path, query_string={"ls": coordinator}).status_code == 200


def test_signature_image_is_kept_with_the_certificate(
    database_url, keys_dir, launcher, engine, tmp_path
):
    image = tmp_path / "signature.png"
    segno.make("a stand-in for a signature").save(image, kind="png", scale=4)
    app = create_app(
        {
            "database_url": database_url,
            "keys_dir": keys_dir,
            "base_url": TOOL_URL,
            "secret_key": "test-secret",
            "redis_url": "",
            **CERTIFICATE_SETTINGS,
            "certificate_signature_image": str(image),
        }
    )
    launcher.client = app.test_client()
    token = launch_learner(launcher)
    complete_program(app, engine)
    number = claim(launcher.client, token)
    image.write_bytes(b"replaced by something else")

    data = launcher.client.get(
        f"/certificates/{number}.pdf", query_string={"ls": token}
    ).data
    page = PdfReader(io.BytesIO(data)).pages[0]
    assert len(page.images) == 2  # the QR code and the signature
    view = launcher.client.get(
        f"/certificates/{number}/view", query_string={"ls": token}
    )
    assert 'alt="Signature of Dana Whitfield"' in view.text
    with Session(engine) as session:
        [stored] = session.scalars(select(CertificateSignature)).all()
        assert stored.media_type == "image/png"
        assert certificates(engine)[0].signature_digest == stored.digest


def test_every_design_version_stays_renderable(session, who, issuer):
    finish_tiny(session, who)
    confirm_legal_name(session, who, LEGAL_NAME)
    certificate = issue_certificate(session, issuer, who, tiny_program())
    document = document_for(session, issuer, certificate)

    assert pdf_text(render_pdf(document)).count(LEGAL_NAME) == 1
    certificate.template_version = "1999.1"
    with pytest.raises(ValueError, match="no design"):
        render_pdf(document_for(session, issuer, certificate))


# ------------------------------------------------- corrections and revocation


def manage_csrf(client, token: str, number: str) -> str:  # type: ignore[no-untyped-def]
    page = client.get(f"/certificates/course/{number}", query_string={"ls": token})
    assert page.status_code == 200, page.text
    return csrf_of(page.text)


def test_coordinator_corrects_the_name_and_a_duplicate_is_issued(
    client, launcher, engine, issued
):
    learner, number = issued
    coordinator = launch_coordinator(launcher)
    listing = client.get("/certificates/course", query_string={"ls": coordinator})
    assert number in listing.text and LEGAL_NAME in visible_text(listing.text)

    response = client.post(
        f"/certificates/course/{number}/name",
        data={
            "ls": coordinator,
            "csrf_token": manage_csrf(client, coordinator, number),
            "legal_name": "Alexandra María Rivera-Soto",
        },
    )

    assert response.status_code == 303
    old, new = certificates(engine)
    assert old.number == number and old.legal_name == LEGAL_NAME
    assert new.duplicate_of_id == old.id
    assert new.legal_name == "Alexandra María Rivera-Soto"
    assert new.number != number and new.number in response.headers["Location"]
    assert (new.started_on, new.completed_on) == (old.started_on, old.completed_on)
    assert new.hours_lines == old.hours_lines
    with Session(engine) as session:
        legal = session.scalars(select(LegalName)).one()
        coordinator_id = session.scalars(
            select(User.id).filter_by(sub="coordinator-1")
        ).one()
    assert legal.name == new.legal_name
    assert legal.corrected_by_user_id == coordinator_id

    pdf = client.get(f"/certificates/{new.number}.pdf", query_string={"ls": learner})
    assert f"Duplicate of certificate {number}" in pdf_text(pdf.data)
    mine = client.get("/certificates", query_string={"ls": learner})
    assert new.number in mine.text and number not in mine.text
    with Session(engine) as session:
        assert verify(session, number).status == "superseded"
        assert verify(session, new.number).status == "valid"


def test_a_superseded_or_revoked_certificate_is_not_reissued(session, who, issuer):
    finish_tiny(session, who)
    confirm_legal_name(session, who, LEGAL_NAME)
    first = issue_certificate(session, issuer, who, tiny_program())
    second = correct_legal_name(session, issuer, first, "Alexandra Rivera", who.user_id)

    with pytest.raises(InvalidAction):
        correct_legal_name(session, issuer, first, "Someone Else", who.user_id)
    with pytest.raises(InvalidName):
        correct_legal_name(session, issuer, second, "Alexandra Rivera", who.user_id)
    revoke(session, second, who.user_id, "issued in error")
    with pytest.raises(InvalidAction):
        correct_legal_name(session, issuer, second, "Someone Else", who.user_id)
    assert session.scalar(select(func.count()).select_from(Certificate)) == 2


def test_revoking_needs_a_reason_and_keeps_the_record(client, launcher, engine, issued):
    learner, number = issued
    coordinator = launch_coordinator(launcher)
    csrf = manage_csrf(client, coordinator, number)

    no_reason = client.post(
        f"/certificates/course/{number}/revoke",
        data={"ls": coordinator, "csrf_token": csrf, "reason": "   "},
    )
    assert no_reason.status_code == 422
    assert certificates(engine)[0].revoked_at is None

    revoked = client.post(
        f"/certificates/course/{number}/revoke",
        data={
            "ls": coordinator,
            "csrf_token": csrf,
            "reason": "Hours were entered twice",
        },
    )
    assert revoked.status_code == 303
    [certificate] = certificates(engine)
    assert certificate.revoked_at is not None
    assert certificate.revoke_reason == "Hours were entered twice"
    assert certificate.revoked_by_user_id is not None
    again = client.post(
        f"/certificates/course/{number}/revoke",
        data={"ls": coordinator, "csrf_token": csrf, "reason": "twice"},
    )
    assert again.status_code == 422
    mine = client.get("/certificates", query_string={"ls": learner})
    assert "This certificate was revoked" in mine.text


def test_participants_cannot_manage_certificates(client, issued):
    learner, number = issued
    for path in (
        "/certificates/course",
        f"/certificates/course/{number}",
    ):
        assert client.get(path, query_string={"ls": learner}).status_code == 403
    for action, field in (("name", "legal_name"), ("revoke", "reason")):
        response = client.post(
            f"/certificates/course/{number}/{action}",
            data={"ls": learner, "csrf_token": csrf_for(learner), field: "X Y"},
        )
        assert response.status_code == 403


def test_coordinator_forms_need_the_csrf_token(client, launcher, engine, issued):
    _, number = issued
    coordinator = launch_coordinator(launcher)
    for action, field in (("name", "legal_name"), ("revoke", "reason")):
        response = client.post(
            f"/certificates/course/{number}/{action}",
            data={"ls": coordinator, field: "Someone Else"},
        )
        assert response.status_code == 403
    [certificate] = certificates(engine)
    assert certificate.revoked_at is None and certificate.legal_name == LEGAL_NAME


def test_coordinators_see_only_their_own_course(client, launcher, issued):
    _, number = issued
    elsewhere = launcher.launch_as(
        sub="coordinator-2",
        **{
            LTI + "roles": [INSTRUCTOR],
            LTI + "context": {"id": "course-2", "title": "Other", "label": "O"},
        },
    )
    token = session_token(elsewhere)
    listing = client.get("/certificates/course", query_string={"ls": token})

    assert listing.status_code == 200 and number not in listing.text
    manage = client.get(f"/certificates/course/{number}", query_string={"ls": token})
    assert manage.status_code == 403


def test_certificates_outlive_attempts_to_delete_their_people(app, issued):
    engine = app.extensions["db_engine"]  # the tool's engine enforces foreign keys
    for table in (User, Context):
        with pytest.raises(IntegrityError), engine.begin() as connection:
            connection.execute(delete(table))
    [certificate] = certificates(engine)
    assert certificate.retain_until.year == certificate.issued_at.year + 7
