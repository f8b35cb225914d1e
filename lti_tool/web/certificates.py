"""Certificate pages: claiming and downloading in the course, public verification.

Two blueprints. `certificates` lives inside the LMS frame and carries the launch
session (`ls`); `verify` is public, needs no session and refuses to be framed:
a reviewer or employer opens it from a QR code or a typed number.
"""

from __future__ import annotations

import base64
import logging
from datetime import datetime

from flask import (
    Blueprint,
    Flask,
    current_app,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from werkzeug.wrappers import Response

from lti_tool import db
from lti_tool.certificates import qr
from lti_tool.certificates.document import (
    CertificateDocument,
    hours_text,
    long_date,
)
from lti_tool.certificates.pdf import PAPERS, render_pdf
from lti_tool.certificates.service import (
    CertificateError,
    InvalidName,
    Issuer,
    NotComplete,
    NotConfigured,
    clean_legal_name,
    confirm_legal_name,
    correct_legal_name,
    current_certificate,
    document_for,
    find_completion,
    find_in_context,
    find_legal_name,
    find_replacement,
    issue_certificate,
    list_for_context,
    revoke,
    verify,
)
from lti_tool.content.model import Program
from lti_tool.launches import Visit
from lti_tool.lti.errors import NotPermitted
from lti_tool.models import Certificate
from lti_tool.ratelimit import per_minute
from lti_tool.web.program import ROLE_LABELS, check_csrf, csrf_token, current_visit
from lti_tool.web.scope import find_scope, participant

log = logging.getLogger(__name__)

bp = Blueprint("certificates", __name__)
verify_bp = Blueprint("verify", __name__)

# Look-ups by number; the empty form page is not counted.
RATE_LIMITED_ENDPOINTS = frozenset({"verify.lookup", "verify.certificate"})
MAX_REASON_FIELD = 2000


def register(app: Flask) -> None:
    """Attach both blueprints and the overview's helper."""
    app.register_blueprint(bp)
    app.register_blueprint(verify_bp)
    app.add_template_global(certificate_ready)
    app.add_template_filter(local_date)
    # fpdf2 subsets fonts with fontTools, which logs every table it touches at INFO.
    logging.getLogger("fontTools").setLevel(logging.WARNING)


def issuer() -> Issuer:
    return Issuer.from_settings(current_app.config["SETTINGS"])


def local_date(moment: datetime) -> str:
    """A stored time as the date where the program runs, written out in words."""
    return long_date(issuer().local_day(moment))


def certificate_ready(visit: Visit, program: Program) -> bool:
    """True when the participant completed the program, for the overview's link."""
    completion = find_completion(db.get_session(), participant(visit), program.id)
    return completion is not None


# ------------------------------------------------------------ participant pages


def _program(visit: Visit) -> Program:
    scope = find_scope(visit)
    if scope is None:
        raise NotPermitted("this course link does not open a program yet")
    return scope.program


@bp.get("/certificates")
def mine() -> str:
    return _render_mine()


def _render_mine(error: str = "", name: str | None = None) -> str:
    visit = current_visit()
    program = _program(visit)
    session = db.get_session()
    who = participant(visit)
    certificate = current_certificate(session, who, program.id)
    legal = find_legal_name(session, who)
    return render_template(
        "certificates/mine.html",
        visit=visit,
        role_label=ROLE_LABELS[visit.role],
        program=program,
        certificate=certificate,
        is_complete=find_completion(session, who, program.id) is not None,
        legal_name=legal.name if legal else None,
        suggested_name=visit.user.name if name is None else name,
        error=error,
        csrf_token=csrf_token(visit),
        session_token=g.session_token,
        papers=PAPERS,
    )


@bp.post("/certificates/name")
def review_name() -> tuple[str, int] | str:
    visit = current_visit()
    check_csrf(visit)
    program = _program(visit)
    raw = request.form.get("legal_name", "")
    try:
        name = clean_legal_name(raw)
    except InvalidName as problem:
        return _render_mine(str(problem), raw), 422

    return render_template(
        "certificates/review_name.html",
        visit=visit,
        role_label=ROLE_LABELS[visit.role],
        program=program,
        legal_name=name,
        csrf_token=csrf_token(visit),
        session_token=g.session_token,
    )


@bp.post("/certificates/claim")
def claim() -> Response | tuple[str, int]:
    visit = current_visit()
    check_csrf(visit)
    program = _program(visit)
    session = db.get_session()
    who = participant(visit)

    try:
        if find_legal_name(session, who) is None:
            if request.form.get("confirm") != "yes":
                raise InvalidName("Confirm that the name is your full legal name.")
            confirm_legal_name(session, who, request.form.get("legal_name", ""))
        issue_certificate(session, issuer(), who, program)
    except CertificateError as problem:
        session.rollback()
        return _render_mine(str(problem)), _status_of(problem)
    session.commit()
    return redirect(url_for("certificates.mine"), code=303)


def _status_of(problem: CertificateError) -> int:
    if isinstance(problem, NotComplete):
        return 409
    if isinstance(problem, NotConfigured):
        return 503
    return 422


def _owned(visit: Visit, number: str) -> Certificate:
    """A certificate of this course that is the visitor's, or any for a coordinator."""
    certificate = find_in_context(db.get_session(), number, visit.context.id)
    if certificate is None or not (
        certificate.user_id == visit.user.id or visit.is_coordinator
    ):
        raise NotPermitted("that certificate is not one you can open here")
    return certificate


@bp.get("/certificates/<number>/view")
def view(number: str) -> str:
    visit = current_visit()
    certificate = _owned(visit, number)
    document = _document(certificate)
    return render_template(
        "certificates/view.html",
        visit=visit,
        role_label=ROLE_LABELS[visit.role],
        certificate=certificate,
        document=document,
        verification=verify(db.get_session(), certificate.number),
        qr_uri=qr.svg_data_uri(document.verify_url),
        signature_uri=_signature_uri(document),
        papers=PAPERS,
    )


@bp.get("/certificates/<number>.pdf")
def pdf(number: str) -> Response:
    visit = current_visit()
    certificate = _owned(visit, number)
    paper = request.args.get("paper", "a4")
    if paper not in PAPERS:
        raise NotPermitted("paper must be a4 or letter")

    document = document_for(db.get_session(), issuer(), certificate)
    response = Response(render_pdf(document, paper), mimetype="application/pdf")
    response.headers["Content-Disposition"] = (
        f'attachment; filename="certificate-{certificate.number}-{paper}.pdf"'
    )
    response.headers["Cache-Control"] = "no-store"
    log.info(
        "certificate downloaded certificate=%s by=%s paper=%s",
        certificate.id,
        visit.user.id,
        paper,
    )
    return response


def _signature_uri(document: CertificateDocument) -> str | None:
    if document.signature is None:
        return None
    encoded = base64.b64encode(document.signature.data).decode()
    return f"data:{document.signature.media_type};base64,{encoded}"


# ------------------------------------------------------------ coordinator pages


def _coordinator() -> Visit:
    visit = current_visit()
    if not visit.is_coordinator:
        raise NotPermitted("only a coordinator can manage certificates")
    return visit


@bp.get("/certificates/course")
def course() -> str:
    visit = _coordinator()
    return render_template(
        "certificates/course.html",
        visit=visit,
        role_label=ROLE_LABELS[visit.role],
        entries=list_for_context(db.get_session(), visit.context.id),
    )


@bp.get("/certificates/course/<number>")
def manage(number: str) -> str:
    return _render_manage(number)


def _render_manage(number: str, error: str = "") -> str:
    visit = _coordinator()
    session = db.get_session()
    certificate = _owned(visit, number)
    original = (
        session.get(Certificate, certificate.duplicate_of_id)
        if certificate.duplicate_of_id
        else None
    )
    return render_template(
        "certificates/manage.html",
        visit=visit,
        role_label=ROLE_LABELS[visit.role],
        certificate=certificate,
        original=original,
        replacement=find_replacement(session, certificate),
        error=error,
        csrf_token=csrf_token(visit),
        session_token=g.session_token,
    )


@bp.post("/certificates/course/<number>/name")
def correct_name(number: str) -> Response | tuple[str, int]:
    visit = _coordinator()
    check_csrf(visit)
    certificate = _owned(visit, number)
    session = db.get_session()

    try:
        reissued = correct_legal_name(
            session,
            issuer(),
            certificate,
            request.form.get("legal_name", ""),
            by_user_id=visit.user.id,
        )
    except CertificateError as problem:
        session.rollback()
        return _render_manage(number, str(problem)), _status_of(problem)
    session.commit()
    return redirect(url_for("certificates.manage", number=reissued.number), code=303)


@bp.post("/certificates/course/<number>/revoke")
def revoke_certificate(number: str) -> Response | tuple[str, int]:
    visit = _coordinator()
    check_csrf(visit)
    certificate = _owned(visit, number)
    session = db.get_session()

    try:
        revoke(
            session,
            certificate,
            by_user_id=visit.user.id,
            reason=request.form.get("reason", "")[:MAX_REASON_FIELD],
        )
    except CertificateError as problem:
        session.rollback()
        return _render_manage(number, str(problem)), _status_of(problem)
    session.commit()
    return redirect(url_for("certificates.manage", number=number), code=303)


# ----------------------------------------------------------- public verification


@verify_bp.before_request
def _limit_lookups() -> tuple[str, int, dict[str, str]] | None:
    looks_up = request.endpoint in RATE_LIMITED_ENDPOINTS or (
        request.endpoint == "verify.form" and "number" in request.args
    )
    if not looks_up:
        return None
    settings = current_app.config["SETTINGS"]
    decision = per_minute(
        current_app.extensions["rate_counter"],
        "verify",
        request.remote_addr or "unknown",
        settings.verify_rate_per_minute,
    )
    if decision.allowed:
        return None
    log.warning("verify rate_limited retry_after=%s", decision.retry_after)
    page = render_template("verify/rate_limited.html", retry_after=decision.retry_after)
    return page, 429, {"Retry-After": str(decision.retry_after)}


@verify_bp.after_request
def _never_framed(response: Response) -> Response:
    # Public pages are opened on their own: no LMS may frame them.
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; script-src 'self'; style-src 'self'; "
        "img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; "
        "base-uri 'none'"
    )
    response.headers["X-Frame-Options"] = "DENY"
    return response


@verify_bp.get("/verify")
def form() -> str | tuple[str, int]:
    number = request.args.get("number", "").strip()
    if number:
        return _render_result(number)
    return render_template("verify/form.html")


@verify_bp.get("/verify/<number>")
def lookup(number: str) -> tuple[str, int]:
    return _render_result(number)


def _render_result(number: str) -> tuple[str, int]:
    """The same queries and the same template, whatever the answer."""
    verification = verify(db.get_session(), number)
    page = render_template(
        "verify/result.html",
        verification=verification,
        certificate=verification.certificate,
        lines=_public_lines(verification.certificate),
    )
    return page, 200 if verification.is_found else 404


def _public_lines(certificate: Certificate | None) -> list[tuple[str, str]]:
    """What verification tells about a person: name, program, hours and dates.

    Built from the row alone, so a found number costs no more queries than an
    unknown one.
    """
    if certificate is None:
        return []
    document = CertificateDocument.from_certificate(
        certificate,
        issued_on=issuer().local_day(certificate.issued_at),
        verify_url="",
        duplicate_of_number=None,
        signature=None,
    )
    return [
        ("Name", document.legal_name),
        ("Program", document.program_title),
        *((line.label, hours_text(line.minutes)) for line in document.hours),
        *document.dates(),
    ]


def _document(certificate: Certificate) -> CertificateDocument:
    return document_for(db.get_session(), issuer(), certificate)


@verify_bp.get("/verify/<number>/certificate")
def certificate(number: str) -> tuple[str, int]:
    verification = verify(db.get_session(), number)
    found = verification.certificate
    if found is None:
        return _render_result(number)
    document = _document(found)
    page = render_template(
        "certificates/public.html",
        certificate=found,
        document=document,
        verification=verification,
        qr_uri=qr.svg_data_uri(document.verify_url),
        signature_uri=_signature_uri(document),
    )
    return page, 200
